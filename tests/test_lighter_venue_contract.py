"""The venue contract (tests/venue_contract.py) run against the live Lighter adapter talking to
the fake Lighter server over HTTP and WebSocket on 127.0.0.1, in both order-book formats."""
from __future__ import annotations

import asyncio
import time

import pytest

from lighter_bot import BotConfig
from lighter_harness import require_lighter_sdk, venue_on
from paper_harness import POLICIES
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.trader import Trader
from venue_contract import Desk, VenueContract


def lighter_desk_factory(request, book_format: str):
    require_lighter_sdk()
    from adapters.lighter.config import LighterBudget
    from adapters.lighter.fake_server import FakeFaults, FakeLighter, FakeSettings

    made = []

    def make(late_fills: float = 0.0, duplicate_fills: bool = False, lost_acks: bool = False,
             request_limit: int = 60) -> Desk:
        faults = FakeFaults(late_fills_s=late_fills, duplicate_fills=duplicate_fills, lost_acks=lost_acks)
        server = FakeLighter(FakeSettings(book_format=book_format, faults=faults)).start()
        # A tight budget counts in a short window so the start-up reads have left it before the test sends.
        budget = LighterBudget(requests_per_window=request_limit, window_s=60.0 if request_limit >= 60 else 1.0,
                               reserve_for_reads=0 if request_limit < 60 else 6,
                               guard_s=1.0 if request_limit >= 60 else 0.0)
        venue = venue_on(server, budget=budget, request_timeout_s=30.0)
        made.append((server, venue))
        asyncio.run(venue.start())
        config = BotConfig()
        policies = load_policy_set([POLICIES], FEATURE_NAMES)

        def new_trader() -> Trader:
            return Trader(config, venue.market, policies, supports_modify=venue.supports_modify)

        desk = Desk(venue, new_trader(), now=time.time(), venue_position=server.position,
                    venue_open=server.open_orders, new_trader=new_trader, real_time=True)
        # The tight budget's 1 s window must first forget the start-up reads.
        desk.pump(1.2 if request_limit < 60 else 0.5)
        return desk

    def finish():
        for server, venue in made:
            asyncio.run(venue.stop())
            server.stop()
    request.addfinalizer(finish)
    return make


class TestLighterVenueFormatB(VenueContract):
    @pytest.fixture
    def make_desk(self, request):
        return lighter_desk_factory(request, "B")


class TestLighterVenueFormatA:
    """The recorded (Dec 2025) book format, whose gap check is the offset chain: the book syncs and
    orders trade on it. (The rest of the contract does not depend on the book format.)"""

    @pytest.fixture
    def make_desk(self, request):
        return lighter_desk_factory(request, "A")

    test_start_reports_status_and_the_market_spec = VenueContract.test_start_reports_status_and_the_market_spec
    test_place_is_accepted_then_open_and_cancel_ends_it = \
        VenueContract.test_place_is_accepted_then_open_and_cancel_ends_it
    test_post_only_that_would_cross_is_accepted_then_canceled = \
        VenueContract.test_post_only_that_would_cross_is_accepted_then_canceled
    test_a_large_ioc_fills_partly_and_the_rest_is_canceled = \
        VenueContract.test_a_large_ioc_fills_partly_and_the_rest_is_canceled
