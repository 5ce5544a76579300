"""A bounded soak: the bot trades through the live adapter against the fake Lighter server while
random faults (seeded) strike every couple of seconds; at the end the fake's record of our fills
and the bot's decision trace agree fill for fill, nothing is left open, and the budget held.

`LIGHTER_SOAK_S=600 pytest tests/test_lighter_soak.py` soaks for ten minutes instead of the CI default.
"""
from __future__ import annotations

import asyncio
import os
import random
import threading
import time

from lighter_bot import BotConfig
from lighter_harness import require_lighter_sdk, venue_on
from paper_harness import POLICIES
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.service.loop import WallClock, run_trader
from runtime.trace import MemorySink, Trace
from runtime.trader import Trader
from test_lighter_end_to_end import max_requests_per_window

SOAK_S = float(os.environ.get("LIGHTER_SOAK_S", "15"))
FAULT_EVERY_S = 2.0
ONE_SHOT = ["drop", "skip_book", "shutdown", "nonce", "429", "500", "timeout", "badcode", "slow",
            "sweep_down", "sweep_up"]


def test_a_soak_with_random_faults_ends_with_the_venue_and_the_bot_agreeing_fill_for_fill():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    fake = FakeLighter(FakeSettings(seed=21, move_prob=0.4, move_ticks=4, sequencing_delay_s=0.05)).start()
    rng = random.Random(21)
    struck: list[str] = []
    stop = threading.Event()

    def chaos():
        while not stop.wait(FAULT_EVERY_S):
            fault = rng.choice(ONE_SHOT)
            struck.append(fault)
            fake.inject(fault)
    try:
        venue = venue_on(fake, request_timeout_s=1.0)
        asyncio.run(venue.start())
        sink = MemorySink()
        config = BotConfig()
        trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES), trace=Trace(sink),
                        venue_name="lighter", start_ts=time.time(), supports_modify=True)
        thread = threading.Thread(target=chaos, daemon=True)
        thread.start()
        try:
            asyncio.run(run_trader(trader, venue, WallClock(), tick_interval_s=config.runtime.tick_interval_s,
                                   duration_s=SOAK_S))
        finally:
            stop.set()
            thread.join()
        venue_fills = sorted(str(t["trade_id"]) for t in fake.account_trades())
        bot_fills = sorted(r["trade_id"] for r in sink.records if r["type"] == "fill")
        assert len(struck) >= SOAK_S / FAULT_EVERY_S - 2
        assert venue_fills, "the soak never traded"
        assert bot_fills == venue_fills
        assert abs(trader.features.values["inventory_units"] - fake.position()) < 1e-9
        assert fake.open_orders() == {}
        assert max_requests_per_window([t for t, _ in fake.requests]) <= 60
    finally:
        fake.stop()
