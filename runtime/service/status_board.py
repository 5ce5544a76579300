"""The one thing the HTTP thread reads: the latest published `BotStatus`.

After each tick the loop builds an immutable snapshot from the Trader and adds what
only the service knows (wall time, the tick's duration, policy reloads), then swaps
it in with a single reference assignment. The server thread reads that reference and
nothing else, so it never iterates a dict the loop is changing.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from runtime.status import BotStatus, HistogramSnapshot, LedgerStatus
from runtime.trader import Trader

# Tick durations: a tick is ~0.1-1 ms on paper; the top buckets catch a stalled loop.
TICK_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Ledger flushes are dominated by fsync: ~0.1 ms on tmpfs, 1-20 ms on a disk, seconds on a sick one.
LEDGER_WRITE_SECONDS_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)


class Histogram:
    """Counts observations into fixed buckets; `snapshot()` is what /metrics exports."""

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self._counts = [0] * len(bounds)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self._counts[index] += 1
                break
        self._sum += value
        self._count += 1

    def snapshot(self) -> HistogramSnapshot:
        cumulative, running = [], 0
        for count in self._counts:
            running += count
            cumulative.append(running)
        return HistogramSnapshot(self.bounds, tuple(cumulative), self._sum, self._count)


@dataclass
class ReloadCounters:
    """Policy reload bookkeeping (the service's, not the trading core's)."""

    set_valid: bool = True          # the files on disk are the live set
    total: int = 0                  # sets swapped in
    errors_total: int = 0           # saves rejected; the old set kept trading
    alive: bool = True              # watcher and compile loop running (False while one restarts)
    last_check_wall_ts: float = 0.0  # when the folder was last checked


class StatusBoard:
    """Latest published status plus the service's counters that go into it."""

    def __init__(self, trace_file=None) -> None:
        self.reload = ReloadCounters()
        self.trace_file = trace_file       # a JsonlFileSink, whose write failures the status reports
        self._latest: BotStatus | None = None
        self.tick_seconds = Histogram(TICK_SECONDS_BUCKETS)
        self.ledger_write_seconds = Histogram(LEDGER_WRITE_SECONDS_BUCKETS)
        self.ledger = None                  # a runtime.service.ledger.FillsLedger, when one runs
        self.alert_thresholds: dict[str, float] = {}

    def publish(self, trader: Trader, tick_seconds: float) -> None:
        status = trader.status()
        if status is None:
            return
        reload = self.reload
        self.tick_seconds.observe(tick_seconds)
        self._latest = dataclasses.replace(
            status, wall_ts=time.time(), tick_seconds_last=tick_seconds, policy_set_valid=reload.set_valid,
            policy_reload_total=reload.total, policy_reload_errors_total=reload.errors_total,
            reload_alive=reload.alive, reload_last_check_wall_ts=reload.last_check_wall_ts,
            trace_write_errors_total=self.trace_file.write_errors_total if self.trace_file is not None else 0,
            market_symbol=trader.market.symbol, entry_price=trader.features.position.avg_entry,
            tick_seconds_histogram=self.tick_seconds.snapshot(),
            ledger=self._ledger_status(), alert_thresholds=self.alert_thresholds)

    def _ledger_status(self) -> LedgerStatus | None:
        ledger = self.ledger
        if ledger is None:
            return None
        for seconds in ledger.take_write_seconds():
            self.ledger_write_seconds.observe(seconds)
        return LedgerStatus(str(ledger.path), ledger.failure, len(ledger.pending), ledger.written_total,
                            ledger.failures_total, ledger.rotations_total, dict(ledger.fills_by),
                            self.ledger_write_seconds.snapshot())

    def latest(self) -> BotStatus | None:
        """The last published snapshot (None before the first tick). Safe from any thread."""
        return self._latest
