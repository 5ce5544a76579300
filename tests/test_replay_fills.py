"""The replay venue's fill model on hand-made events: queue position, trade-through, latency,
post-only (the issue's four cases), and the queue models themselves."""
from __future__ import annotations

import asyncio

import pytest

from adapters.replay.columns import ASK, BID, DEPTH, TRADE, Columns
from adapters.replay.config import ReplayConfig
from adapters.matching import PowerProb, ProbQueue, QueuePos, RiskAverseQueue
from adapters.replay.venue import ReplayVenue
from runtime.events import BookTop, CancelRejected, Fill, OrderCanceled, OrderOpen
from runtime.intents import CancelOrder, PlaceOrder
from runtime.market import MarketSpec

MARKET = MarketSpec(market_id=1, symbol="BTC", price_decimals=1, size_decimals=3, min_base_units=0.001,
                    min_quote=1.0)


def book(*rows):
    """Depth rows (ts, side, px, qty) and trades (ts, 'trade', px, qty, aggressor) as events."""
    cols = Columns()
    cols.add(0.0, DEPTH, 100.0, 5.0, BID)
    cols.add(0.0, DEPTH, 100.1, 5.0, ASK)
    for row in rows:
        if row[1] == "trade":
            ts, _, px, qty, aggressor = row
            cols.add(ts, TRADE, px, qty, 1.0 if aggressor == "buy" else -1.0)
        else:
            ts, side, px, qty = row
            cols.add(ts, DEPTH, px, qty, BID if side == "bid" else ASK)
    return cols.arrays()


def venue(events, **config):
    v = ReplayVenue(MARKET, events, ReplayConfig(request_limit=0, snapshot_interval_s=3600, **config))
    asyncio.run(v.start())
    v.drain(0.0)
    return v


def place(v, cid, side, price, size, now, tif="post_only"):
    v.submit([PlaceOrder(cid, side, price, size, tif, "quote")], now)


def fills(events):
    return [e for e in events if isinstance(e, Fill)]


def test_an_order_behind_5_lots_fills_only_after_5_lots_trade_at_its_price():
    # Our bid joins 100.0 behind 5.0 displayed; 4.0 trade there (and leave the level), then 1.5 more.
    v = venue(book((1.0, "trade", 100.0, 2.0, "sell"), (1.0, "bid", 100.0, 3.0),
                   (2.0, "trade", 100.0, 2.0, "sell"), (2.0, "bid", 100.0, 1.0),
                   (3.0, "trade", 100.0, 1.5, "sell"), (3.0, "bid", 100.0, 0.5)))
    place(v, 1, "buy", 100.0, 1.0, 0.1)
    got = v.drain(2.5)
    assert any(isinstance(e, OrderOpen) for e in got) and fills(got) == []     # 4 of 5 lots traded: no fill
    got = v.drain(3.5)
    [fill] = fills(got)
    assert (fill.price, fill.size, fill.liquidity) == (100.0, 0.5, "maker")    # 5.5 traded: 0.5 past the queue


def test_cancellations_ahead_advance_the_queue_by_the_stated_probability():
    model = ProbQueue(PowerProb(2.0))
    pos = QueuePos(front=3.0)
    model.depth(pos, prev_qty=4.0, new_qty=2.0)       # 2.0 canceled, 3 ahead, 1 behind
    p_behind = 1.0 / (1.0 + 9.0)
    assert pos.front == pytest.approx(3.0 - (1 - p_behind) * 2.0 + min(1.0 - p_behind * 2.0, 0.0))
    risk_averse = RiskAverseQueue()
    pos = QueuePos(front=3.0)
    risk_averse.depth(pos, 4.0, 3.5)
    assert pos.front == 3.0                            # cancels assumed behind us
    risk_averse.depth(pos, 3.5, 1.0)
    assert pos.front == 1.0                            # never more ahead than displayed


def test_traded_size_is_not_counted_again_as_a_cancel():
    model = ProbQueue(PowerProb(2.0))
    pos = QueuePos(front=5.0)
    assert model.trade(pos, 2.0) == 0.0
    model.depth(pos, 5.0, 3.0)                         # the level drop is the trade itself
    assert pos.front == 3.0


