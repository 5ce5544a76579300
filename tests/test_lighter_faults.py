"""Each fault of the fake Lighter server, injected while a real Trader quotes through the live
adapter (the driver of `lighter-bot run`, on wall-clock time): the bot recovers to quoting, never
holds a duplicate order, leaves no orphan, books every fill once, and stays within its budget."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lighter_bot import BotConfig
from lighter_harness import require_lighter_sdk, venue_on
from paper_harness import POLICIES
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.service.loop import WallClock, run_trader
from runtime.trace import MemorySink, Trace
from runtime.trader import Trader
from test_lighter_end_to_end import max_requests_per_window

RUN_S = 3.5
FAULT_AT_S = 1.0

# fault -> (one-shot injections at FAULT_AT_S, adapter config overrides)
FAULTS = {
    "drop_socket": (["drop"], {}),
    "skip_book_update": (["skip_book"], {}),
    "shutdown_frame": (["shutdown"], {}),
    "invalid_nonce": (["nonce"], {}),
    "rate_limited_429": (["429"], {}),
    "server_error_500": (["500"], {}),
    "send_timeout": (["timeout"], {"request_timeout_s": 0.5}),
    "refused_in_a_200": (["badcode"], {}),
    "invalid_amount_21706": (["21706"], {}),
    "slow_answer": (["slow"], {}),
}
PERSISTENT = {
    # The server stops answering our pings: the pong deadline closes the socket and we reconnect.
    "pings_unanswered": ("ignore_pings", {"ping_interval_s": 0.5}),
    # The book subscription goes silent on an open socket: stale (quotes pulled), then dead.
    "silent_book": ("silent_book", {"book_stale_s": 0.5, "channel_silent_s": 1.0}),
}


def drive(fake, overrides: dict, at_fault) -> tuple[Trader, MemorySink]:
    venue = venue_on(fake, **overrides)
    sink = MemorySink()
    config = BotConfig()
    asyncio.run(venue.start())
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES), trace=Trace(sink),
                    venue_name="lighter", start_ts=time.time(), supports_modify=True)
    timer = threading.Timer(FAULT_AT_S, at_fault)
    timer.start()
    try:
        asyncio.run(run_trader(trader, venue, WallClock(), tick_interval_s=config.runtime.tick_interval_s,
                               duration_s=RUN_S))
    finally:
        timer.cancel()
    return trader, sink


def check_recovered(fake, trader: Trader, sink: MemorySink, fault_ts: float) -> None:
    statuses = [r for r in sink.records if r["type"] == "venue_status"]
    assert statuses and statuses[-1]["connected"] is False          # stopped at the end...
    healthy_after = [r for r in statuses if r["ts"] > fault_ts and r["connected"] and r["book_synced"]]
    unhealthy_after = [r for r in statuses if r["ts"] > fault_ts and not (r["connected"] and r["book_synced"])]
    if len(unhealthy_after) > 1:                                      # ...and if the fault broke it, it healed
        assert healthy_after, f"never healthy again after the fault: {statuses}"
    sends_after = [tx for tx in fake.sent_txs if tx["tx_type"] in (14, 17) and tx["ExpiredAt"] / 1000 - 599 > fault_ts]
    assert sends_after, "never quoted again after the fault"
    assert fake.open_orders() == {}                                   # no orphan
    assert max(fake.max_live_per_side.values()) <= 2                  # a quote, at most a hedge: no duplicate
    venue_fills = {str(t["trade_id"]) for t in fake.account_trades()}
    bot_fills = [r["trade_id"] for r in sink.records if r["type"] == "fill"]
    assert sorted(bot_fills) == sorted(venue_fills)                   # every fill once
    assert trader.features.values["inventory_units"] == pytest.approx(fake.position())
    assert max_requests_per_window([t for t, _ in fake.requests]) <= 60


@pytest.fixture
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=9, move_prob=0.3, move_ticks=3, sequencing_delay_s=0.05)).start()
    yield server
    server.stop()


@pytest.mark.parametrize("name", list(FAULTS))
def test_the_bot_recovers_from_a_one_shot_fault(fake, name):
    injections, overrides = FAULTS[name]
    fault_ts: list[float] = []

    def at_fault():
        fault_ts.append(time.time())
        fake.inject(*injections)
        fake.inject("sweep_down")            # and a fill to book across it
    trader, sink = drive(fake, overrides, at_fault)
    check_recovered(fake, trader, sink, fault_ts[0])


@pytest.mark.parametrize("name", list(PERSISTENT))
def test_the_bot_recovers_from_a_persistent_fault_once_it_clears(fake, name):
    switch, overrides = PERSISTENT[name]
    fault_ts: list[float] = []

    def at_fault():
        fault_ts.append(time.time())
        fake.call(lambda: setattr(fake.faults, switch, True))
        threading.Timer(1.2, lambda: fake.call(lambda: setattr(fake.faults, switch, False))).start()
    trader, sink = drive(fake, overrides, at_fault)
    reasons = [r["reason"] for r in sink.records if r["type"] == "venue_status"]
    assert any("stale" in r or "disconnected" in r for r in reasons), reasons
    check_recovered(fake, trader, sink, fault_ts[0])
