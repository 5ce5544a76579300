"""`lighter-bot run --summary FILE`: what a run did, as one JSON document a trader or a CI job reads.

The recorder watches two things: every trace record the core writes (it is a trace sink,
teed beside the file sink, so fills, orders, modifies, cancels and rejections are counted
exactly as traced) and the Trader after each tick (inventory, quotes, firing rules), with
time weighted by the gap between ticks. The keys are documented in the README.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from runtime.orders import OrderState
from runtime.trace import TraceSink
from runtime.trader import Trader

_PAUSE_EFFECTS = ("pause_bid", "pause_ask")


class TeeSink:
    """Writes every record to several sinks (the trace file and the summary recorder)."""

    def __init__(self, *sinks: TraceSink):
        self.sinks = sinks

    def write(self, record: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.write(record)

    def flush(self) -> None:
        for sink in self.sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                flush()


class RunRecorder:
    """Counts what a run did; `summary()` is the JSON document."""

    def __init__(self, trader: Trader):
        self.trader = trader
        self.fills: Counter[str] = Counter()
        self.fees = 0.0
        self.cancel_alls = 0
        self.ticks = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.max_abs_inventory = 0.0
        self.want_both_s = 0.0          # seconds the maker wanted a bid and an ask
        self.had_both_s = 0.0           # ... and both were on the book
        self.paused_s: Counter[str] = Counter()
        self.rule_active_s: Counter[str] = Counter()
        self.rule_fired: Counter[str] = Counter()
        self._firing: set[str] = set()
        self._pausing_for = None            # the compiled set `_pausing` was computed for
        self._pausing: set[str] = set()

    # -- as a trace sink ---------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> None:
        kind = record["type"]
        if kind == "fill":
            self.fills["total"] += 1
            self.fills[record["side"]] += 1
            self.fills[record["liquidity"]] += 1
            self.fees += record["fee"]
        elif kind == "cancel_all":
            self.cancel_alls += 1

    # -- after each tick ---------------------------------------------------------------------------
    def after_tick(self, now: float) -> None:
        trader = self.trader
        dt = now - self.last_ts if self.last_ts is not None else 0.0
        if self.first_ts is None:
            self.first_ts = now
        self.last_ts = now
        self.ticks += 1
        values = trader.features.values
        self.max_abs_inventory = max(self.max_abs_inventory, abs(values["inventory_units"]))
        plan = trader.plan
        if plan is not None and plan.bid is not None and plan.ask is not None:
            self.want_both_s += dt
            bid, ask = trader.orders.quote("buy"), trader.orders.quote("sell")
            if bid is not None and ask is not None and bid.state is OrderState.OPEN and ask.state is OrderState.OPEN:
                self.had_both_s += dt
        firing = set(trader.policies.firing())
        for rule in firing - self._firing:
            self.rule_fired[rule] += 1
        self._firing = firing
        for rule in firing:
            self.rule_active_s[rule] += dt
        effects = trader.effects
        if effects.pause_bid or effects.pause_ask:
            for policy in {rule.split(".", 1)[0] for rule in firing if rule in self._pausing_rules()}:
                self.paused_s[policy] += dt

    def _pausing_rules(self) -> set[str]:
        """Rules of the live set whose effects can pause a side (re-read: the set may reload)."""
        compiled = self.trader.policies.compiled
        if self._pausing_for is not compiled:
            self._pausing_for = compiled
            self._pausing = {rule.key for rule in compiled.rules
                             if any(name in _PAUSE_EFFECTS and value for name, value in rule.effects.static)
                             or any(name in _PAUSE_EFFECTS for name in rule.effects.dynamic_names)}
        return self._pausing

    def summary(self) -> dict[str, Any]:
        trader = self.trader
        orders = trader.orders
        values = trader.features.values
        duration_s = (self.last_ts - self.first_ts) if self.first_ts is not None else 0.0
        minutes = duration_s / 60.0
        transactions = orders.placed_total + orders.modified_total + orders.cancels_sent_total + self.cancel_alls
        realized = values["realized_pnl_total"]
        return {
            "ticks": self.ticks,
            "duration_s": round(duration_s, 3),
            "fills": {key: self.fills[key] for key in ("total", "buy", "sell", "maker", "taker")},
            "orders": {
                "sent": orders.placed_total,
                "modified": orders.modified_total,
                "cancels_sent": orders.cancels_sent_total,
                "canceled": orders.canceled_total,
                "rejected": {str(code): n for code, n in sorted(orders.rejected_by_code.items())},
                "cancel_rejected": orders.cancel_rejected_total,
                "outcome_unknown": orders.unknown_total,
            },
            "tx_per_min": round(transactions / minutes, 2) if minutes > 0 else 0.0,
            "rate_limited": orders.rate_limited_total,
            "max_abs_inventory": round(self.max_abs_inventory, 9),
            "realized_pnl": round(realized, 9),
            "mtm_pnl": round(realized + values["unrealized_pnl"], 9),
            "fees": round(self.fees, 9),
            "quoted_both_sides_frac": round(self.had_both_s / self.want_both_s, 4) if self.want_both_s else 0.0,
            "paused_s": {policy: round(s, 3) for policy, s in sorted(self.paused_s.items())},
            "rules": {rule: {"fired": self.rule_fired[rule], "active_s": round(self.rule_active_s[rule], 3)}
                      for rule in sorted(self.rule_active_s.keys() | self.rule_fired.keys())},
            "position_mismatches": trader.features.position_book.mismatches_total,
            "duplicate_fills": trader.features.position_book.duplicates_total,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.summary(), indent=2, sort_keys=True) + "\n")


def write_report_pair(folder: Path, stem: str, data: dict[str, Any], text: str) -> None:
    """A report's `STEM.json` (sorted keys: the same inputs give the same bytes) and `STEM.md` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (folder / f"{stem}.md").write_text(text if text.endswith("\n") else text + "\n")
