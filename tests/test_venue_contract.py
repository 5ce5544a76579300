"""The venue contract (tests/venue_contract.py) run against the paper venue."""
from __future__ import annotations

import asyncio

import pytest

from adapters.paper.config import PaperConfig, PaperFaults
from adapters.paper.venue import PaperVenue
from lighter_bot import BotConfig
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.market import market_spec
from runtime.trader import Trader
from venue_contract import Desk, VenueContract
from paper_harness import POLICIES


def paper_desk(late_fills: float = 0.0, duplicate_fills: bool = False, lost_acks: bool = False,
               request_limit: int = 60) -> Desk:
    config = BotConfig()
    # Account snapshots come only when asked for, so each test decides when the bot learns the truth.
    paper = PaperConfig(request_limit=request_limit, snapshot_interval_s=3600.0, faults=PaperFaults(
        fill_report_delay_s=late_fills, duplicate_fill_prob=1.0 if duplicate_fills else 0.0,
        lost_ack_prob=1.0 if lost_acks else 0.0))
    venue = PaperVenue(market_spec(config.market), paper, 0.0)
    asyncio.run(venue.start())
    policies = load_policy_set([POLICIES], FEATURE_NAMES)

    def new_trader() -> Trader:
        return Trader(config, venue.market, policies, supports_modify=venue.supports_modify)

    desk = Desk(venue, new_trader(), venue_position=lambda: venue.position_units,
                venue_open=lambda: {o.client_id: o.remaining_size for o in venue.open_orders()},
                new_trader=new_trader)
    desk.pump(1.0)
    return desk


class TestPaperVenue(VenueContract):
    @pytest.fixture
    def make_desk(self):
        return paper_desk
