"""The venue contract: what every venue (paper, the fake Lighter server, replay) must do, and
what the core's bookkeeping must then make of it.

A venue test module subclasses `VenueContract` and provides the `desk` fixture: a `Desk`
around a started venue of that kind, with the faults a test asks for (`late_fills`,
`duplicate_fills`, `lost_acks`, `request_limit`). Each test drives the venue through the
`Venue` port only and feeds what comes back into a real `Trader` (events in, bookkeeping
out), asserting what a trader would check: what the venue holds, what the bot counts.

The Desk never lets the Trader quote by itself (it never calls `tick`): tests send their
own intents, registered with the Trader's order tracker as the Trader's gate would.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, Fill, ModifyRejected, OrderAccepted,
                            OrderCanceled, OrderModified, OrderOpen, OrderRejected, OutcomeUnknown,
                            PositionSnapshot, VenueStatus)
from runtime.intents import CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot
from runtime.orders import OrderState
from runtime.trader import Trader

STEP_S = 0.05


@dataclass
class Desk:
    """A started venue, a Trader fed with everything it says, and every event seen."""

    venue: object
    trader: Trader
    now: float = 0.0
    events: list[Event] = field(default_factory=list)
    # Venue internals a contract test may read to check the venue's own truth (position, open orders).
    venue_position: Callable[[], float] = lambda: 0.0
    venue_open: Callable[[], dict[int, float]] = dict
    new_trader: Callable[[], Trader] | None = None
    # A venue that runs on its own (a live adapter over a network): `now` is wall-clock time and
    # `pump` waits for it, so the venue's I/O really happens between drains.
    real_time: bool = False

    def restart(self) -> Desk:
        """A new Trader (a restarted bot) on the same, still running venue."""
        return Desk(self.venue, self.new_trader(), self.now, [], self.venue_position, self.venue_open,
                    self.new_trader, self.real_time)

    def send(self, *intents: Intent) -> None:
        """Register intents with the Trader (as its gate does after approving), then submit one batch."""
        for intent in intents:
            self.trader.register(intent, self.now)
        self.venue.submit(list(intents), self.now)

    def pump(self, seconds: float = 0.0) -> list[Event]:
        """Advance `seconds` in steps, draining into the Trader; returns what came."""
        got: list[Event] = []
        end = self.now + seconds
        while True:
            self.now = min(self.now + STEP_S, end) if seconds else self.now
            if self.real_time:
                time.sleep(max(0.0, self.now - time.time()))
            events = self.venue.drain(self.now)
            self.trader.on_events(events)
            self.trader.features.advance(self.now)
            got += events
            if self.now >= end:
                break
        self.events += got
        return got

    def touch(self) -> tuple[float, float]:
        books = [e for e in self.events if isinstance(e, BookTop)]
        assert books, "no book from the venue yet"
        return books[-1].bid_px, books[-1].ask_px

    def mine(self, client_id: int, events: list[Event] | None = None) -> list[Event]:
        return [e for e in (self.events if events is None else events) if getattr(e, "client_id", None) == client_id]

    def kinds(self, client_id: int) -> list[type]:
        return [type(e) for e in self.mine(client_id)]

    def next_id(self) -> int:
        return self.trader.orders.next_client_id()


def quote(client_id: int, side: str, price: float, size: float = 0.064, tif: str = "post_only",
          purpose: str = "quote") -> PlaceOrder:
    return PlaceOrder(client_id, side, round(price, 3), size, tif, purpose)


def exposure(desk: Desk, side: str) -> float:
    return desk.trader.orders.exposure(side)


class VenueContract:
    """Subclass and provide `desk(**faults)` as a fixture factory named `make_desk`."""

    # -- lifecycle ----------------------------------------------------------------------------
    def test_start_reports_status_and_the_market_spec(self, make_desk):
        desk = make_desk()
        assert any(isinstance(e, VenueStatus) and e.connected and e.book_synced for e in desk.events)
        assert desk.trader.venue_healthy
        assert desk.venue.market.min_base_units > 0 and desk.venue.market.price_decimals >= 0

    def test_place_is_accepted_then_open_and_cancel_ends_it(self, make_desk):
        desk = make_desk()
        bid, _ = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", bid * 0.99))
        desk.pump(0.2)
        assert desk.kinds(cid)[:2] == [OrderAccepted, OrderOpen]
        assert desk.trader.orders.orders[cid].state is OrderState.OPEN
        assert desk.venue_open() == {cid: 0.064}
        desk.send(CancelOrder(cid))
        desk.pump(0.2)
        assert desk.kinds(cid)[-1] is OrderCanceled and cid not in desk.trader.orders.orders
        assert desk.venue_open() == {}

    def test_the_intents_of_one_submit_are_applied_in_order(self, make_desk):
        desk = make_desk()
        bid, _ = desk.touch()
        first, second = desk.next_id(), desk.next_id()
        desk.send(quote(first, "buy", bid * 0.99))
        desk.pump(0.2)
        desk.send(CancelOrder(first), quote(second, "buy", bid * 0.985))   # cancel, then place: one batch
        desk.pump(0.2)
        ends = [(e.client_id, type(e)) for e in desk.events if isinstance(e, (OrderCanceled, OrderOpen))
                and e.client_id in (first, second)]
        assert ends[-2:] == [(first, OrderCanceled), (second, OrderOpen)]

    def test_modify_moves_a_resting_order_in_place(self, make_desk):
        desk = make_desk()
        if not desk.venue.supports_modify:
            pytest.skip("this venue does not support modify")
        bid, _ = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", bid * 0.99))
        desk.pump(0.2)
        new_price = round(bid * 0.98, 3)
        desk.send(ModifyOrder(cid, new_price, 0.07))
        assert exposure(desk, "buy") == pytest.approx(0.07)       # in flight: the larger of old and new
        desk.pump(0.2)
        modified = [e for e in desk.mine(cid) if isinstance(e, OrderModified)]
        assert modified and (modified[-1].price, modified[-1].size) == (new_price, 0.07)
        order = desk.trader.orders.orders[cid]
        assert (order.price, order.remaining_lots, order.modify_to) == (new_price, 70, None)
        assert desk.venue_open() == {cid: 0.07}

    def test_modify_of_an_order_that_is_gone_is_refused_and_changes_nothing(self, make_desk):
        desk = make_desk()
        if not desk.venue.supports_modify:
            pytest.skip("this venue does not support modify")
        desk.send(ModifyOrder(999_999, 100.0, 0.064))
        desk.pump(0.2)
        assert [type(e) for e in desk.mine(999_999)] == [ModifyRejected]

    def test_post_only_that_would_cross_is_accepted_then_canceled(self, make_desk):
        desk = make_desk()
        _, ask = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", ask * 1.001))
        desk.pump(0.2)
        assert desk.kinds(cid) == [OrderAccepted, OrderCanceled]
        assert desk.mine(cid)[-1].reason == "canceled-post-only"
        assert cid not in desk.trader.orders.orders and exposure(desk, "buy") == 0

    def test_a_large_ioc_fills_partly_and_the_rest_is_canceled(self, make_desk):
        desk = make_desk()
        _, ask = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", ask + 0.002, size=50.0, tif="ioc", purpose="hedge"))
        desk.pump(0.2)
        fills = [e for e in desk.mine(cid) if isinstance(e, Fill)]
        assert fills and 0 < sum(f.size for f in fills) < 50.0
        assert desk.kinds(cid)[-1] is OrderCanceled and cid not in desk.trader.orders.orders
        assert desk.trader.features.values["inventory_units"] == pytest.approx(desk.venue_position())

    def test_invalid_amounts_are_rejected_and_not_counted(self, make_desk):
        desk = make_desk()
        bid, _ = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", bid * 0.99, size=0.001))
        desk.pump(0.2)
        rejected = [e for e in desk.mine(cid) if isinstance(e, OrderRejected)]
        assert [e.code for e in rejected] == [21706]
        assert exposure(desk, "buy") == 0 and desk.trader.orders.rejected_by_code == {21706: 1}

    # -- the races a real venue has -----------------------------------------------------------
    def test_a_refused_cancel_keeps_the_orders_exposure_counted(self, make_desk):
        """The order filled at the venue, but its fill is late: the cancel is refused (21600).
        Until the fill arrives the bot must keep counting it, or the gate would approve a second
        order as if the first had never existed."""
        desk = make_desk(late_fills=2.0)
        _, ask = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", ask * 1.002, size=0.1, tif="gtc"))   # crosses: fills at once, reported late
        desk.pump(0.2)
        assert desk.venue_position() == pytest.approx(0.1)
        desk.send(CancelOrder(cid))
        desk.pump(0.2)
        assert CancelRejected in desk.kinds(cid)
        assert desk.trader.orders.orders[cid].state is OrderState.UNKNOWN
        assert exposure(desk, "buy") == pytest.approx(0.1)          # still counted
        worst = desk.trader.features.values["inventory_units"] + exposure(desk, "buy")
        assert worst >= desk.venue_position()
        desk.pump(3.0)                                               # the fill arrives
        assert cid not in desk.trader.orders.orders
        assert desk.trader.features.values["inventory_units"] == pytest.approx(0.1)

    def test_a_fill_delivered_twice_is_booked_once(self, make_desk):
        desk = make_desk(duplicate_fills=True)
        _, ask = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", ask * 1.002, size=0.1, tif="ioc", purpose="hedge"))
        desk.pump(3.0)
        fills = [e for e in desk.mine(cid) if isinstance(e, Fill)]
        assert len(fills) >= 2 and len({f.trade_id for f in fills}) < len(fills)   # it came twice
        assert desk.trader.features.values["inventory_units"] == pytest.approx(0.1)
        assert desk.trader.features.position_book.duplicates_total == len(fills) - len({f.trade_id for f in fills})
        assert desk.trader.orders.fills_total == len({f.trade_id for f in fills})

    def test_a_snapshot_racing_a_fill_invents_nothing(self, make_desk):
        """The snapshot already includes a fill that is still on its way: the position must not
        move twice, and no fill or PnL may be made up for the gap."""
        desk = make_desk(late_fills=1.0)
        _, ask = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", ask * 1.002, size=0.1, tif="ioc", purpose="hedge"))
        desk.pump(0.1)
        desk.send(RequestSnapshot("test"))
        desk.pump(0.1)
        snapshot = [e for e in desk.events if isinstance(e, PositionSnapshot)][-1]
        assert snapshot.units == pytest.approx(0.1)                   # the venue already has it
        assert desk.trader.features.values["inventory_units"] == 0.0  # we do not, yet
        desk.pump(1.5)                                                # the fill arrives
        values = desk.trader.features.values
        assert values["inventory_units"] == pytest.approx(0.1) == desk.venue_position()
        assert desk.trader.features.position_book.mismatches_total == 0
        assert values["realized_pnl_total"] == 0.0

    def test_an_order_never_acknowledged_is_settled_by_a_snapshot(self, make_desk):
        desk = make_desk(lost_acks=True)
        bid, _ = desk.touch()
        cid = desk.next_id()
        desk.send(quote(cid, "buy", bid * 0.99))
        desk.pump(0.5)
        assert desk.kinds(cid) == []                                  # nothing came back
        order = desk.trader.orders.orders[cid]
        assert order.state is OrderState.SENT and exposure(desk, "buy") == pytest.approx(0.064)
        timeout = desk.trader.config.orders.ack_timeout_s
        desk.pump(timeout)
        intents = desk.trader._bookkeeping(desk.now)                   # the Trader's own reaction
        assert order.state is OrderState.UNKNOWN and exposure(desk, "buy") == pytest.approx(0.064)
        assert any(isinstance(i, RequestSnapshot) for i in intents)
        desk.send(*[i for i in intents if isinstance(i, RequestSnapshot)])
        desk.pump(0.2)
        assert order.state is OrderState.OPEN                          # the venue lists it: it is live
        assert desk.venue_open() == {cid: 0.064}

    def test_a_restart_seeds_the_position_and_cancels_orders_it_does_not_know(self, make_desk):
        desk = make_desk()
        _, ask = desk.touch()
        bid, _ = desk.touch()
        taker, resting = desk.next_id(), desk.next_id()
        desk.send(quote(taker, "buy", ask * 1.002, size=0.1, tif="ioc", purpose="hedge"),
                  quote(resting, "buy", bid * 0.98))
        desk.pump(0.3)
        fill = [e for e in desk.mine(taker) if isinstance(e, Fill)][-1]
        fresh = desk.restart()                                         # a new process, the venue unchanged
        fresh.send(RequestSnapshot("start-up"))
        fresh.pump(0.2)
        trader = fresh.trader
        assert trader.features.values["inventory_units"] == pytest.approx(0.1)
        assert trader.features.position.avg_entry == pytest.approx(fill.price)   # the venue's entry, not the mid
        assert trader.features.position_book.mismatches_total == 0
        orphan = trader.orders.orders[resting]
        assert orphan.purpose == "orphan" and exposure(fresh, "buy") == pytest.approx(0.064)
        cancels = [i for i in trader._bookkeeping(fresh.now) if isinstance(i, CancelOrder)]
        assert [c.client_id for c in cancels] == [resting]
        fresh.send(*cancels)
        fresh.pump(0.2)
        assert fresh.venue_open() == {} and resting not in trader.orders.orders

    # -- the request budget -------------------------------------------------------------------
    def test_the_budget_is_reported_and_a_send_over_it_has_an_unknown_outcome(self, make_desk):
        desk = make_desk(request_limit=3)
        bid, _ = desk.touch()
        ids = [desk.next_id() for _ in range(4)]
        for i, cid in enumerate(ids):     # four sends (on Lighter a batch is one request, so one each)
            desk.send(quote(cid, "buy", bid * (0.99 - 0.001 * i)))
        desk.pump(0.2)
        budgets = [e for e in desk.events if isinstance(e, BudgetUpdate)]
        assert budgets and (budgets[-1].used, budgets[-1].limit) == (3, 3)
        assert desk.trader.features.values["venue_budget_frac"] == 0.0
        refused = [e for e in desk.mine(ids[3]) if isinstance(e, OutcomeUnknown)]
        assert refused and refused[0].rate_limited
        assert desk.trader.orders.rate_limited_total == 1
        assert desk.trader.orders.orders[ids[3]].state is OrderState.UNKNOWN   # counted until settled
        assert set(desk.venue_open()) == set(ids[:3])
