"""The venue contract (tests/venue_contract.py) run against the replay venue, on the first
seconds of the real Binance BTCUSDT capture (tests/fixtures/replay). The Desk's market is the
default config's (3 price and size decimals), which every price of that data fits."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.replay import ReplayConfig, load_data, open_venue
from adapters.replay.config import ReplayFaults
from lighter_bot import BotConfig
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.market import market_spec
from runtime.trader import Trader
from venue_contract import Desk, VenueContract
from paper_harness import POLICIES

FIXTURE = Path(__file__).parent / "fixtures" / "replay" / "btcusdt_binance-usdm_raw_head.ndjson.gz"


def replay_desk(tmp_path: Path, late_fills: float = 0.0, duplicate_fills: bool = False, lost_acks: bool = False,
                request_limit: int = 60) -> Desk:
    config = BotConfig()
    data = load_data([FIXTURE], cache_dir=tmp_path)
    replay = ReplayConfig(request_limit=request_limit, snapshot_interval_s=3600.0, faults=ReplayFaults(
        fill_report_delay_s=late_fills, duplicate_fills=duplicate_fills, lost_acks=lost_acks))
    venue = open_venue(data, market_spec(config.market), replay)
    asyncio.run(venue.start())
    policies = load_policy_set([POLICIES], FEATURE_NAMES)

    def new_trader() -> Trader:
        return Trader(config, venue.market, policies, supports_modify=venue.supports_modify, start_ts=data.start_ts)

    desk = Desk(venue, new_trader(), now=data.start_ts, venue_position=lambda: venue.position_units,
                venue_open=venue.open_orders, new_trader=new_trader)
    desk.pump(1.0)
    return desk


class TestReplayVenue(VenueContract):
    @pytest.fixture
    def make_desk(self, tmp_path):
        return lambda **faults: replay_desk(tmp_path, **faults)
