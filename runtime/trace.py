"""The decision trace: what the policies decided and what the bot did about it, as records.

Each decision record names the policy-set version, the firing rules (since when, at
which file:line, on which feature values), the current states and the merged effects.
Orders and fills carry the `decision` sequence number that caused them, so a grep for
`"decision":42` shows an order next to its reasons.

The core writes records through a `TraceSink` and never touches a file: the service
plugs in a file sink (runtime/service/trace_file.py), tests an in-memory one, and a
benchmark or sweep the null sink.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

from rules.effects import Effects
from runtime.events import Fill
from runtime.intents import PlaceOrder

log = logging.getLogger("lighter_bot.decisions")


class TraceSink(Protocol):
    """Where trace records go. `write` must not raise into the trading loop.

    A sink may keep records and do its I/O in an optional `flush()`, which the service
    calls after each tick's intents went to the venue (`Trace.flush`). Records are built
    fresh for the sink and never changed afterwards, so keeping them is safe."""

    def write(self, record: dict[str, Any]) -> None: ...


class NullSink:
    """Discards every record (benchmarks, sweeps, a run without a trace file)."""

    def write(self, record: dict[str, Any]) -> None:
        pass


class MemorySink:
    """Keeps every record in a list (tests, `run --simulated` summaries)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(record)


class Trace:
    """Builds trace records and writes them to a sink; logs the ones an operator reads live."""

    def __init__(self, sink: TraceSink | None = None):
        self.sink = sink if sink is not None else NullSink()
        # Records written so far: a tick that wrote none did nothing a trader could see (replay
        # uses it to tell idle ticks, runtime.trader.Trader.idle_until).
        self.written = 0

    @property
    def sink(self) -> TraceSink:
        return self._sink

    @sink.setter
    def sink(self, sink: TraceSink) -> None:
        self._sink = sink
        # The null sink discards every record: building one for it is work nobody reads. Records
        # are still counted (`written`), and what is logged is logged all the same.
        self.discards = type(sink) is NullSink

    def wants_decisions(self) -> bool:
        """Whether a decision record would be read (kept by the sink or logged); when not, the
        policy engine may skip building it (`PolicyEngine.evaluate(..., trace=False)`)."""
        return not self.discards or log.isEnabledFor(logging.INFO)

    def _write(self, record: dict[str, Any]) -> None:
        self.written += 1
        self._sink.write(record)

    def decision(self, trace: dict[str, Any] | None, shadow: bool = False) -> None:
        """`trace` None: the engine was told nobody reads it (`wants_decisions`); only counted."""
        if trace is None or self.discards:
            self.written += 1
        else:
            self._write({"type": "shadow_decision" if shadow else "decision", **trace})
        if not shadow and trace is not None and log.isEnabledFor(logging.INFO):
            rules = ", ".join([a["rule"] for a in trace["active"]]) or "none"
            states = ", ".join([f"{k}={v['state']}" for k, v in trace["states"].items()])
            log.info("decision %d [%s]: firing %s%s; effects %s", trace["seq"], trace["policy_version"], rules,
                     f"; states {states}" if states else "", trace["effects"] or "neutral")

    def effects(self, seq: int, now: float, effects: Effects) -> None:
        """The merged effects moved while the same rules fired (an expression-valued effect):
        a new decision number, so orders placed under the new value name this record."""
        if self.discards:
            self.written += 1
            return
        self._write({"type": "effects", "seq": seq, "ts": now, "effects": effects.non_neutral()})

    def order(self, intent: PlaceOrder, now: float) -> None:
        if self.discards:
            self.written += 1
            return
        self._write({"type": "order", "ts": now, "client_id": intent.client_id, "side": intent.side,
                         "price": intent.price, "size": intent.size, "tif": intent.tif, "purpose": intent.purpose,
                         "decision": intent.decision})

    def fill(self, fill: Fill, purpose: str, decision: int = 0) -> None:
        if self.discards:
            self.written += 1
        else:
            self._write({"type": "fill", "ts": fill.ts, "client_id": fill.client_id, "side": fill.side,
                             "price": fill.price, "size": fill.size, "liquidity": fill.liquidity, "fee": fill.fee,
                             "purpose": purpose, "trade_id": fill.trade_id, "seq": fill.seq, "decision": decision})
        log.info("fill %s %.4f @ %.4f (%s, %s)", fill.side, fill.size, fill.price, fill.liquidity, purpose)

    def event(self, kind: str, **fields: Any) -> None:
        if self.discards:
            self.written += 1
            return
        self._write({"type": kind, **fields})

    def flush(self) -> None:
        """Let a buffering sink write what it kept (the service calls this between ticks, after
        the tick's intents were submitted; the core never does)."""
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()
