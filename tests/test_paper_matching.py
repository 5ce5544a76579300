"""The paper venue's matching model (adapters/paper/matching.py), and the latency and outages
the paper venue adds around it: each stated on a hand-made book and prints."""
from __future__ import annotations

import asyncio

import pytest

from adapters.paper.config import FaultWindow, PaperConfig, PaperFaults
from adapters.paper.matching import QueuedOrder, QueueModel, Touch
from adapters.paper.venue import PaperVenue
from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, MarketTrade, OrderAccepted, OrderOpen, OutcomeUnknown,
                            PositionSnapshot, VenueStatus)
from runtime.intents import CancelOrder, PlaceOrder
from runtime.market import MarketSpec

SOL = MarketSpec(market_id=2, symbol="SOL", price_decimals=3, size_decimals=3, min_base_units=0.061, min_quote=10.0)
TOUCH = Touch(bid_ticks=184_980, bid_lots=5_000, ask_ticks=185_020, ask_lots=7_000)


def test_an_order_joins_behind_what_is_displayed_at_its_price():
    q = QueueModel(behind_touch_lots=2_000)
    assert q.ahead_on_join("buy", 184_980, TOUCH) == 5_000       # at the touch: the touch size
    assert q.ahead_on_join("buy", 184_990, TOUCH) == 0           # inside the spread: first
    assert q.ahead_on_join("buy", 184_900, TOUCH) == 2_000       # behind the touch: the assumed depth
    assert q.ahead_on_join("sell", 185_020, TOUCH) == 7_000
    assert QueueModel(enabled=False).ahead_on_join("buy", 184_980, TOUCH) == 0


def test_prints_at_our_price_trade_the_queue_ahead_first():
    q = QueueModel()
    order = QueuedOrder(1, "buy", 184_980, remaining_lots=64, ahead_lots=5_000)
    assert q.print_fills([order], "sell", 184_980, 4_990) == []    # 10 lots still ahead
    assert order.ahead_lots == 10
    [(filled, lots)] = q.print_fills([order], "sell", 184_980, 40)
    assert filled is order and lots == 30                         # 10 for the queue, 30 for us
    assert q.print_fills([order], "buy", 184_980, 1_000) == []     # a buy print never fills a bid


def test_a_trade_through_fills_by_the_prints_size_at_most():
    q = QueueModel()
    order = QueuedOrder(1, "buy", 184_980, remaining_lots=64, ahead_lots=5_000)
    [(_, lots)] = q.print_fills([order], "sell", 184_970, 25)      # through our level: the queue is gone
    assert lots == 25 and order.ahead_lots == 0
    better = QueuedOrder(2, "buy", 184_990, remaining_lots=20)
    fills = q.print_fills([order, better], "sell", 184_900, 30)    # best price first, the print shared
    assert [(o.client_id, lots) for o, lots in fills] == [(2, 20), (1, 10)]


def test_the_book_crossing_us_fills_up_to_the_displayed_size():
    q = QueueModel()
    order = QueuedOrder(1, "buy", 185_030, remaining_lots=9_000, ahead_lots=100)
    [(_, lots)] = q.cross_fills([order], TOUCH)                   # 7 SOL displayed at the ask
    assert lots == 7_000
    assert QueueModel(enabled=False).cross_fills([QueuedOrder(1, "buy", 185_030, 9_000)], TOUCH)[0][1] == 9_000
    assert q.cross_fills([QueuedOrder(3, "sell", 185_030, 64)], TOUCH) == []


# -- the venue around the model ---------------------------------------------------------------

def started(paper: PaperConfig) -> PaperVenue:
    venue = PaperVenue(SOL, paper, 0.0)
    asyncio.run(venue.start())
    return venue


def bid_well_below(venue: PaperVenue, now: float) -> float:
    book = [e for e in venue.drain(now) if isinstance(e, BookTop)][-1]
    return round(book.bid_px * 0.99, 3)


def test_default_latency_is_a_round_trip_each_way():
    paper = PaperConfig()
    assert paper.latency_s > 0 and paper.response_latency_s > 0 and paper.queue_position
    venue = started(paper)
    price = bid_well_below(venue, 10.0)
    venue.submit([PlaceOrder(1, "buy", price, 0.064, "post_only", "quote")], 10.0)
    assert not [e for e in venue.drain(10.09) if isinstance(e, (OrderAccepted, OrderOpen))]
    acks = [e for e in venue.drain(10.11) if isinstance(e, (OrderAccepted, OrderOpen))]
    assert [type(e) for e in acks] == [OrderAccepted, OrderOpen] and acks[0].ts == pytest.approx(10.1)


def test_a_refused_cancel_leaves_the_order_resting():
    venue = started(PaperConfig(faults=PaperFaults(cancel_reject_prob=1.0)))
    price = bid_well_below(venue, 5.0)
    venue.submit([PlaceOrder(1, "buy", price, 0.064, "post_only", "quote")], 5.0)
    venue.drain(6.0)
    venue.submit([CancelOrder(1)], 6.0)
    events = venue.drain(7.0)
    assert [e.client_id for e in events if isinstance(e, CancelRejected)] == [1]
    assert [o.client_id for o in venue.open_orders()] == [1]


def test_a_feed_stall_is_silent_and_resumes_with_the_current_top():
    venue = started(PaperConfig(faults=PaperFaults(script=(FaultWindow(kind="feed_stall", at_s=10, duration_s=5),))))
    venue.drain(10.0)
    quiet = venue.drain(14.9)
    assert not [e for e in quiet if isinstance(e, (BookTop, MarketTrade, VenueStatus))]
    resumed = venue.drain(15.0)
    assert isinstance(resumed[0], BookTop) and resumed[0].ts == 15.0


def test_a_disconnect_says_so_refuses_sends_and_rereads_the_account_on_reconnect():
    venue = started(PaperConfig(faults=PaperFaults(script=(FaultWindow(kind="disconnect", at_s=10, duration_s=5),))))
    price = bid_well_below(venue, 9.0)
    down = venue.drain(10.0)
    assert [e.connected for e in down if isinstance(e, VenueStatus)] == [False]
    venue.submit([PlaceOrder(1, "buy", price, 0.064, "post_only", "quote")], 11.0)
    during: list[Event] = venue.drain(14.9)
    # no market data, no account events: only the send's unknown outcome (and the client's own budget count)
    assert [type(e) for e in during if not isinstance(e, BudgetUpdate)] == [OutcomeUnknown]
    up = venue.drain(15.2)
    status = [e for e in up if isinstance(e, VenueStatus)]
    assert [(s.connected, s.book_synced) for s in status] == [(True, True)]
    assert any(isinstance(e, PositionSnapshot) for e in up) and venue.open_orders() == []
