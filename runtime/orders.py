"""Our own orders as the runtime believes them to be, updated from intents and venue events.

The tracker's one promise is about exposure: for each side, what it counts is never
less than what the venue could still fill. So every doubt keeps an order counted:

- A sent order is SENT until the API answers and ACCEPTED until it is OPEN on the book
  (on Lighter a sendTx 200 means only "accepted by the API"); both count.
- A refused cancel (Lighter 21600: "not an active order") does not mean the order is
  gone: it may have filled, or the venue may be behind. It becomes UNKNOWN and keeps
  counting until a fill, a cancel or an OrdersSnapshot settles it.
- A send whose outcome is unknown (timeout, 429, 5xx), and a send never acknowledged
  within `ack_timeout_s`, become UNKNOWN the same way. A pending modify counts at the
  larger of the old and the new size.
- An OrdersSnapshot settles doubts: an order it lists is open with the venue's price and
  (when we have seen exactly the fills it includes) its remaining size; an order it does
  not list, though it must have reached the venue by then, is gone. An order it lists
  that we do not know (left by an earlier run, or a send whose answer was lost) is
  adopted as an `orphan`, counted, and canceled by the Trader.

Sizes are integer lots, as the venue counts them, so remaining sizes never drift.
"""
from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Literal

from runtime.events import (CancelRejected, Fill, ModifyRejected, OrderAccepted, OrderCanceled, OrderModified,
                            OrderOpen, OrderRejected, OrdersSnapshot, OutcomeUnknown, Side)
from runtime.intents import ModifyOrder, PlaceOrder
from runtime.market import MarketSpec

# Client ids stay below Lighter's 2^48 bound and differ across restarts (time-based start).
_CLIENT_ID_SPACE = 2**40
# Finished client ids remembered so that a snapshot taken before an order ended does not
# resurrect it as an orphan.
_FINISHED_MEMORY = 4096
_EXPIRY_MARGIN_S = 1e-6

OrderPurpose = Literal["quote", "hedge", "orphan"]


class OrderState(enum.Enum):
    SENT = "sent"              # submitted, no answer yet
    ACCEPTED = "accepted"      # the venue's API took it; not yet on the book
    OPEN = "open"              # resting on the book
    CANCELING = "canceling"    # we asked to cancel; it may still fill until the venue confirms
    UNKNOWN = "unknown"        # a send or cancel whose outcome we do not know; settled by a snapshot


# States in which an order is ours to requote: not on its way out, not in doubt.
_WORKING = (OrderState.SENT, OrderState.ACCEPTED, OrderState.OPEN)


@dataclass(slots=True)
class LiveOrder:
    client_id: int
    side: Side
    price: float
    size_lots: int
    remaining_lots: int
    purpose: OrderPurpose
    tif: str
    placed_ts: float
    lot: float                          # units per lot, to report sizes in units
    state: OrderState = OrderState.SENT
    decision: int = 0
    reduce_only: bool = False
    order_id: str = ""
    open_ts: float | None = None        # venue time it was first seen on the book
    state_ts: float = 0.0               # when it entered `state`
    priced_ts: float = 0.0              # when its price was last set (placed or modified): its quote age
    modify_to: tuple[float, int] | None = None   # (price, lots) of a modify in flight
    gone_at_seq: int = 0                # missing from a snapshot that counts fills we have not seen yet
    filled_lots: int = 0                # fills of it that reached us

    @property
    def remaining(self) -> float:
        return self.remaining_lots * self.lot

    @property
    def size(self) -> float:
        return self.size_lots * self.lot

    @property
    def exposure_lots(self) -> int:
        """What this order could still fill: the larger side of a modify in flight."""
        if self.modify_to is not None and self.modify_to[1] > self.remaining_lots:
            return self.modify_to[1]
        return self.remaining_lots

    @property
    def working(self) -> bool:
        return self.state in _WORKING


