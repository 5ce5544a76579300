"""A read-only snapshot of the running bot, for /metrics, /health and logs.

The trading loop owns all state; the HTTP server thread only ever sees these
snapshots, built on demand, and talks back through `OperatorCommands`, a queue the
loop drains between ticks. So nothing outside the loop mutates trading state.
"""
from __future__ import annotations

import queue
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
    wall_ts: float                              # wall-clock time of the last tick, for staleness
    ticks_total: int
    market: str                                 # e.g. "SOL (market 2)"
    venue: str                                  # "paper", "lighter", "replay"
    venue_healthy: bool
    trading_state: str                          # "active", "reducing", "halted"
    trading_state_reason: str
    policy_version: str
    policy_set_valid: bool                      # files on disk == live set
    policy_reload_total: int
    policy_reload_errors_total: int
    policy_rule_errors_total: int
    firing_rules: tuple[str, ...]
    states: dict[str, str]
    gauges: dict[str, float]                    # every policy `telemetry` gauge
    shadow_version: str | None = None
    shadow_gauges: dict[str, float] = field(default_factory=dict)
    shadow_disagreement_ratio: float = 0.0      # share of ticks where shadow and live effects differ
    shadow_disagreements_total: int = 0
    bid: QuoteSnapshot | None = None
    ask: QuoteSnapshot | None = None
    features: dict[str, float] = field(default_factory=dict)
    fills_total: int = 0
    orders_placed_total: int = 0
    orders_canceled_total: int = 0
    orders_rejected_total: int = 0
    intents_denied_total: dict[str, int] = field(default_factory=dict)   # reason -> count
    tick_seconds_last: float = 0.0
    hedger_mode: str = "idle"                   # idle, passive, aggressive, cooldown
    hedger_crosses_total: int = 0               # IOC crosses sent
    hedger_abandoned_total: int = 0             # crosses given up because the mid ran past the plan


class OperatorCommands:
    """Thread-safe mailbox from operators (HTTP, signals) to the trading loop."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[OperatorAction, str]] = queue.SimpleQueue()

    def send(self, action: OperatorAction, reason: str) -> None:
        self._queue.put((action, reason))

    def drain(self) -> list[tuple[OperatorAction, str]]:
        if self._queue.empty():   # the common case, checked without raising queue.Empty every tick
            return []
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out
