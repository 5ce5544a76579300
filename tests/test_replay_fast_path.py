"""The full-depth fast path (bulk book updates, precomputed touch) decides exactly as the
row-by-row replay: the same events out of the venue, the same run summary."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.replay import ReplayConfig, load_data, open_venue
from adapters.replay.touch import cached_touch, touch_columns
from lighter_bot import BotConfig
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.market import MarketSpec
from runtime.service.loop import SimulatedClock, run_trader
from runtime.service.replay import ReplayRecorder
from runtime.trader import Trader
import numpy as np

FIXTURES = Path(__file__).parent / "fixtures" / "replay"
REPO = Path(__file__).resolve().parent.parent
BTC = MarketSpec(market_id=1, symbol="BTC", price_decimals=1, size_decimals=5, min_base_units=0.0002, min_quote=10.0)


def run(data, fast: bool, step: float) -> tuple[list, dict]:
    config = BotConfig.model_validate({
        "market": {"market_id": 1, "symbol": "BTC", "price_decimals": 1, "size_decimals": 5,
                   "min_base_units": 0.0002, "min_quote": 10.0},
        "maker": {"size_units": 0.0002, "size_min_units": 0.0002, "size_max_units": 0.00024, "spread_bps": 1.0,
                  "volatility": {"min_spread_bps": 0.5, "max_spread_bps": 2.0}, "min_spread_bps": 0.5},
        "inventory": {"soft_cap_units": 0.0004},
        "hedger": {"trigger_units": 0.0002, "target_units": 0.0001, "max_clip_units": 0.0004},
        "risk": {"max_position_units": 0.0006, "max_order_units": 0.0004}})
    venue = open_venue(data, BTC, ReplayConfig(), fast=fast)
    seen: list = []
    drain = venue.drain
    venue.drain = lambda now: seen.extend(got := drain(now)) or got
    policies = load_policy_set([REPO / "policies"], FEATURE_NAMES)
    box = []

    async def main():
        await venue.start()
        trader = Trader(config, venue.market, policies, venue_name="replay", start_ts=data.start_ts,
                        supports_modify=True)
        recorder = ReplayRecorder(trader, [])
        trader.trace.sink = recorder
        box.append(recorder)
        await run_trader(trader, venue, SimulatedClock(data.start_ts), tick_interval_s=step,
                         duration_s=data.end_ts - data.start_ts, after_tick=recorder.after_tick)
    asyncio.run(main())
    return seen, box[0].summary()


@pytest.mark.parametrize("name", ["btcusdt_binance-usdm_raw_head.ndjson.gz", "btc_lighter-perp_ws_capture_head.json.gz"])
@pytest.mark.parametrize("step", [0.05, 0.25])
def test_the_fast_path_gives_the_same_replay(tmp_path, name, step):
    data = load_data([FIXTURES / name], cache_dir=tmp_path)
    fast_events, fast_summary = run(data, True, step)
    slow_events, slow_summary = run(data, False, step)
    assert fast_events == slow_events
    assert fast_summary == slow_summary


def test_the_touch_columns_are_cached_per_files_and_window(tmp_path):
    data = load_data([FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz"], cache_dir=tmp_path)
    first = cached_touch(data.events, ["a"], tmp_path)
    assert len(list(tmp_path.glob("touch-*.npz"))) == 1
    again = cached_touch(data.events, ["a"], tmp_path)
    fresh = touch_columns(data.events)
    for name in ("bid_px", "bid_qty", "ask_px", "ask_qty", "changed_at"):
        assert np.array_equal(getattr(again, name), getattr(fresh, name), equal_nan=True)
        assert np.array_equal(getattr(first, name), getattr(fresh, name), equal_nan=True)


def busy_book(seed: int, seconds: float = 60.0):
    """A generated full-depth stream: a random-walk touch, level churn and prints (sweeps too)."""
    from adapters.replay.columns import ASK, BID, CLEAR, DEPTH, TRADE, Columns
    rng = np.random.default_rng(seed)
    cols = Columns()
    mid = 1000.0
    cols.add(0.0, CLEAR, 0.0, 0.0, 0.0)
    for k in range(1, 11):
        cols.add(0.0, DEPTH, round(mid - 0.1 * k, 1), 1.0, BID)
        cols.add(0.0, DEPTH, round(mid + 0.1 * (k - 1) + 0.1, 1), 1.0, ASK)
    t = 0.0
    while t < seconds:
        t = round(t + float(rng.exponential(0.02)), 4)
        r = rng.random()
        offset = int(rng.integers(0, 8))
        if r < 0.6:
            side = BID if rng.random() < 0.5 else ASK
            px = round(mid - 0.1 * (offset + 1), 1) if side == BID else round(mid + 0.1 * offset + 0.1, 1)
            cols.add(t, DEPTH, px, float(rng.choice([0.0, 0.5, 1.0, 2.0, 3.0])), side)
        elif r < 0.9:
            buy = rng.random() < 0.5
            px = round(mid + 0.1, 1) if buy else round(mid - 0.1, 1)
            if rng.random() < 0.1:
                px = round(px + (0.2 if buy else -0.2), 1)        # a sweep through the touch
            cols.add(t, TRADE, px, float(rng.choice([0.1, 0.5, 1.0, 2.0])), 1.0 if buy else -1.0)
        else:
            mid = round(mid + (0.1 if rng.random() < 0.5 else -0.1), 1)
            cols.add(t, DEPTH, round(mid - 0.1, 1), 1.0, BID)
            cols.add(t, DEPTH, round(mid + 0.1, 1), 1.0, ASK)
            cols.add(t, DEPTH, round(mid, 1), 0.0, BID)
            cols.add(t, DEPTH, round(mid, 1), 0.0, ASK)
    return cols.arrays()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fast_path_matches_row_by_row_with_orders_resting_and_filling(seed):
    from adapters.replay.venue import ReplayVenue
    from runtime.events import Fill, OrderOpen
    from runtime.intents import CancelOrder, PlaceOrder
    market = MarketSpec(market_id=9, symbol="X", price_decimals=1, size_decimals=2, min_base_units=0.01, min_quote=1.0)
    events = busy_book(seed)
    outputs = []
    for fast in (True, False):
        venue = ReplayVenue(market, events, ReplayConfig(request_limit=0), fast=fast)
        asyncio.run(venue.start())
        rng = np.random.default_rng(seed + 100)
        got, cid, now = [], 0, 0.0
        while now < 60.0:
            now = round(now + 0.1, 1)
            out = venue.drain(now)
            got += out
            tops = [e for e in got if type(e).__name__ == "BookTop"]
            if not tops:
                continue
            top = tops[-1]
            if rng.random() < 0.3:
                cid += 1
                side = "buy" if rng.random() < 0.5 else "sell"
                depth = 0.1 * int(rng.integers(0, 3))
                px = round(top.bid_px - depth, 1) if side == "buy" else round(top.ask_px + depth, 1)
                venue.submit([PlaceOrder(cid, side, px, float(rng.choice([0.5, 1.0, 2.0])), "post_only", "quote")], now)
            if rng.random() < 0.1 and venue.open_orders():
                venue.submit([CancelOrder(sorted(venue.open_orders())[0])], now)
        outputs.append(got)
    fast_out, slow_out = outputs
    assert sum(isinstance(e, Fill) for e in slow_out) > 20 and any(isinstance(e, OrderOpen) for e in slow_out)
    assert fast_out == slow_out