class OrderTracker:
    """Client-id keyed view of our live orders plus lifetime counters."""

    def __init__(self, market: MarketSpec, start_ts: float = 0.0, settle_s: float = 1.0):
        self.market = market
        # How long after its send an order must appear in a snapshot, else it never reached the book.
        self.settle_s = settle_s
        self._lot = market.lot
        self._next_id = int(start_ts * 1000) % _CLIENT_ID_SPACE + 1
        self.orders: dict[int, LiveOrder] = {}
        self._finished: dict[int, float] = {}        # client id -> venue ts it ended
        self._finished_order: deque[int] = deque()
        self.needs_snapshot = False                  # some order is in doubt; ask the venue
        # Bumped by every call that may change an order (what we sent, what the venue said, a
        # timeout): equal versions mean the same orders in the same states, so a step whose
        # other inputs are unchanged too may reuse its last answer (Hedger.step, Trader._requote).
        self.version = 0
        self._expiry_key: tuple[int, float] | None = None   # expire()'s memo: (version, timeout) of its last scan
        self._expiry_due = -math.inf                          # ... and the earliest deadline it saw
        self.last_seq = 0
        # lifetime counters
        self.placed_total = 0
        self.modified_total = 0
        self.cancels_sent_total = 0
        self.canceled_total = 0
        self.rejected_total = 0
        self.rejected_by_code: dict[int, int] = {}
        self.cancel_rejected_total = 0
        self.modify_rejected_total = 0
        self.unknown_total = 0
        self.rate_limited_total = 0
        self.vanished_total = 0                      # gone from a snapshot without a cancel or fill seen
        self.orphans_total = 0
        self.fills_total = 0

    def next_client_id(self) -> int:
        cid = self._next_id
        self._next_id += 1
        return cid

    # -- what we sent -----------------------------------------------------------------------------
    def on_place(self, intent: PlaceOrder, now: float) -> None:
        lots = self.market.size_lots(intent.size)
        self.version += 1
        self.orders[intent.client_id] = LiveOrder(
            intent.client_id, intent.side, intent.price, lots, lots, intent.purpose, intent.tif, now, self._lot,
            decision=intent.decision, reduce_only=intent.reduce_only, state_ts=now, priced_ts=now)
        self.placed_total += 1

    def on_modify(self, intent: ModifyOrder, now: float) -> None:
        order = self.orders.get(intent.client_id)
        self.version += 1
        if order is not None:
            order.modify_to = (intent.price, self.market.size_lots(intent.size))
            order.decision = intent.decision or order.decision
            order.priced_ts = now
            self.modified_total += 1

    def on_cancel(self, client_id: int, now: float) -> None:
        order = self.orders.get(client_id)
        self.version += 1
        if order is not None and order.state is not OrderState.CANCELING:
            order.state, order.state_ts = OrderState.CANCELING, now
            self.cancels_sent_total += 1

    def on_cancel_all(self, now: float) -> None:
        self.version += 1
        for order in self.orders.values():
            if order.state is not OrderState.CANCELING:
                order.state, order.state_ts = OrderState.CANCELING, now

    # -- what the venue said ----------------------------------------------------------------------
    def apply(self, event) -> LiveOrder | None:
        """Update from one venue order event; returns the order it concerned, if we know it."""
        self.version += 1
        kind = type(event)
        if kind is Fill:
            return self._fill(event)
        if kind is OrdersSnapshot:
            self._reconcile(event)
            return None
        order = self.orders.get(event.client_id)
        if kind is OrderAccepted:
            if order is not None and order.state is OrderState.SENT:
                order.state, order.state_ts = OrderState.ACCEPTED, event.ts
        elif kind is OrderOpen:
            if order is not None:
                order.order_id = event.order_id or order.order_id
                if order.open_ts is None:
                    order.open_ts = event.ts
                if order.state is not OrderState.CANCELING:
                    order.state, order.state_ts = OrderState.OPEN, event.ts
        elif kind is OrderModified:
            if order is not None:
                order.price = event.price
                order.remaining_lots = self.market.lots(event.size)
                order.modify_to = None
        elif kind is OrderCanceled:
            self.canceled_total += 1
            due = 0 if order is None or event.filled_size is None else \
                self.market.lots(event.filled_size) - order.filled_lots
            if due > 0:
                # Canceled, but part of it filled and those fills have not reached us: it keeps
                # counting for exactly what is still due.
                order.remaining_lots, order.modify_to = due, None
                order.state, order.state_ts = OrderState.CANCELING, event.ts
            else:
                self._finish(event.client_id, event.ts)
        elif kind is OrderRejected:
            self.rejected_total += 1
            self.rejected_by_code[event.code] = self.rejected_by_code.get(event.code, 0) + 1
            self._finish(event.client_id, event.ts)
        elif kind is CancelRejected:
            self.cancel_rejected_total += 1
            self._doubt(order, event.ts)
        elif kind is ModifyRejected:
            self.modify_rejected_total += 1
            if order is not None:
                order.modify_to = None   # still counted at max(old, new) until here; now the old size
            self._doubt(order, event.ts)
        elif kind is OutcomeUnknown:
            self.unknown_total += 1
            if event.rate_limited:
                self.rate_limited_total += 1
            self._doubt(order, event.ts)
        return order

    def _doubt(self, order: LiveOrder | None, ts: float) -> None:
        if order is not None:
            order.state, order.state_ts = OrderState.UNKNOWN, ts
            self.needs_snapshot = True

    def note_seq(self, seq: int) -> None:
        """A position event (fill or funding) the venue numbered `seq` has reached us."""
        if seq > self.last_seq:
            self.last_seq = seq
            self.version += 1
            gone = [o for o in self.orders.values() if o.gone_at_seq and o.gone_at_seq <= seq]
            for order in gone:   # every fill the snapshot knew of has arrived: it is really gone
                self.vanished_total += 1
                self._finish(order.client_id, order.state_ts)

    def _fill(self, event: Fill) -> LiveOrder | None:
        self.fills_total += 1
        self.note_seq(event.seq)
        order = self.orders.get(event.client_id)
        if order is not None:
            lots = self.market.lots(event.size)
            order.filled_lots += lots
            order.remaining_lots -= lots
            if order.remaining_lots <= 0:
                self._finish(event.client_id, event.ts)
        return order

    def _finish(self, client_id: int, ts: float) -> None:
        self.version += 1
        if self.orders.pop(client_id, None) is None:
            return
        self._finished[client_id] = ts
        self._finished_order.append(client_id)
        if len(self._finished_order) > _FINISHED_MEMORY:
            self._finished.pop(self._finished_order.popleft(), None)

    def _reconcile(self, snapshot: OrdersSnapshot) -> None:
        """Settle every doubt the snapshot can settle (see the module doc)."""
        listed = {report.client_id: report for report in snapshot.orders}
        # The snapshot's remaining sizes are ours to take only if we have seen exactly the fills it
        # includes: with fills still on their way ours is larger (safe), and a stale snapshot does
        # not know fills we already booked.
        as_of = snapshot.as_of_seq
        fills_complete = as_of is None or self.last_seq == as_of
        for client_id, order in list(self.orders.items()):
            report = listed.pop(client_id, None)
            if report is None:
                reached_venue = order.open_ts is not None and order.open_ts <= snapshot.ts
                if reached_venue or order.placed_ts + self.settle_s <= snapshot.ts:
                    if as_of is not None and self.last_seq < as_of:
                        # It may have filled, and that fill is still on its way: keep counting it
                        # until our fills catch up with the snapshot (note_seq) or time runs out.
                        order.gone_at_seq = as_of
                        order.state, order.state_ts = OrderState.UNKNOWN, snapshot.ts
                    else:
                        self.vanished_total += order.state is not OrderState.CANCELING
                        self._finish(client_id, snapshot.ts)
                continue
            order.gone_at_seq = 0
            if order.state in (OrderState.UNKNOWN, OrderState.SENT, OrderState.ACCEPTED):
                order.state, order.state_ts = OrderState.OPEN, snapshot.ts
            if order.open_ts is None:
                order.open_ts = snapshot.ts
            order.order_id = report.order_id or order.order_id
            order.price = report.price
            if fills_complete:
                order.remaining_lots = self.market.lots(report.remaining)
        for client_id, report in listed.items():
            if client_id in self._finished and self._finished[client_id] >= snapshot.ts:
                continue   # the snapshot predates the end we already saw
            lots = self.market.lots(report.remaining)
            self.orders[client_id] = LiveOrder(client_id, report.side, report.price, lots, lots, "orphan", "gtc",
                                               snapshot.ts, self._lot, OrderState.OPEN, order_id=report.order_id,
                                               open_ts=snapshot.ts, state_ts=snapshot.ts, priced_ts=snapshot.ts)
            self.orphans_total += 1
        self.needs_snapshot = any(o.state is OrderState.UNKNOWN for o in self.orders.values())

    def expire(self, now: float, ack_timeout_s: float) -> list[LiveOrder]:
        """Orders sent more than `ack_timeout_s` ago and still unanswered become UNKNOWN; one missing
        from a snapshot whose fills never came within that time is taken as gone.

        Called every tick, it finds nothing nearly always: while the orders' version and the
        timeout are those of the last scan and `now` is before the earliest deadline that scan
        saw, nothing can be due, so the orders are not visited (a few % of a replay tick)."""
        if self._expiry_key == (self.version, ack_timeout_s) and now < self._expiry_due:
            return []
        expired = []
        due = math.inf
        for order in list(self.orders.values()):
            if order.gone_at_seq:
                if now - order.state_ts >= ack_timeout_s:
                    self.vanished_total += 1
                    self._finish(order.client_id, order.state_ts)
                    continue
                due = min(due, order.state_ts + ack_timeout_s)
            if order.state in (OrderState.SENT, OrderState.ACCEPTED):
                if now - order.placed_ts >= ack_timeout_s:
                    order.state, order.state_ts = OrderState.UNKNOWN, now
                    expired.append(order)
                else:
                    due = min(due, order.placed_ts + ack_timeout_s)
        if expired:
            self.version += 1
            self.needs_snapshot = True
        # A margin so that `now < due` implies `now - ts < ack_timeout_s` whatever the rounding.
        self._expiry_key, self._expiry_due = (self.version, ack_timeout_s), due - _EXPIRY_MARGIN_S
        return expired

    # -- queries ----------------------------------------------------------------------------------
    def live(self, purpose: OrderPurpose | None = None) -> Iterator[LiveOrder]:
        for order in self.orders.values():
            if purpose is None or order.purpose == purpose:
                yield order

    def quote(self, side: Side) -> LiveOrder | None:
        """Our working quote on `side` (not being canceled, not in doubt)."""
        for order in self.orders.values():
            if order.purpose == "quote" and order.side == side and order.state in _WORKING:
                return order
        return None

    def in_doubt(self, side: Side, purpose: OrderPurpose) -> bool:
        """An order of ours on `side` whose fate we do not know: place nothing beside it until settled."""
        for o in self.orders.values():
            if o.state is OrderState.UNKNOWN and o.side == side and o.purpose == purpose:
                return True
        return False

    def quotes(self) -> tuple[LiveOrder | None, LiveOrder | None, bool, bool]:
        """(quote("buy"), quote("sell"), in_doubt("buy", "quote"), in_doubt("sell", "quote")) in one
        pass over the orders, for the requote step of every tick."""
        bid = ask = None
        bid_doubt = ask_doubt = False
        unknown = OrderState.UNKNOWN
        for o in self.orders.values():
            if o.purpose != "quote":
                continue
            state, side = o.state, o.side
            if state is unknown:
                if side == "buy":
                    bid_doubt = True
                elif side == "sell":
                    ask_doubt = True
            elif state in _WORKING:
                if side == "buy":
                    if bid is None:
                        bid = o
                elif side == "sell" and ask is None:
                    ask = o
        return bid, ask, bid_doubt, ask_doubt

    def hedge(self) -> LiveOrder | None:
        """Our working hedge order (not being canceled, not in doubt)."""
        for order in self.orders.values():
            if order.purpose == "hedge" and order.state in _WORKING:
                return order
        return None

    def hedge_in_doubt(self) -> bool:
        for o in self.orders.values():
            if o.purpose == "hedge" and o.state is OrderState.UNKNOWN:
                return True
        return False

    def hedge_and_doubt(self) -> tuple[LiveOrder | None, bool]:
        """(hedge(), hedge_in_doubt()) in one pass over the orders."""
        live = None
        doubt = False
        for o in self.orders.values():
            if o.purpose == "hedge":
                state = o.state
                if state is OrderState.UNKNOWN:
                    doubt = True
                elif live is None and state in _WORKING:
                    live = o
        return live, doubt

    def exposure_lots(self, side: Side) -> int:
        """Lots our orders on `side` could still add, whatever their state."""
        total = 0
        for o in self.orders.values():
            if o.side == side:
                total += o.exposure_lots
        return total

    def exposure(self, side: Side) -> float:
        """`exposure_lots` in units (what the risk gate compares with its limits)."""
        return self.exposure_lots(side) * self._lot

    def best_own(self, side: Side) -> float | None:
        """Our most aggressive live price on `side` (highest bid / lowest ask), for the self-trade check."""
        orders = self.orders.values()
        prices = [o.price for o in orders if o.side == side]
        if not prices:
            return None
        for o in orders:
            if o.modify_to is not None and o.side == side:
                prices.append(o.modify_to[0])
        return max(prices) if side == "buy" else min(prices)
