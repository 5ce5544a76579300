"""The driver: a clock, a venue and a Trader, ticking until told to stop.

The Trader never reads the time; the clock passed here does. `WallClock` paces
ticks in real time (live and `lighter-bot run` on paper); `SimulatedClock` jumps
from tick to tick without sleeping, so tests and replays run simulated hours in
seconds through exactly the same code.

Stopping, however it happens (duration reached, SIGINT/SIGTERM, an error), ends in
the same place: every order is canceled and the venue is stopped.

Trace records and log lines are written after each tick's intents were submitted
(`Trace.flush`, runtime/service/logs.py), never between the venue's events and the
intents they lead to.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from runtime.ports import Venue
from runtime.service import logs
from runtime.service.status_board import StatusBoard
from runtime.trader import Trader

log = logging.getLogger("lighter_bot.loop")


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, ts: float, wake: asyncio.Event) -> bool:
        """Wait until `ts`; return True if `wake` was set first (then the loop ticks at once)."""


class WallClock:
    """Real time; ticks are paced with asyncio.sleep, and a wake-up (a new policy set is
    ready) cuts the wait short so a reload goes live without waiting for the next slot."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, ts: float, wake: asyncio.Event) -> bool:
        delay = ts - time.time()
        if wake.is_set():
            return True
        if delay <= 0:
            await asyncio.sleep(0)
            return wake.is_set()
        try:
            await asyncio.wait_for(wake.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True


class SimulatedClock:
    """Time that moves only when the loop says so.

    `yield_to_loop=False` (replay: nothing else runs on its event loop) jumps without handing
    control to asyncio between ticks, which costs about a tenth of a replay's time; with other
    tasks on the loop (watchers, servers: `run --simulated`) keep the default."""

    def __init__(self, start_ts: float, yield_to_loop: bool = True):
        self._now = start_ts
        self._yield = yield_to_loop

    def now(self) -> float:
        return self._now

    async def sleep_until(self, ts: float, wake: asyncio.Event) -> bool:
        if ts > self._now:
            self._now = ts
        if self._yield:
            await asyncio.sleep(0)   # let other tasks (watchers, servers) run between ticks
        return False


@dataclass
class RunSummary:
    ticks: int
    ticks_late: int            # wall-clock ticks that started more than one interval late
    started_at: float
    ended_at: float
    reason: str


async def run_trader(trader: Trader, venue: Venue, clock: Clock, *, tick_interval_s: float,
                     duration_s: float | None = None, stop: asyncio.Event | None = None,
                     wake: asyncio.Event | None = None,
                     between_ticks: Callable[[float], None] | None = None,
                     after_tick: Callable[[float], None] | None = None,
                     board: StatusBoard | None = None,
                     next_venue_event: Callable[[float], float] | None = None) -> RunSummary:
    """Tick until `duration_s` has passed or `stop` is set; always cancels everything at the end.

    Between ticks a venue that simulates inside `drain` is drained every `poll_interval_s`;
    when the venue calls its waker (our fill, a jump, a disconnect) the trader ticks at
    once instead of leaving the other quote stale until the next slot. After each tick the
    trader's status is published to `board` (what /health and /metrics read).

    `next_venue_event(now)` (replay only: a simulated clock and a venue that knows its future)
    skips idle ticks: those before both the venue's next event and `Trader.idle_until` would
    do nothing, so they are only counted (`Trader.skip_tick`, `after_tick`), on the same grid of
    times as ticking every interval. Live, every tick runs.
    """
    stop = stop or asyncio.Event()
    wake = wake or asyncio.Event()
    urgent = False

    def venue_wake() -> None:
        nonlocal urgent
        urgent = True
        wake.set()

    await venue.start()
    venue.set_waker(venue_wake)
    poll_s = venue.poll_interval_s
    start = clock.now()
    end = start + duration_s if duration_s is not None else math.inf
    next_ts = start
    ticks = late = 0
    reason = "duration reached"
    now = start
    try:
        while True:
            if stop.is_set():
                reason = "stop requested"
                break
            if next_ts > end:
                break
            polled = poll_s is not None and now + poll_s < next_ts
            woken = await clock.sleep_until(now + poll_s if polled else next_ts, wake)
            wake.clear()
            now = clock.now()
            if polled and not woken:
                logs.hold_output()
                trader.on_events(venue.drain(now))
                if not urgent:
                    trader.trace.flush()
                    logs.release_output()
                    continue
                woken = True   # a fill or a jump: tick now; what it logged waits for the tick's intents
            urgent = False
            if not woken and now - next_ts > tick_interval_s:
                late += 1
                next_ts = now   # we fell behind: do not try to catch up with a burst of ticks
            if between_ticks is not None:
                between_ticks(now)
            started = time.perf_counter()
            logs.hold_output()
            trader.on_events(venue.drain(now))
            intents = trader.tick(now)
            if intents:
                venue.submit(intents, now)
            # The trace file's and the log's I/O, once the tick's intents are on their way.
            trader.trace.flush()
            logs.release_output()
            if board is not None:
                board.publish(trader, time.perf_counter() - started)
            if after_tick is not None:
                after_tick(now)
            ticks += 1
            if not woken:
                next_ts += tick_interval_s
                venue_quiet_until = next_venue_event(now) if next_venue_event is not None else -math.inf
                if next_ts < venue_quiet_until and next_ts <= end:
                    idle_until = min(trader.idle_until(now), venue_quiet_until)
                    while next_ts < idle_until and next_ts <= end:
                        now = next_ts
                        trader.skip_tick(now)
                        if after_tick is not None:
                            after_tick(now)
                        ticks += 1
                        next_ts += tick_interval_s
    except Exception:
        reason = "error"
        raise
    finally:
        logs.release_output()
        now = max(clock.now(), now)
        trader.trace.flush()
        venue.submit(trader.shutdown(reason), now)
        trader.on_events(venue.drain(now))
        await venue.stop()
        trader.on_events(venue.drain(now))
        trader.trace.flush()
        log.info("stopped after %d ticks (%s); %d live orders left", ticks, reason, len(trader.orders.orders))
    return RunSummary(ticks, late, start, now, reason)
