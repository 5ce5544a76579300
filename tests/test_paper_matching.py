"""The paper venue around the shared matcher (adapters/matching.py, tested in test_matching.py):
where an order joins the queue on the simulated book, and the latency and outages the paper
venue adds around matching."""
from __future__ import annotations

import asyncio

import pytest

from adapters.paper.config import FaultWindow, PaperConfig, PaperFaults
from adapters.paper.venue import PaperVenue
from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, MarketTrade, OrderAccepted, OrderOpen, OutcomeUnknown,
                            PositionSnapshot, VenueStatus)
from runtime.intents import CancelOrder, PlaceOrder
from runtime.market import MarketSpec

SOL = MarketSpec(market_id=2, symbol="SOL", price_decimals=3, size_decimals=3, min_base_units=0.061, min_quote=10.0)


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


def test_an_order_joins_behind_what_the_simulated_book_displays_at_its_price():
    """At the touch, behind its size; inside the spread, first; behind the touch, behind the
    assumed depth `queue_behind_touch_units`; with the queue model off, first everywhere."""
    def fronts(paper: PaperConfig) -> list[float]:
        venue = started(paper)
        book = [e for e in venue.drain(5.0) if isinstance(e, BookTop)][-1]
        tick = 0.001
        bid, ask = round(book.bid_px, 3), round(book.ask_px, 3)
        assert ask - bid > 1.5 * tick, "the test needs room inside the spread"
        venue.submit([PlaceOrder(1, "buy", bid, 0.064, "post_only", "quote"),
                      PlaceOrder(2, "buy", round(bid + tick, 3), 0.064, "post_only", "quote"),
                      PlaceOrder(3, "buy", round(bid - 5 * tick, 3), 0.064, "post_only", "quote"),
                      PlaceOrder(4, "sell", ask, 0.064, "post_only", "quote")], 5.0)
        venue.drain(5.0)
        sim = venue._sim
        assert (sim.bid_px, sim.ask_px) == (book.bid_px, book.ask_px), "the book moved before the orders landed"
        return [venue._resting[c].queue.front for c in (1, 2, 3, 4)], (sim.bid_lots, sim.ask_lots)

    ideal = dict(latency_s=0.0, response_latency_s=0.0)
    got, (bid_lots, ask_lots) = fronts(PaperConfig(**ideal, queue_behind_touch_units=2.0))
    assert got == [bid_lots, 0, 2_000, ask_lots] and bid_lots > 0 and ask_lots > 0
    got, _ = fronts(PaperConfig(**ideal, queue_position=False))
    assert got == [0, 0, 0, 0]
