"""The feature catalog: every name a policy may use, with its unit and meaning.

It is the contract between the bot and its policies. rules/ knows no feature names
of its own: the policy loader, the policy tests and `lighter-bot explain` are handed
`FEATURE_NAMES` and reject any other name with a located error. `describe_catalog`
is what `lighter-bot features` prints. runtime/features.py computes the values.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

# "Never happened" as an age: large enough that any `age > limit` rule fires, finite so
# traces and arithmetic stay ordinary numbers.
NEVER_AGE_S = 1e9


# Value ranges, used only at load time to bound what a policy expression can compute
# (rules.expr): wide enough for any market and account this bot trades, narrow enough that
# `mid * inventory_units` is accepted and `book_age_s ** 4` is not.
PRICE = (0.0, 1e7)
BPS = (-1e5, 1e5)
SECONDS = (0.0, NEVER_AGE_S)
UNITS = (-1e6, 1e6)
QUOTE = (-1e9, 1e9)
COUNT = (0.0, 1e9)
SHARE = (0.0, 1.0)


@dataclass(frozen=True, slots=True)
class Feature:
    """One name a policy can use: its unit, a one-line meaning for `lighter-bot features`, and the
    range its value stays in."""

    name: str
    unit: str
    meaning: str
    range: tuple[float, float] = QUOTE


CATALOG: tuple[Feature, ...] = (
    Feature("mid", "quote", "mid of the public book's best bid and ask", PRICE),
    Feature("best_bid", "quote", "best bid of the public book", PRICE),
    Feature("best_ask", "quote", "best ask of the public book", PRICE),
    Feature("market_spread_bps", "bps", "(ask - bid) / mid of the public book", BPS),
    Feature("book_age_s", "s", f"seconds since the last book update ({NEVER_AGE_S:g} before any)", SECONDS),
    Feature("vol_bps", "bps/min", "EWMA 1-minute sigma of mid log returns (halflife maker.volatility.halflife_s)", BPS),
    Feature("sigma_1m_bps", "bps", "realized sigma of mid log returns over the last 60 s", BPS),
    Feature("trend_bps", "bps", "mid change over maker.trend.lookback_s (oldest sample until that much history)", BPS),
    Feature("inventory_units", "units", "our signed position (fills, corrected by venue snapshots)", UNITS),
    Feature("inventory_frac", "1", "inventory_units / inventory.soft_cap_units (signed)", (-1e4, 1e4)),
    Feature("inventory_notional", "quote", "inventory_units * mid (signed)", QUOTE),
    Feature("unrealized_pnl", "quote", "FIFO unrealized PnL of the open position at mid", QUOTE),
    Feature("realized_pnl_total", "quote", "FIFO realized PnL since start, fees deducted", QUOTE),
    Feature("realized_pnl_5m", "quote", "FIFO realized PnL of fills in the last features.pnl_slice_s", QUOTE),
    Feature("realized_pnl_30m", "quote", "FIFO realized PnL of fills in the last features.edge_window_s", QUOTE),
    Feature("neg_pnl_slices", "count", "consecutive completed pnl_slice_s slices with realized PnL < 0", COUNT),
    Feature("fill_count", "count", "our fills since start", COUNT),
    Feature("last_fill_age_s", "s", f"seconds since our last fill ({NEVER_AGE_S:g} before any)", SECONDS),
    Feature("hit_fast_frac", "1", "share of recent maker fills that came within features.hit_fast_ms of posting", SHARE),
    Feature("markout_bps", "bps", "mean markout of recent maker fills after features.markout_horizon_s (+ = ours)", BPS),
    Feature("guard_block_s", "s", "seconds the inventory-growing side has been continuously suppressed", SECONDS),
    Feature("unhedged_exposure_s", "s", "seconds |inventory_units| has continuously exceeded hedger.trigger_units", SECONDS),
    Feature("uptime_s", "s", "seconds since the feature store's first tick", SECONDS),
    Feature("trading_state", "enum", "risk gate state: 0 active, 1 reducing-only, 2 halted", (0.0, 2.0)),
    Feature("open_orders", "count", "our live orders", COUNT),
    Feature("venue_budget_frac", "1", "share of the venue's request budget left in its window (1 = all, 0 = none)", SHARE),
    Feature("size_min_units", "units", "config maker.size_min_units", UNITS),
    Feature("size_max_units", "units", "config maker.size_max_units", UNITS),
    Feature("max_position_units", "units", "config risk.max_position_units", UNITS),
    Feature("max_inventory_notional", "quote", "config risk.max_inventory_notional", QUOTE),
    Feature("soft_cap_units", "units", "config inventory.soft_cap_units", UNITS),
    Feature("hedge_trigger_units", "units", "config hedger.trigger_units", UNITS),
    Feature("hedge_target_units", "units", "config hedger.target_units", UNITS),
    Feature("hedge_standdown_s", "s", "config hedger.standdown_s (no cross this long after an abandoned chase)",
            SECONDS),
    Feature("hedge_retrace_bps", "bps", "config hedger.retrace_bps (a retrace this close to the plan ends a stand-down)",
            BPS),
)

# Every name a policy may use, with its value range: what the policy loader checks names against
# and bounds expressions with (rules.expr). Iterating it, or `name in FEATURE_NAMES`, gives names.
FEATURE_NAMES: Mapping[str, tuple[float, float]] = MappingProxyType({f.name: f.range for f in CATALOG})


def describe_catalog() -> str:
    """The catalog as an aligned text table, for `lighter-bot features`."""
    header = ("name", "unit", "meaning")
    rows = [header] + [(f.name, f.unit, f"{f.meaning} [{f.range[0]:g} .. {f.range[1]:g}]") for f in CATALOG]
    name_w = max(len(r[0]) for r in rows)
    unit_w = max(len(r[1]) for r in rows)
    meaning_w = max(len(r[2]) for r in rows)
    lines = [f"{n:<{name_w}}  {u:<{unit_w}}  {m}" for n, u, m in rows]
    lines.insert(1, f"{'-' * name_w}  {'-' * unit_w}  {'-' * meaning_w}")
    return "\n".join(lines)