def test_a_trade_through_fills_at_the_orders_own_price_up_to_the_print():
    v = venue(book((1.0, "trade", 99.8, 0.7, "sell"), (2.0, "trade", 99.7, 5.0, "sell")))
    place(v, 1, "buy", 100.0, 1.0, 0.1)
    got = v.drain(1.5)
    [fill] = fills(got)
    assert (fill.price, fill.size) == (100.0, 0.7)     # at our price, limited by the print
    [fill] = fills(v.drain(2.5))
    assert (fill.price, fill.size) == (100.0, 0.3)


def test_latency_delays_a_cancel_so_a_fill_can_still_arrive():
    v = venue(book((1.02, "trade", 99.9, 2.0, "sell")), cancel_latency_s=0.05)
    place(v, 1, "buy", 100.0, 1.0, 0.1)
    v.drain(1.0)
    v.submit([CancelOrder(1)], 1.0)                    # lands at 1.05: the print at 1.02 is first
    got = v.drain(1.2)
    assert [type(e) for e in got if getattr(e, "client_id", None) == 1] == [Fill, CancelRejected]
    assert v.position_units == 1.0
    v2 = venue(book((1.02, "trade", 99.9, 2.0, "sell")), cancel_latency_s=0.0)
    place(v2, 1, "buy", 100.0, 1.0, 0.1)
    v2.drain(1.0)
    v2.submit([CancelOrder(1)], 1.0)
    got = v2.drain(1.2)
    assert [type(e) for e in got if getattr(e, "client_id", None) == 1] == [OrderCanceled]


def test_entry_latency_lets_the_market_cross_a_quote_before_it_lands():
    v = venue(book((1.01, "ask", 100.1, 0.0), (1.01, "ask", 100.05, 1.0)), entry_latency_s=0.05)
    place(v, 1, "buy", 100.05 - 0.05 + 0.0, 1.0, 1.0)  # 100.0: passive when sent
    place(v, 2, "buy", 100.1, 1.0, 1.0)                # at the ask: crosses when it lands
    got = v.drain(1.1)
    canceled = [e for e in got if isinstance(e, OrderCanceled)]
    assert [(e.client_id, e.reason) for e in canceled] == [(2, "canceled-post-only")]


def test_post_only_crossing_is_rejected():
    v = venue(book())
    place(v, 1, "buy", 100.1, 1.0, 0.0)
    got = v.drain(0.2)
    assert [(type(e), getattr(e, "reason", "")) for e in got if getattr(e, "client_id", None) == 1][-1] == \
        (OrderCanceled, "canceled-post-only")
    assert v.open_orders() == {}


def test_only_changes_of_the_touch_reach_the_core():
    v = venue(book((1.0, "bid", 99.0, 3.0), (1.1, "ask", 101.0, 3.0), (1.2, "bid", 100.0, 4.0)))
    got = v.drain(2.0)
    tops = [e for e in got if isinstance(e, BookTop)]
    assert [(t.bid_px, t.bid_size) for t in tops] == [(100.0, 4.0)]     # deep levels: nothing; one coalesced top


def test_an_ioc_takes_the_book_up_to_its_limit_and_the_rest_is_canceled():
    v = venue(book((0.5, "ask", 100.2, 1.0)))
    v.drain(0.6)
    v.submit([PlaceOrder(1, "buy", 100.2, 8.0, "ioc", "hedge")], 0.6)
    got = v.drain(1.0)
    assert [(f.price, f.size, f.liquidity) for f in fills(got)] == [(100.1, 5.0, "taker"), (100.2, 1.0, "taker")]
    assert [e.reason for e in got if isinstance(e, OrderCanceled)] == ["canceled"]


def test_a_gap_in_the_data_is_a_stale_feed_until_the_data_resumes():
    from adapters.replay.columns import GAP, RESUME
    from adapters.replay.readers import read
    from runtime.events import VenueStatus
    from pathlib import Path
    cols, gaps = read(Path("t.csv"), b"ts_ms,price,qty,side\n1000,100.0,1,buy\n2000,100.1,1,sell\n"
                      b"400000,100.2,1,buy\n", "trades-csv")
    assert [(g.start_ts, g.seconds, g.where) for g in gaps] == [(2.0, 398.0, "t.csv:4")]
    v = ReplayVenue(MARKET, cols.arrays(), ReplayConfig(request_limit=0, snapshot_interval_s=3600))
    asyncio.run(v.start())
    statuses = [(e.ts, e.book_synced) for e in v.drain(500.0) if isinstance(e, VenueStatus)]
    assert statuses == [(1.0, True), (2.0, False), (400.0, True)]
    assert GAP in cols.kind and RESUME in cols.kind
