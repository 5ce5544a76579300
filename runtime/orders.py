"""Our own orders, as the runtime believes them to be, updated from intents and events.

A sent order is `pending` until the venue acknowledges it: on Lighter a sendTx
200 means only "accepted by the API", the sequencer may still cancel it (post-only
crossing, reduce-only...). Risk checks count pending and open orders alike, so a
burst of quotes can never add up to more than the hard limits allow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from runtime.events import Event, Fill, OrderAccepted, OrderCanceled, OrderRejected, Side
from runtime.intents import PlaceOrder, Purpose

# A remainder below this many units is float dust from partial fills, not an order.
_DUST_UNITS = 1e-9
# Client ids stay below Lighter's 2^48 bound and differ across restarts (time-based start).
_CLIENT_ID_SPACE = 2**40


@dataclass(slots=True)
class LiveOrder:
    client_id: int
    side: Side
    price: float
    size: float
    remaining: float
    purpose: Purpose
    tif: str
    placed_ts: float
    status: str = "pending"       # pending -> open; "canceling" once we asked to cancel
    decision: int = 0


class OrderTracker:
    """Client-id keyed view of our live orders plus lifetime counters."""

    def __init__(self, start_ts: float = 0.0):
        self._next_id = int(start_ts * 1000) % _CLIENT_ID_SPACE + 1
        self.orders: dict[int, LiveOrder] = {}
        self.placed_total = 0
        self.canceled_total = 0
        self.rejected_total = 0
        self.fills_total = 0

    def next_client_id(self) -> int:
        cid = self._next_id
        self._next_id += 1
        return cid

    def on_place(self, intent: PlaceOrder, now: float) -> None:
        self.orders[intent.client_id] = LiveOrder(intent.client_id, intent.side, intent.price, intent.size,
                                                  intent.size, intent.purpose, intent.tif, now,
                                                  decision=intent.decision)
        self.placed_total += 1

    def on_cancel(self, client_id: int) -> None:
        order = self.orders.get(client_id)
        if order is not None:
            order.status = "canceling"

    def apply(self, event: Event) -> LiveOrder | None:
        """Update from a venue event; returns the order it concerned, if we know it."""
        kind = type(event)
        if kind is Fill:
            order = self.orders.get(event.client_id)
            self.fills_total += 1
            if order is not None:
                order.remaining -= event.size
                if order.remaining <= _DUST_UNITS:
                    del self.orders[event.client_id]
            return order
        if kind is OrderAccepted:
            order = self.orders.get(event.client_id)
            if order is not None and order.status == "pending":
                order.status = "open"
            return order
        if kind is OrderCanceled:
            self.canceled_total += 1
            return self.orders.pop(event.client_id, None)
        if kind is OrderRejected:
            self.rejected_total += 1
            return self.orders.pop(event.client_id, None)
        return None

    def live(self, purpose: Purpose | None = None) -> Iterator[LiveOrder]:
        for order in self.orders.values():
            if purpose is None or order.purpose == purpose:
                yield order

    def quote(self, side: Side) -> LiveOrder | None:
        """Our resting quote on `side` that is not already being canceled."""
        for order in self.orders.values():
            if order.purpose == "quote" and order.side == side and order.status != "canceling":
                return order
        return None

    def hedge(self) -> LiveOrder | None:
        for order in self.orders.values():
            if order.purpose == "hedge" and order.status != "canceling":
                return order
        return None

    def exposure(self, side: Side) -> float:
        """Units our live orders on `side` could still add (pending, open and canceling alike)."""
        return sum(o.remaining for o in self.orders.values() if o.side == side)

    def best_own(self, side: Side) -> float | None:
        """Our most aggressive live price on `side` (highest bid / lowest ask), for the self-trade check."""
        prices = [o.price for o in self.orders.values() if o.side == side]
        if not prices:
            return None
        return max(prices) if side == "buy" else min(prices)
