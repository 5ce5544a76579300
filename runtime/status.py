"""A read-only snapshot of the running bot, for /metrics, /health and logs.

The trading loop owns all state. After each tick the service publishes one of these
(runtime/service/status_board.py) and the HTTP thread reads only that, so nothing
outside the loop ever touches a live trading object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OperatorAction = Literal["halt", "reduce", "resume"]


@dataclass(frozen=True, slots=True)
class QuoteSnapshot:
    price: float
    size: float


@dataclass(frozen=True)
class BotStatus:
    """Everything an operator dashboard shows, at one instant."""

    ts: float                                   # time of the last tick (venue clock)
    ticks_total: int
    market: str                                 # e.g. "SOL (market 2)"
    venue: str                                  # "paper", "lighter", "replay"
    venue_healthy: bool
    trading_state: str                          # "active", "reducing", "halted"
    trading_state_reason: str
    policy_version: str
    policy_rule_errors_total: int
    firing_rules: tuple[str, ...]
    states: dict[str, str]
    gauges: dict[str, float]                    # every policy `telemetry` gauge
    shadow_version: str | None = None
    shadow_gauges: dict[str, float] = field(default_factory=dict)
    shadow_disagreement_ratio: float = 0.0      # share of ticks where shadow and live effects differ
    shadow_disagreements_total: int = 0
    venue_reason: str = ""                      # the venue's last status reason
    rule_errors: dict[str, int] = field(default_factory=dict)   # rule -> evaluations that failed
    rules_failing: tuple[str, ...] = ()         # rules whose evaluation failed within the last minute
    bid: QuoteSnapshot | None = None
    ask: QuoteSnapshot | None = None
    features: dict[str, float] = field(default_factory=dict)
    fills_total: int = 0
    orders_placed_total: int = 0
    orders_modified_total: int = 0
    orders_canceled_total: int = 0               # cancels the venue confirmed (ours and its own)
    cancels_sent_total: int = 0
    orders_rejected_total: int = 0
    orders_rejected_by_code: dict[int, int] = field(default_factory=dict)
    cancel_rejected_total: int = 0
    outcome_unknown_total: int = 0
    rate_limited_total: int = 0
    orders_in_doubt: int = 0                     # orders whose fate awaits a venue snapshot
    position_mismatches_total: int = 0           # snapshots that disagreed with our fills (corrected)
    duplicate_fills_total: int = 0               # fills delivered twice, booked once
    budget_used: int = 0                         # requests in the venue's window (0/0: not reported)
    budget_limit: int = 0
    intents_denied_total: dict[str, int] = field(default_factory=dict)   # reason -> count
    hedger_mode: str = "idle"                   # idle, passive, aggressive, cooldown
    hedger_crosses_total: int = 0               # IOC crosses sent
    hedger_abandoned_total: int = 0             # crosses given up because the mid ran past the plan
    # Filled in by the service when it publishes the snapshot (the core has no wall clock
    # and does not reload files).
    wall_ts: float = 0.0                        # wall-clock time of the last tick, for staleness
    tick_seconds_last: float = 0.0
    policy_set_valid: bool = True               # files on disk == live set
    policy_reload_total: int = 0
    policy_reload_errors_total: int = 0
    trace_write_errors_total: int = 0           # decision-trace writes that failed (the bot kept trading)
    reload_alive: bool = True                   # the policy watcher and compile loop are running
    reload_last_check_wall_ts: float = 0.0      # when the policy folder was last checked (0: never)
    entry_price: float = 0.0                    # average entry of the open position (0 when flat)
    market_symbol: str = ""                     # the `market` label of portfolio_* and lighter_bot_info
    tick_seconds_histogram: HistogramSnapshot | None = None
    ledger: LedgerStatus | None = None          # None: the fills ledger is off
    alert_thresholds: dict[str, float] = field(default_factory=dict)   # runtime.alerts, for the alert rules


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """Cumulative bucket counts (Prometheus style), their upper bounds, sum and count."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum: float
    count: int


@dataclass(frozen=True)
class LedgerStatus:
    """The fills ledger as the service sees it after a flush (runtime/service/ledger.py)."""

    path: str
    failure: str = ""                           # why it cannot be written ("" while it can)
    backlog: int = 0                            # records held in memory, not yet on disk
    written_total: int = 0
    failures_total: int = 0
    rotations_total: int = 0
    fills_by: dict[tuple[str, str], int] = field(default_factory=dict)   # (side, liquidity) -> fills
    write_seconds: HistogramSnapshot | None = None
