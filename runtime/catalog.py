"""The feature catalog: every name a policy may use, with its unit and meaning.

It is the contract between the bot and its policies. rules/ knows no feature names
of its own: the policy loader, the policy tests and `lighter-bot explain` are handed
`FEATURE_NAMES` and reject any other name with a located error. `describe_catalog`
is what `lighter-bot features` prints. runtime/features.py computes the values.
"""
from __future__ import annotations

from dataclasses import dataclass

# "Never happened" as an age: large enough that any `age > limit` rule fires, finite so
# traces and arithmetic stay ordinary numbers.
NEVER_AGE_S = 1e9


@dataclass(frozen=True, slots=True)
class Feature:
    """One name a policy can use: its unit and a one-line meaning for `lighter-bot features`."""

    name: str
    unit: str
    meaning: str


CATALOG: tuple[Feature, ...] = (
    Feature("mid", "quote", "mid of the public book's best bid and ask"),
    Feature("best_bid", "quote", "best bid of the public book"),
    Feature("best_ask", "quote", "best ask of the public book"),
    Feature("market_spread_bps", "bps", "(ask - bid) / mid of the public book"),
    Feature("book_age_s", "s", f"seconds since the last book update ({NEVER_AGE_S:g} before any)"),
    Feature("vol_bps", "bps/min", "EWMA 1-minute sigma of mid log returns (halflife maker.volatility.halflife_s)"),
    Feature("sigma_1m_bps", "bps", "realized sigma of mid log returns over the last 60 s"),
    Feature("trend_bps", "bps", "mid change over maker.trend.lookback_s (oldest sample until that much history)"),
    Feature("inventory_units", "units", "our signed position (fills, corrected by venue snapshots)"),
    Feature("inventory_frac", "1", "inventory_units / inventory.soft_cap_units (signed)"),
    Feature("inventory_notional", "quote", "inventory_units * mid (signed)"),
    Feature("unrealized_pnl", "quote", "FIFO unrealized PnL of the open position at mid"),
    Feature("realized_pnl_total", "quote", "FIFO realized PnL since start, fees deducted"),
    Feature("realized_pnl_5m", "quote", "FIFO realized PnL of fills in the last features.pnl_slice_s"),
    Feature("realized_pnl_30m", "quote", "FIFO realized PnL of fills in the last features.edge_window_s"),
    Feature("neg_pnl_slices", "count", "consecutive completed pnl_slice_s slices with realized PnL < 0"),
    Feature("fill_count", "count", "our fills since start"),
    Feature("last_fill_age_s", "s", f"seconds since our last fill ({NEVER_AGE_S:g} before any)"),
    Feature("hit_fast_frac", "1", "share of recent maker fills that came within features.hit_fast_ms of posting"),
    Feature("markout_bps", "bps", "mean markout of recent maker fills after features.markout_horizon_s (+ = ours)"),
    Feature("guard_block_s", "s", "seconds the inventory-growing side has been continuously suppressed"),
    Feature("unhedged_exposure_s", "s", "seconds |inventory_units| has continuously exceeded hedger.trigger_units"),
    Feature("uptime_s", "s", "seconds since the feature store's first tick"),
    Feature("trading_state", "enum", "risk gate state: 0 active, 1 reducing-only, 2 halted"),
    Feature("open_orders", "count", "our live orders"),
    Feature("venue_budget_frac", "1", "share of the venue's request budget left in its window (1 = all, 0 = none)"),
    Feature("size_min_units", "units", "config maker.size_min_units"),
    Feature("size_max_units", "units", "config maker.size_max_units"),
    Feature("max_position_units", "units", "config risk.max_position_units"),
    Feature("max_inventory_notional", "quote", "config risk.max_inventory_notional"),
    Feature("soft_cap_units", "units", "config inventory.soft_cap_units"),
    Feature("hedge_trigger_units", "units", "config hedger.trigger_units"),
    Feature("hedge_target_units", "units", "config hedger.target_units"),
)

FEATURE_NAMES: frozenset[str] = frozenset(feature.name for feature in CATALOG)


def describe_catalog() -> str:
    """The catalog as an aligned text table, for `lighter-bot features`."""
    header = ("name", "unit", "meaning")
    rows = [header] + [(f.name, f.unit, f.meaning) for f in CATALOG]
    name_w = max(len(r[0]) for r in rows)
    unit_w = max(len(r[1]) for r in rows)
    meaning_w = max(len(r[2]) for r in rows)
    lines = [f"{n:<{name_w}}  {u:<{unit_w}}  {m}" for n, u, m in rows]
    lines.insert(1, f"{'-' * name_w}  {'-' * unit_w}  {'-' * meaning_w}")
    return "\n".join(lines)
