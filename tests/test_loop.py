"""The driver between a venue and the Trader: early ticks on a fill, and what the HTTP thread may read."""
from __future__ import annotations

import asyncio
import threading
import time

from adapters.paper.venue import PaperVenue
from lighter_bot import BotConfig
from paper_harness import POLICIES
from prometheus_client import CollectorRegistry, generate_latest
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.events import Fill
from runtime.market import market_spec
from runtime.service.loop import SimulatedClock, run_trader
from runtime.service.metrics import StatusCollector
from runtime.service.status_board import StatusBoard
from runtime.service.telemetry import health
from runtime.trader import Trader

CONFIG = BotConfig()


def paper_run(seconds: float, board: StatusBoard | None = None, after_tick=None):
    venue = PaperVenue(market_spec(CONFIG.market), CONFIG.venue.paper, 0.0)
    trader = Trader(CONFIG, venue.market, load_policy_set([POLICIES], FEATURE_NAMES),
                    supports_modify=venue.supports_modify)
    fills: list[Fill] = []
    drain = venue.drain

    def recording_drain(now: float):
        events = drain(now)
        fills.extend(e for e in events if isinstance(e, Fill))
        return events

    venue.drain = recording_drain
    ticks: list[float] = []

    def observe(now: float) -> None:
        ticks.append(now)
        if after_tick is not None:
            after_tick(now)

    asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=CONFIG.runtime.tick_interval_s,
                           duration_s=seconds, after_tick=observe, board=board))
    return trader, fills, ticks


def test_a_fill_wakes_the_loop_instead_of_waiting_for_the_next_slot():
    """A sweep through one quote must not leave the other stale for a whole tick interval: the venue
    wakes the driver and the Trader ticks within one poll of the fill."""
    _, fills, ticks = paper_run(600.0)
    interval = CONFIG.runtime.tick_interval_s
    poll = CONFIG.venue.paper.poll_interval_s
    early = [t for t in ticks if abs(t / interval - round(t / interval)) > 1e-6]
    assert fills and early, "expected fills, and ticks off the regular schedule"
    for fill in fills:
        if fill.ts >= 600.0 - interval:
            continue
        reacted = min(t for t in ticks if t >= fill.ts)
        assert reacted - fill.ts <= poll + 1e-6, f"fill at {fill.ts}: next tick only at {reacted}"


def test_the_http_thread_reads_only_published_snapshots_while_the_loop_trades():
    """Scrapes and health checks run flat out in another thread while the loop trades: every one
    succeeds (a scrape that iterated the live trader's dicts failed about once in 20,000)."""
    board = StatusBoard()
    registry = CollectorRegistry()
    registry.register(StatusCollector(board.latest))
    stop = threading.Event()
    reads, errors = [0], []

    def scrape_forever() -> None:
        while not stop.is_set():
            try:
                generate_latest(registry)
                health(board.latest(), time.time(), 5.0)
                reads[0] += 1
            except Exception as exc:   # noqa: BLE001 - the test reports whatever broke
                errors.append(repr(exc))

    reader = threading.Thread(target=scrape_forever, daemon=True)
    reader.start()
    try:
        paper_run(900.0, board=board)
    finally:
        stop.set()
        reader.join(5.0)
    assert not errors, errors[:3]
    assert reads[0] > 50
    snapshot = board.latest()
    assert snapshot is not None and snapshot.ticks_total > 3000 and snapshot.wall_ts > 0
