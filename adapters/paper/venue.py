"""The paper exchange: a `runtime.ports.Venue` that matches our orders against a simulated market.

It is our `MockTransport`: the runtime cannot tell it from the live adapter, so every
path the live venue can take (rejections, post-only cancels, partial IOC fills, refused
cancels, modifies, a request budget, snapshots for reconciliation, late and duplicated
fills, lost acknowledgements) can be exercised without keys or a network. Where Lighter
has a behaviour or a code for a case (accepted by the API, then open or canceled by the
sequencer; post-only crossing canceled; 21706, 21728, 21600; 60 requests a minute on a
standard account), the paper venue reproduces it.

Matching (adapters/matching.py, shared with the replay venue) puts our order behind what is displayed at its
price and fills a trade-through by the print's size at most; requests and answers each
take `latency_s` / `response_latency_s`, so cancels race fills. Our orders never move the
simulated market, so the market stream depends on the seed alone; the faults (late,
duplicated or lost reports, refused cancels, scripted feed stalls and disconnects) draw
from a random stream of their own.
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from adapters.matching import QueuePos, match_cross, match_print, queue_model
from adapters.paper.config import PaperConfig, RegimeName
from adapters.paper.market_sim import MarketSim
from adapters.request_budget import RequestBudget
from runtime.events import (CancelRejected, Event, Fill, Funding, Liquidity, MarketTrade,
                            ModifyRejected, OpenOrderReport, OrderAccepted, OrderCanceled, OrderModified, OrderOpen,
                            OrderRejected, OrdersSnapshot, OutcomeUnknown, PositionSnapshot, Side, VenueStatus)
from runtime.intents import CancelAll, CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot
from runtime.market import MarketSpec
from runtime.ports import VenueDisconnected

FUNDING_INTERVAL_S = 3600.0       # Lighter pays funding hourly
# Price impact of a taker order, per SOL taken: the touch is deep enough for our clips, but a
# bigger clip should cost more so hedger sizing and slippage caps are not free in paper.
TAKER_IMPACT_BPS_PER_UNIT = 0.5

CODE_INVALID_AMOUNT = 21706       # Lighter: invalid order base or quote amount
CODE_DUPLICATE_CLIENT_ID = 21728  # Lighter: client order index already exists
CODE_ORDER_NOT_LIVE = 21600       # Lighter: given order is not an active limit order
CODE_CANCEL_FAILED = 21601        # a cancel the venue could not carry out (the paper fault's code)

# Distance from a whole number of ticks/lots still treated as whole (float noise of user input).
_WHOLE_STEP_TOLERANCE = 1e-6
_BPS = 1e-4


@dataclass(frozen=True, slots=True)
class LiveOrder:
    """One of our orders resting on the paper book, as `open_orders()` reports it."""

    client_id: int
    side: Side
    price: float
    remaining_size: float
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class _OverBudget:
    """An intent the request budget refused at submit; its answer waits in the timeline."""

    intent: Intent


@dataclass(slots=True)
class _Resting:
    """One of our resting orders: `level` is its price in ticks, what the shared matcher
    (adapters/matching.py) compares the simulated prints and touch with; `price` as sent."""

    client_id: int
    side: Side
    level: int
    remaining_lots: int
    queue: QueuePos
    price: float
    reduce_only: bool = False
    filled_lots: int = 0

    @property
    def buy(self) -> bool:
        return self.side == "buy"


class PaperVenue:
    """A simulated Lighter market for one symbol, driven entirely by the `now` it is handed.

    `drain(now)` replays four timelines merged in time order: the market (steps and
    prints), our intents (each due `latency_s` after its submit), account snapshots and
    funding, and events held back by a fault (late or duplicated fills). On equal
    timestamps the market goes first, so an intent submitted at `now` after a
    `drain(now)` sees the book that drain returned.
    """

    supports_modify = True
    can_simulate = True

    def __init__(self, market: MarketSpec, paper: PaperConfig, start_ts: float = 0.0) -> None:
        self.market = market
        self.poll_interval_s: float | None = paper.poll_interval_s
        self._paper = paper
        self._faults = paper.faults
        self._fault_rng = random.Random(paper.faults.seed)
        self._sim = MarketSim(market, paper, start_ts)
        # Trade ids unique across runs (a real venue's are), so a fills ledger kept over restarts
        # never mistakes a new run's fill for one it already holds.
        self._trade_tag = f"{int(start_ts * 1000):x}"
        self._size_scale = 10**market.size_decimals
        self._price_scale = 10**market.price_decimals
        self._pending: list[tuple[float, int, Intent]] = []   # heap of (due_ts, submit order, intent)
        self._submitted = 0
        self._resting: dict[int, _Resting] = {}
        self._position_lots = 0
        self._entry_cost_ticks = 0       # position lots x average entry ticks (signed with the position)
        self._fills = 0
        self._cash_quote = 0.0           # the account's cash flow: trades, fees, funding (the venue's own books)
        self._seq = 0                    # position events (fills, funding), as the venue applied them
        self._tx = 0
        self._clock = start_ts
        self._next_snapshot_ts = start_ts
        self._next_funding_ts = start_ts + FUNDING_INTERVAL_S
        self._delayed: list[tuple[float, int, Event]] = []    # heap of (deliver_ts, order, event)
        self._delayed_n = 0
        self._budget = RequestBudget(paper.request_limit, paper.request_window_s)
        self._silent: set[int] = set()                        # orders whose acknowledgements are lost
        self._out: list[Event] = []
        self._wake: Callable[[], None] | None = None
        self._queue = queue_model("risk_averse" if paper.queue_position else "front_of_queue")
        self._behind_touch_lots = round(paper.queue_behind_touch_units * 10**market.size_decimals)
        self._response_s = paper.response_latency_s
        # Scripted outages as (ts, kind, starting) transitions, in time order.
        self._outages = sorted([(start_ts + w.at_s, w.kind, True) for w in paper.faults.script]
                               + [(start_ts + w.at_s + w.duration_s, w.kind, False) for w in paper.faults.script],
                               key=lambda t: (t[0], not t[2]))
        self._stalls = 0                 # feed stalls in force (they may overlap a disconnect)
        self._disconnected_until: float | None = None
        self._started = False
        self._stopped = False

    # -- the Venue port ------------------------------------------------------------------

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._out.append(VenueStatus(self._clock, True, True, "paper venue started"))

    def set_waker(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        self._require_running("submit")
        due_ts = now + self._paper.latency_s
        for intent in intents:
            if not self._budget.spend(intent, now):
                intent = _OverBudget(intent)     # answered when the venue's clock reaches `now`
                heapq.heappush(self._pending, (now, self._submitted, intent))
            else:
                heapq.heappush(self._pending, (due_ts, self._submitted, intent))
            self._submitted += 1

    def drain(self, now: float) -> list[Event]:
        if not self._started:
            raise VenueDisconnected("paper venue: drain() before start()")
        if not self._stopped:
            self._run_until(now)
            self._report_budget(now)
        out, self._out = self._out, []
        return out

    async def stop(self) -> None:
        """Cancel what is ours and go quiet. Intents still in flight end as canceled, so the
        runtime's tracker never waits on an order the venue will not process."""
        if self._stopped:
            return
        self._stopped = True
        for _, _, intent in sorted(self._pending):
            if isinstance(intent, PlaceOrder):
                self._out.append(OrderCanceled(self._clock, intent.client_id, "requested", 0.0))
        self._pending.clear()
        self._cancel_all()
        for _, _, event in sorted(self._delayed, key=lambda d: (d[0], d[1])):
            self._out.append(event)       # what was on its way arrives before the connection closes
        self._delayed.clear()
        self._out.append(VenueStatus(self._clock, False, False, "paper venue stopped"))

    # -- helpers for tests and the end-of-run check -----------------------------------

    def open_orders(self) -> list[LiveOrder]:
        return [LiveOrder(o.client_id, o.side, o.price, o.remaining_lots / self._size_scale, o.reduce_only)
                for o in self._resting.values()]

    @property
    def position_units(self) -> float:
        return self._position_lots / self._size_scale

    @property
    def cash_quote(self) -> float:
        """Quote currency in and out of the account since the start: sales less purchases, fees
        and funding. With the position marked at a price, the account's PnL as the venue books it."""
        return self._cash_quote

    @property
    def requests_in_window(self) -> int:
        return self._budget.used

    @property
    def regime(self) -> RegimeName:
        """The simulated market's current regime (for logs and scenario checks)."""
        return self._sim.regime

    # -- the merged timeline ------------------------------------------------------------

    def _run_until(self, now: float) -> None:
        """Simulate up to `now`; afterwards the venue's clock reads `now` (stop events and
        intents submitted with an older time are stamped no earlier)."""
        sim, pending, out = self._sim, self._pending, self._out
        while True:
            market_ts = sim.next_ts
            intent_ts = pending[0][0] if pending else math.inf
            snapshot_ts = min(self._next_snapshot_ts, self._next_funding_ts,
                              self._delayed[0][0] if self._delayed else math.inf,
                              self._outages[0][0] if self._outages else math.inf)
            feed = out if not self._stalls and self._disconnected_until is None else []
            if market_ts <= intent_ts and market_ts <= snapshot_ts:
                if market_ts > now:
                    break
                if not self._resting:
                    # Nothing to match: let the market run to the next thing we must do.
                    limit_ts = min(now, intent_ts, snapshot_ts)
                    sim.run_until(limit_ts, feed)
                    self._clock = max(self._clock, limit_ts)
                    continue
                self._clock = market_ts
                event = sim.advance()
                if event is None:
                    continue
                feed.append(event)
                if type(event) is MarketTrade:
                    self._match_print(event)
                else:
                    self._match_book()
            elif intent_ts <= snapshot_ts:
                if intent_ts > now:
                    break
                _, _, intent = heapq.heappop(pending)
                self._clock = max(self._clock, intent_ts)
                if self._disconnected_until is not None:
                    self._unreachable(intent)
                else:
                    self._apply(intent)
            else:
                if snapshot_ts > now:
                    break
                self._clock = snapshot_ts
                if self._outages and self._outages[0][0] == snapshot_ts:
                    self._outage(*self._outages.pop(0)[1:])
                elif self._delayed and self._delayed[0][0] == snapshot_ts:
                    event = heapq.heappop(self._delayed)[2]
                    out.append(event)
                    if type(event) is Fill and self._wake is not None:
                        self._wake()      # a fill reaching us wakes the loop, however late it comes
                elif snapshot_ts == self._next_funding_ts:
                    self._pay_funding()
                    self._next_funding_ts = snapshot_ts + FUNDING_INTERVAL_S
                else:
                    self._snapshots()
                    self._next_snapshot_ts = snapshot_ts + self._paper.snapshot_interval_s
        self._clock = max(self._clock, now)

    # -- intents ------------------------------------------------------------------------

    def _apply(self, intent: Intent) -> None:
        if isinstance(intent, PlaceOrder):
            self._place(intent)
        elif isinstance(intent, ModifyOrder):
            self._modify(intent)
        elif isinstance(intent, CancelOrder):
            faults = self._faults
            if faults.cancel_reject_prob and intent.client_id in self._resting \
                    and self._fault_rng.random() < faults.cancel_reject_prob:
                self._emit(CancelRejected(self._clock, intent.client_id, CODE_CANCEL_FAILED, "cancel failed"))
                return
            order = self._resting.pop(intent.client_id, None)
            if order is None:
                self._emit(CancelRejected(self._clock, intent.client_id, CODE_ORDER_NOT_LIVE,
                                          "given order is not an active limit order"))
            else:
                self._emit(self._canceled(order, "requested"))
        elif isinstance(intent, CancelAll):
            self._cancel_all()
        elif isinstance(intent, RequestSnapshot):
            self._snapshots()
        elif isinstance(intent, _OverBudget):
            for refusal in self._budget.refusals(intent.intent, self._clock, self._resting):
                self._emit(refusal)
        else:
            raise TypeError(f"paper venue: unknown intent {intent!r}")

    # -- the request budget ---------------------------------------------------------------

    def _report_budget(self, now: float) -> None:
        update = self._budget.report(now)
        if update is not None:
            self._out.append(update)

    # -- account reports ------------------------------------------------------------------

    def _snapshots(self) -> None:
        """The account as the venue sees it now, complete up to its latest position event."""
        ts, seq = self._clock, self._seq
        lots = self._position_lots
        entry = abs(self._entry_cost_ticks / lots) / self._price_scale if lots else 0.0
        self._emit(OrdersSnapshot(ts, tuple(
            OpenOrderReport(o.client_id, o.side, o.price, o.remaining_lots / self._size_scale, f"paper-{o.client_id}")
            for o in self._resting.values()), seq))
        self._emit(PositionSnapshot(ts, self.position_units, entry, None, seq))

    def _pay_funding(self) -> None:
        rate = self._paper.funding_rate_per_hour
        if rate == 0.0 or self._position_lots == 0:
            return
        self._seq += 1
        amount = -self.position_units * self._sim.mid * rate
        self._cash_quote += amount
        self._emit(Funding(self._clock, amount, rate, self._seq))

    def _ack(self, event: Event) -> None:
        """An acknowledgement of one of our orders, unless a fault lost that order's acks."""
        if event.client_id not in self._silent:
            self._emit(event)

    def _cancel_all(self) -> None:
        for order in list(self._resting.values()):
            del self._resting[order.client_id]
            self._emit(self._canceled(order, "requested"))

    def _canceled(self, order: _Resting, reason: str) -> OrderCanceled:
        return OrderCanceled(self._clock, order.client_id, reason, order.filled_lots / self._size_scale)

    def _place(self, order: PlaceOrder) -> None:
        ts = self._clock
        lots = _whole_steps(order.size, self._size_scale)
        price_ticks = _whole_steps(order.price, self._price_scale)
        if lots is None or price_ticks is None or lots <= 0 or not self.market.is_valid_order(order.price, order.size):
            self._emit(OrderRejected(ts, order.client_id, CODE_INVALID_AMOUNT, "invalid order base or quote amount"))
            return
        if order.client_id in self._resting:
            self._emit(OrderRejected(ts, order.client_id, CODE_DUPLICATE_CLIENT_ID, "client order index already exists"))
            return
        # From here on Lighter has accepted the transaction; any refusal is a sequencer cancel.
        self._tx += 1
        if self._faults.lost_ack_prob and self._fault_rng.random() < self._faults.lost_ack_prob:
            self._silent.add(order.client_id)
        self._ack(OrderAccepted(ts, order.client_id, f"paper-tx-{self._tx}"))
        if order.reduce_only and self._reducible_lots(order.side) == 0:
            self._emit(OrderCanceled(ts, order.client_id, "canceled-reduce-only", 0.0))
            return
        crosses = price_ticks >= self._sim.ask_ticks if order.side == "buy" else price_ticks <= self._sim.bid_ticks
        if order.tif == "post_only" and crosses:
            self._emit(OrderCanceled(ts, order.client_id, "canceled-post-only", 0.0))
            return
        size_lots = lots
        if order.tif == "ioc" or crosses:
            lots = self._take(order, lots, price_ticks)
            if order.tif == "ioc" or lots == 0:
                return
            if order.reduce_only and self._reducible_lots(order.side) == 0:
                self._emit(OrderCanceled(ts, order.client_id, "canceled-reduce-only",
                                         (size_lots - lots) / self._size_scale))
                return
        self._resting[order.client_id] = _Resting(
            order.client_id, order.side, price_ticks, lots,
            self._queue.new_order(self._displayed_at(order.side, price_ticks)),
            price=order.price, reduce_only=order.reduce_only, filled_lots=size_lots - lots)
        self._ack(OrderOpen(ts, order.client_id, order.side, order.price, lots / self._size_scale,
                            f"paper-{order.client_id}"))

    def _modify(self, intent: ModifyOrder) -> None:
        """Move a resting order in place. Lighter keeps the order and its client id; a new price
        joins the back of its level's queue."""
        ts = self._clock
        order = self._resting.get(intent.client_id)
        if order is None:
            self._emit(ModifyRejected(ts, intent.client_id, CODE_ORDER_NOT_LIVE, "given order is not an active limit order"))
            return
        lots = _whole_steps(intent.size, self._size_scale)
        price_ticks = _whole_steps(intent.price, self._price_scale)
        if lots is None or price_ticks is None or lots <= 0 or not self.market.is_valid_order(intent.price, intent.size):
            self._emit(ModifyRejected(ts, intent.client_id, CODE_INVALID_AMOUNT, "invalid order base or quote amount"))
            return
        self._tx += 1
        crosses = price_ticks >= self._sim.ask_ticks if order.side == "buy" else price_ticks <= self._sim.bid_ticks
        if crosses:
            # Our resting quotes are post-only: a modify that would cross cancels the order.
            del self._resting[intent.client_id]
            self._emit(self._canceled(order, "canceled-post-only"))
            return
        if price_ticks != order.level:
            # A new price goes to the back of its level's queue; a size change in place keeps it.
            order.queue = self._queue.new_order(self._displayed_at(order.side, price_ticks))
        order.price, order.level, order.remaining_lots = intent.price, price_ticks, lots
        self._emit(OrderModified(ts, intent.client_id, intent.price, lots / self._size_scale))

    def _take(self, order: PlaceOrder, lots: int, limit_ticks: int) -> int:
        """Fill `order` as a taker against the simulated touch; returns the lots left over.

        The fill price is the touch plus a linear size impact rounded to the nearest tick
        (a clip too small to move a tick pays the touch). If the impact would pass the limit,
        only as many lots as fit are taken. An IOC's leftover is canceled here; a crossing
        GTC keeps it and rests.
        """
        buy = order.side == "buy"
        touch_ticks = self._sim.ask_ticks if buy else self._sim.bid_ticks
        room_ticks = limit_ticks - touch_ticks if buy else touch_ticks - limit_ticks
        capped_lots = min(lots, self._reducible_lots(order.side)) if order.reduce_only else lots
        impact_ticks_per_lot = touch_ticks * TAKER_IMPACT_BPS_PER_UNIT * _BPS / self._size_scale
        take_lots = 0
        if room_ticks >= 0:
            take_lots = capped_lots
            if math.floor(impact_ticks_per_lot * take_lots + 0.5) > room_ticks:
                # Largest q with round(impact * q) <= room, i.e. impact * q < room + 0.5.
                take_lots = math.ceil((room_ticks + 0.5) / impact_ticks_per_lot) - 1
        if take_lots > 0:
            impact_ticks = math.floor(impact_ticks_per_lot * take_lots + 0.5)
            fill_ticks = touch_ticks + impact_ticks if buy else touch_ticks - impact_ticks
            self._fill(order.client_id, order.side, fill_ticks / self._price_scale, take_lots, "taker")
        left_lots = lots - take_lots
        if order.tif != "ioc" or left_lots == 0:
            return left_lots
        if take_lots == 0:
            reason = "canceled-too-much-slippage"
        elif take_lots == capped_lots < lots:
            reason = "canceled-reduce-only"   # the rest would have grown the position
        else:
            reason = "canceled"               # Lighter's status for an IOC remainder
        self._emit(OrderCanceled(self._clock, order.client_id, reason, take_lots / self._size_scale))
        return 0

    # -- fills --------------------------------------------------------------------------

    def _displayed_at(self, side: Side, ticks: int) -> int:
        """The size displayed at `ticks` on our side, which an order joining there queues behind:
        the touch size at the touch, nothing inside the spread. Behind the touch the simulated
        book shows no depth, so `queue_behind_touch_units` stands for it."""
        sim = self._sim
        if side == "buy":
            if ticks > sim.bid_ticks:
                return 0
            return sim.bid_lots if ticks == sim.bid_ticks else self._behind_touch_lots
        if ticks < sim.ask_ticks:
            return 0
        return sim.ask_lots if ticks == sim.ask_ticks else self._behind_touch_lots

    def _match_print(self, trade: MarketTrade) -> None:
        """A public print at or through our price fills our resting orders behind the queue ahead
        of them, up to the print's size (adapters/matching.py)."""
        match_print(list(self._resting.values()), round(trade.price * self._price_scale),
                    round(trade.size * self._size_scale), trade.aggressor == "sell", self._queue, self._fill_resting)

    def _match_book(self) -> None:
        """The opposite touch moved to or through our price: the orders displayed there trade
        with us, up to their displayed size."""
        sim = self._sim
        match_cross(list(self._resting.values()), sim.bid_ticks, sim.bid_lots, sim.ask_ticks, sim.ask_lots,
                    self._queue, self._fill_resting)

    def _fill_resting(self, order: _Resting, lots: float) -> int:
        """Fill up to `lots` of a resting order as maker at its own price; returns lots filled
        (the shared matcher's `fill`).

        A reduce-only order never fills past flat; once there is nothing left to reduce, its
        remainder is canceled as Lighter does (`canceled-reduce-only`).
        """
        if self._resting.get(order.client_id) is not order:
            return 0
        lots = int(min(order.remaining_lots, lots))
        if order.reduce_only:
            lots = min(lots, self._reducible_lots(order.side))
        if lots > 0:
            self._fill(order.client_id, order.side, order.price, lots, "maker")
            order.remaining_lots -= lots
            order.filled_lots += lots
        if order.remaining_lots == 0:
            del self._resting[order.client_id]
        elif order.reduce_only and self._reducible_lots(order.side) == 0:
            del self._resting[order.client_id]
            self._emit(self._canceled(order, "canceled-reduce-only"))
        return lots

    def _fill(self, client_id: int, side: Side, price: float, lots: int, liquidity: Liquidity) -> None:
        size = lots / self._size_scale
        fee_bps = self._paper.maker_fee_bps if liquidity == "maker" else self._paper.taker_fee_bps
        self._book_position(lots if side == "buy" else -lots, round(price * self._price_scale))
        self._fills += 1
        self._seq += 1
        fill = Fill(self._clock, client_id, side, price, size, liquidity, fee=price * size * fee_bps * _BPS,
                    trade_id=f"paper-{self._trade_tag}-{self._fills}", seq=self._seq)
        self._cash_quote += (price * size if side == "sell" else -price * size) - fill.fee
        faults = self._faults
        if self._emit(fill, faults.fill_report_delay_s) and self._wake is not None:
            self._wake()
        if faults.duplicate_fill_prob and self._fault_rng.random() < faults.duplicate_fill_prob:
            self._emit(fill, faults.fill_report_delay_s + faults.duplicate_after_s)

    def _emit(self, event: Event, extra_delay_s: float = 0.0) -> bool:
        """An answer or account event on its way to us: it arrives `response_latency_s` (plus any
        fault delay) later, and after a reconnect if the connection is down. Every private event
        takes the same path, so their order is kept."""
        arrive_ts = self._clock + self._response_s
        if self._disconnected_until is not None:
            arrive_ts = max(arrive_ts, self._disconnected_until)
        if arrive_ts > self._clock:
            # Stamped when it reaches us, as the live adapter stamps what it receives, so the
            # runtime's clock never runs backwards; a fault's extra delay keeps the normal stamp.
            event = replace(event, ts=arrive_ts)
        deliver_ts = arrive_ts + extra_delay_s
        if deliver_ts > self._clock:
            self._hold(deliver_ts, event)
            return False
        self._out.append(event)
        return True

    # -- scripted outages -------------------------------------------------------------------

    def _outage(self, kind: str, starting: bool) -> None:
        ts = self._clock
        if kind == "feed_stall":
            self._stalls += 1 if starting else -1
            if not starting and not self._stalls and self._disconnected_until is None:
                self._out.append(self._sim.book_top(ts))       # the feed resumes with the current top
            return
        if starting:
            end = next(t for t, k, start in self._outages if k == "disconnect" and not start)
            self._disconnected_until = end
            self._out.append(VenueStatus(ts, False, False, "paper fault: disconnected"))
            return
        self._disconnected_until = None
        self._out.append(VenueStatus(ts, True, True, "paper fault: reconnected"))
        if not self._stalls:
            self._out.append(self._sim.book_top(ts))
        self._snapshots()                                     # after a gap the account is re-read

    def _unreachable(self, intent: Intent) -> None:
        """A send while disconnected: the client cannot tell whether it reached the venue (it did
        not), so the runtime hears an unknown outcome at once and settles it from a snapshot."""
        ts, reason = self._clock, "paper fault: disconnected"
        if isinstance(intent, (PlaceOrder, ModifyOrder, CancelOrder)):
            action = "place" if isinstance(intent, PlaceOrder) else "modify" if isinstance(intent, ModifyOrder) \
                else "cancel"
            self._out.append(OutcomeUnknown(ts, intent.client_id, action, reason))
        elif isinstance(intent, CancelAll):
            for client_id in self._resting:
                self._out.append(OutcomeUnknown(ts, client_id, "cancel", reason))

    def _hold(self, deliver_ts: float, event: Event) -> None:
        heapq.heappush(self._delayed, (deliver_ts, self._delayed_n, event))
        self._delayed_n += 1

    def _book_position(self, signed_lots: int, price_ticks: int) -> None:
        """The venue's own position and average entry (as a perp venue reports it): adding to a
        position averages the entry, reducing keeps it, flipping starts anew at the fill price."""
        before = self._position_lots
        after = before + signed_lots
        if before == 0 or (before > 0) == (signed_lots > 0):
            self._entry_cost_ticks += signed_lots * price_ticks
        elif after == 0 or (after > 0) == (before > 0):
            self._entry_cost_ticks = round(self._entry_cost_ticks * after / before)
        else:
            self._entry_cost_ticks = after * price_ticks
        self._position_lots = after

    def _reducible_lots(self, side: Side) -> int:
        """How many lots an order on `side` can trade without growing |position|."""
        return max(self._position_lots, 0) if side == "sell" else max(-self._position_lots, 0)

    def _require_running(self, what: str) -> None:
        if not self._started:
            raise VenueDisconnected(f"paper venue: {what}() before start()")
        if self._stopped:
            raise VenueDisconnected(f"paper venue: {what}() after stop()")


def _whole_steps(value: float, scale: int) -> int | None:
    """`value` in integer ticks or lots, or None if it is not a whole number of them."""
    steps = value * scale
    whole = round(steps)
    return whole if abs(steps - whole) <= _WHOLE_STEP_TOLERANCE else None
