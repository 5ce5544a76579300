"""Property: whatever order a venue's messages arrive in, the bot never counts less exposure than
the venue has, and its inventory converges to the venue's after the next snapshot.

A small model venue (the truth) takes our orders, fills and cancels them, and writes what
happened to three channels, each delivered in order but late by any amount relative to the
others, as on Lighter (order updates, trades and REST snapshots travel separately): order
events, fills (sometimes delivered twice, as after a reconnect), and snapshots (so a
snapshot may arrive stale, or ahead of fills it already counts). Hypothesis draws the
operations and the interleaving; a real Trader books everything it is delivered.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from lighter_bot import BotConfig
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.events import (CancelRejected, Fill, OpenOrderReport, OrderAccepted, OrderCanceled, OrderOpen,
                            OrdersSnapshot, PositionSnapshot)
from runtime.intents import CancelOrder, PlaceOrder
from runtime.market import market_spec
from runtime.trader import Trader
from paper_harness import POLICIES

CONFIG = BotConfig()
MARKET = market_spec(CONFIG.market)
LOT = MARKET.lot
PRICE = 185.0
POLICY_SET = load_policy_set([POLICIES], FEATURE_NAMES)


@dataclass
class ModelVenue:
    """The venue's truth and the three channels of what it has said."""

    orders: dict[int, tuple[str, int]] = field(default_factory=dict)   # client id -> (side, remaining lots)
    filled: dict[int, int] = field(default_factory=dict)               # client id -> lots filled in all
    position_lots: int = 0
    seq: int = 0
    ts: float = 0.0
    trades: int = 0
    channels: dict[str, deque] = field(default_factory=lambda: {"orders": deque(), "fills": deque(),
                                                                "snapshots": deque()})
    delivered_fills: list[Fill] = field(default_factory=list)

    def step(self) -> float:
        self.ts = round(self.ts + 0.01, 6)
        return self.ts

    def place(self, client_id: int, side: str, lots: int) -> None:
        ts = self.step()
        self.orders[client_id] = (side, lots)
        self.channels["orders"].append(OrderAccepted(ts, client_id, f"tx{client_id}"))
        self.channels["orders"].append(OrderOpen(ts, client_id, side, PRICE, lots * LOT))

    def fill(self, client_id: int, lots: int) -> None:
        side, remaining = self.orders[client_id]
        lots = min(lots, remaining)
        ts = self.step()
        self.seq += 1
        self.trades += 1
        self.position_lots += lots if side == "buy" else -lots
        self.filled[client_id] = self.filled.get(client_id, 0) + lots
        if remaining - lots:
            self.orders[client_id] = (side, remaining - lots)
        else:
            del self.orders[client_id]
        self.channels["fills"].append(Fill(ts, client_id, side, PRICE, lots * LOT, "maker",
                                           trade_id=f"t{self.trades}", seq=self.seq))

    def cancel(self, client_id: int) -> None:
        ts = self.step()
        if self.orders.pop(client_id, None) is not None:
            self.channels["orders"].append(OrderCanceled(ts, client_id, "requested",
                                                         self.filled.get(client_id, 0) * LOT))
        else:
            self.channels["orders"].append(CancelRejected(ts, client_id, 21600, "not an active order"))

    def snapshot(self) -> None:
        ts = self.step()
        self.channels["snapshots"].append(OrdersSnapshot(ts, tuple(
            OpenOrderReport(cid, side, PRICE, lots * LOT) for cid, (side, lots) in self.orders.items()), self.seq))
        self.channels["snapshots"].append(PositionSnapshot(ts, self.position_lots * LOT, PRICE, None, self.seq))

    def resting(self, side: str) -> int:
        return sum(lots for s, lots in self.orders.values() if s == side)


OPS = st.lists(st.one_of(
    st.tuples(st.just("place"), st.sampled_from(["buy", "sell"]), st.integers(61, 120)),
    st.tuples(st.just("fill"), st.integers(0, 7), st.integers(1, 120)),
    st.tuples(st.just("cancel"), st.integers(0, 7)),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("deliver"), st.sampled_from(["orders", "fills", "snapshots"]), st.integers(1, 4)),
    st.tuples(st.just("duplicate"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 2.5, 6.0])),
), min_size=1, max_size=60)


def check_worst_case(trader: Trader, venue: ModelVenue) -> None:
    """The gate's worst case (position plus every order that could still fill) is never milder than
    the venue's, on either side."""
    ours = round(trader.features.values["inventory_units"] / LOT)
    buy, sell = trader.orders.exposure_lots("buy"), trader.orders.exposure_lots("sell")
    assert ours + buy >= venue.position_lots + venue.resting("buy")
    assert ours - sell <= venue.position_lots - venue.resting("sell")


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_exposure_never_below_the_venue_and_inventory_converges(ops):
    trader = Trader(CONFIG, MARKET, POLICY_SET)
    venue = ModelVenue()
    sent: list[int] = []

    def deliver(channel: str, count: int) -> None:
        queue = venue.channels[channel]
        for _ in range(min(count, len(queue))):
            event = queue.popleft()
            if isinstance(event, Fill):
                venue.delivered_fills.append(event)
            trader.on_events([event])
            check_worst_case(trader, venue)

    for op in ops:
        kind = op[0]
        if kind == "place":
            cid = trader.orders.next_client_id()
            trader.register(PlaceOrder(cid, op[1], PRICE, op[2] * LOT, "post_only", "quote"), venue.ts)
            sent.append(cid)
            check_worst_case(trader, venue)     # counted from the moment it is sent
            venue.place(cid, op[1], op[2])
        elif kind == "fill" and venue.orders:
            cid = sorted(venue.orders)[op[1] % len(venue.orders)]
            venue.fill(cid, op[2])
        elif kind == "cancel" and sent:
            cid = sent[op[1] % len(sent)]
            trader.register(CancelOrder(cid), venue.ts)
            venue.cancel(cid)
        elif kind == "snapshot":
            venue.snapshot()
        elif kind == "deliver":
            deliver(op[1], op[2])
        elif kind == "duplicate" and venue.delivered_fills:
            trader.on_events([venue.delivered_fills[op[1] % len(venue.delivered_fills)]])
        elif kind == "wait":
            # Time passes with messages still in flight: snapshots waiting for fills give up and
            # correct, sends go unanswered past the ack timeout.
            venue.ts = round(venue.ts + op[1], 6)
            trader.features.advance(venue.ts)
            trader.orders.expire(venue.ts, CONFIG.orders.ack_timeout_s)
        check_worst_case(trader, venue)

    # A fresh snapshot, delivered before the fills still on their way: after the grace period the
    # bot holds the venue's position, and the late fills that then arrive do not move it again.
    venue.snapshot()
    deliver("orders", 10_000)
    deliver("snapshots", 10_000)
    later = venue.ts + CONFIG.orders.reconcile_grace_s + 0.01
    trader.features.advance(later)
    book = trader.features.position_book
    assert round(trader.features.values["inventory_units"] / LOT) == venue.position_lots
    deliver("fills", 10_000)
    assert round(trader.features.values["inventory_units"] / LOT) == venue.position_lots
    assert book.fifo.realized_total == 0.0          # every fill at one price: nothing may be invented
    # And once everything has arrived, one more snapshot leaves the tracker holding exactly the venue's orders.
    venue.snapshot()
    deliver("snapshots", 10_000)
    trader.orders.expire(later + 100.0, CONFIG.orders.ack_timeout_s)
    tracked = {cid: o.remaining_lots for cid, o in trader.orders.orders.items()}
    assert tracked == {cid: lots for cid, (side, lots) in venue.orders.items()}
