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

from runtime.status import BotStatus
from runtime.trader import Trader


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

    def publish(self, trader: Trader, tick_seconds: float) -> None:
        status = trader.status()
        if status is None:
            return
        reload = self.reload
        self._latest = dataclasses.replace(
            status, wall_ts=time.time(), tick_seconds_last=tick_seconds, policy_set_valid=reload.set_valid,
            policy_reload_total=reload.total, policy_reload_errors_total=reload.errors_total,
            reload_alive=reload.alive, reload_last_check_wall_ts=reload.last_check_wall_ts,
            trace_write_errors_total=self.trace_file.write_errors_total if self.trace_file is not None else 0)

    def latest(self) -> BotStatus | None:
        """The last published snapshot (None before the first tick). Safe from any thread."""
        return self._latest
