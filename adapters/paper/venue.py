"""The paper exchange: a `runtime.ports.Venue` that matches our orders against a simulated market.

It is our `MockTransport`: the runtime cannot tell it from the live adapter, so every
path the live venue can take (rejections, post-only cancels, partial IOC fills,
position reconciliation) can be exercised without keys or a network. Where Lighter
has a behaviour or a code for a case (post-only crossing accepted then canceled,
21706, 21728, 21600), the paper venue reproduces it.

Matching is optimistic about queue position (a print at our price fills us first) and
never moves the simulated market, so the market stream depends on the seed alone.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Sequence

from adapters.paper.market_sim import MarketSim
from adapters.paper.config import PaperConfig, RegimeName
from runtime.events import (Event, Fill, Liquidity, MarketTrade, OrderAccepted, OrderCanceled,
                            OrderRejected, PositionSnapshot, Side)
from runtime.intents import CancelAll, CancelOrder, Intent, PlaceOrder
from runtime.market import MarketSpec
from runtime.ports import VenueError

# Often enough that the runtime's reconciliation runs many times per test scenario, rarely
# enough not to crowd the event stream (the live account stream pushes on change and on
# reconnect; a fixed period is the simplest stand-in).
POSITION_SNAPSHOT_INTERVAL_S = 5.0

# Price impact of a taker order, per SOL taken: the touch is deep enough for our clips, but a
# bigger clip should cost more so hedger sizing and slippage caps are not free in paper.
TAKER_IMPACT_BPS_PER_UNIT = 0.5

CODE_INVALID_AMOUNT = 21706       # Lighter: invalid order base or quote amount
CODE_DUPLICATE_CLIENT_ID = 21728  # Lighter: client order index already exists
CODE_ORDER_NOT_LIVE = 21600       # Lighter: given order is not an active limit order

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


@dataclass(slots=True)
class _Resting:
    client_id: int
    side: Side
    price: float
    price_ticks: int
    remaining_lots: int
    reduce_only: bool


class PaperVenue:
    """A simulated Lighter market for one symbol, driven entirely by the `now` it is handed.

    `drain(now)` replays three timelines merged in time order: the market (steps and
    prints), our intents (each due `latency_s` after its submit), and periodic position
    snapshots. On equal timestamps the market goes first, so an intent submitted at `now`
    after a `drain(now)` sees the book that drain returned.
    """

    def __init__(self, market: MarketSpec, paper: PaperConfig, start_ts: float = 0.0) -> None:
        self.market = market
        self._paper = paper
        self._sim = MarketSim(market, paper, start_ts)
        self._size_scale = 10**market.size_decimals
        self._price_scale = 10**market.price_decimals
        self._pending: list[tuple[float, int, Intent]] = []   # heap of (due_ts, submit order, intent)
        self._submitted = 0
        self._resting: dict[int, _Resting] = {}
        self._position_lots = 0
        self._fills = 0
        self._clock = start_ts
        self._next_snapshot_ts = start_ts
        self._out: list[Event] = []
        self._started = False
        self._stopped = False

    # -- the Venue port ------------------------------------------------------------------

    async def start(self) -> None:
        self._started = True

    def healthy(self) -> bool:
        return self._started and not self._stopped

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        self._require_running("submit")
        due_ts = now + self._paper.latency_s
        for intent in intents:
            heapq.heappush(self._pending, (due_ts, self._submitted, intent))
            self._submitted += 1

    def drain(self, now: float) -> list[Event]:
        if not self._started:
            raise VenueError("paper venue: drain() before start()")
        if not self._stopped:
            self._run_until(now)
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
                self._out.append(OrderCanceled(self._clock, intent.client_id, "requested"))
        self._pending.clear()
        self._cancel_all()

    # -- helpers for tests and the end-of-run check -----------------------------------

    def open_orders(self) -> list[LiveOrder]:
        return [LiveOrder(o.client_id, o.side, o.price, o.remaining_lots / self._size_scale, o.reduce_only)
                for o in self._resting.values()]

    @property
    def position_units(self) -> float:
        return self._position_lots / self._size_scale

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
            snapshot_ts = self._next_snapshot_ts
            if market_ts <= intent_ts and market_ts <= snapshot_ts:
                if market_ts > now:
                    break
                if not self._resting:
                    # Nothing to match: let the market run to the next thing we must do.
                    limit_ts = min(now, intent_ts, snapshot_ts)
                    sim.run_until(limit_ts, out)
                    self._clock = max(self._clock, limit_ts)
                    continue
                self._clock = market_ts
                event = sim.advance()
                if event is None:
                    continue
                out.append(event)
                if type(event) is MarketTrade:
                    self._match_print(event)
                else:
                    self._match_book()
            elif intent_ts <= snapshot_ts:
                if intent_ts > now:
                    break
                _, _, intent = heapq.heappop(pending)
                self._clock = max(self._clock, intent_ts)
                self._apply(intent)
            else:
                if snapshot_ts > now:
                    break
                self._clock = snapshot_ts
                out.append(PositionSnapshot(snapshot_ts, self.position_units))
                self._next_snapshot_ts = snapshot_ts + POSITION_SNAPSHOT_INTERVAL_S
        self._clock = max(self._clock, now)

    # -- intents ------------------------------------------------------------------------

    def _apply(self, intent: Intent) -> None:
        if isinstance(intent, PlaceOrder):
            self._place(intent)
        elif isinstance(intent, CancelOrder):
            order = self._resting.pop(intent.client_id, None)
            if order is None:
                self._out.append(OrderRejected(self._clock, intent.client_id, CODE_ORDER_NOT_LIVE, "order not live"))
            else:
                self._out.append(OrderCanceled(self._clock, intent.client_id, "requested"))
        elif isinstance(intent, CancelAll):
            self._cancel_all()
        else:
            raise TypeError(f"paper venue: unknown intent {intent!r}")

    def _cancel_all(self) -> None:
        for client_id in list(self._resting):
            del self._resting[client_id]
            self._out.append(OrderCanceled(self._clock, client_id, "requested"))

    def _place(self, order: PlaceOrder) -> None:
        ts, out = self._clock, self._out
        lots = _whole_steps(order.size, self._size_scale)
        price_ticks = _whole_steps(order.price, self._price_scale)
        if lots is None or price_ticks is None or lots <= 0 or not self.market.is_valid_order(order.price, order.size):
            out.append(OrderRejected(ts, order.client_id, CODE_INVALID_AMOUNT, "invalid order base or quote amount"))
            return
        if order.client_id in self._resting:
            out.append(OrderRejected(ts, order.client_id, CODE_DUPLICATE_CLIENT_ID, "client order index already exists"))
            return
        # From here on Lighter has accepted the transaction; any refusal is a sequencer cancel.
        out.append(OrderAccepted(ts, order.client_id, order.side, order.price, order.size))
        if order.reduce_only and self._reducible_lots(order.side) == 0:
            out.append(OrderCanceled(ts, order.client_id, "canceled-reduce-only"))
            return
        crosses = price_ticks >= self._sim.ask_ticks if order.side == "buy" else price_ticks <= self._sim.bid_ticks
        if order.tif == "post_only" and crosses:
            out.append(OrderCanceled(ts, order.client_id, "canceled-post-only"))
            return
        if order.tif == "ioc" or crosses:
            lots = self._take(order, lots, price_ticks)
            if order.tif == "ioc" or lots == 0:
                return
            if order.reduce_only and self._reducible_lots(order.side) == 0:
                out.append(OrderCanceled(ts, order.client_id, "canceled-reduce-only"))
                return
        self._resting[order.client_id] = _Resting(order.client_id, order.side, order.price, price_ticks,
                                                  lots, order.reduce_only)

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
        self._out.append(OrderCanceled(self._clock, order.client_id, reason))
        return 0

    # -- fills --------------------------------------------------------------------------

    def _match_print(self, trade: MarketTrade) -> None:
        """A public print at our price or better fills our resting orders, best price first,
        up to the print's size (queue position is ignored: we are assumed first in line)."""
        print_ticks = round(trade.price * self._price_scale)
        if trade.aggressor == "sell":
            hit = [o for o in self._resting.values() if o.side == "buy" and o.price_ticks >= print_ticks]
            if len(hit) > 1:
                hit.sort(key=lambda o: -o.price_ticks)
        else:
            hit = [o for o in self._resting.values() if o.side == "sell" and o.price_ticks <= print_ticks]
            if len(hit) > 1:
                hit.sort(key=lambda o: o.price_ticks)
        available_lots = round(trade.size * self._size_scale)
        for order in hit:
            if available_lots <= 0:
                return
            available_lots -= self._fill_resting(order, min(order.remaining_lots, available_lots))

    def _match_book(self) -> None:
        """The touch moved to or through our price: the market traded through us, so the whole
        remainder fills at our limit."""
        bid_ticks, ask_ticks = self._sim.bid_ticks, self._sim.ask_ticks
        for order in list(self._resting.values()):
            through = ask_ticks <= order.price_ticks if order.side == "buy" else bid_ticks >= order.price_ticks
            if through:
                self._fill_resting(order, order.remaining_lots)

    def _fill_resting(self, order: _Resting, lots: int) -> int:
        """Fill up to `lots` of a resting order as maker at its own price; returns lots filled.

        A reduce-only order never fills past flat; once there is nothing left to reduce, its
        remainder is canceled as Lighter does (`canceled-reduce-only`).
        """
        if order.reduce_only:
            lots = min(lots, self._reducible_lots(order.side))
        if lots > 0:
            self._fill(order.client_id, order.side, order.price, lots, "maker")
            order.remaining_lots -= lots
        if order.remaining_lots == 0:
            del self._resting[order.client_id]
        elif order.reduce_only and self._reducible_lots(order.side) == 0:
            del self._resting[order.client_id]
            self._out.append(OrderCanceled(self._clock, order.client_id, "canceled-reduce-only"))
        return lots

    def _fill(self, client_id: int, side: Side, price: float, lots: int, liquidity: Liquidity) -> None:
        size = lots / self._size_scale
        fee_bps = self._paper.maker_fee_bps if liquidity == "maker" else self._paper.taker_fee_bps
        self._position_lots += lots if side == "buy" else -lots
        self._fills += 1
        self._out.append(Fill(self._clock, client_id, side, price, size, liquidity,
                              fee=price * size * fee_bps * _BPS, trade_id=f"paper-{self._fills}"))

    def _reducible_lots(self, side: Side) -> int:
        """How many lots an order on `side` can trade without growing |position|."""
        return max(self._position_lots, 0) if side == "sell" else max(-self._position_lots, 0)

    def _require_running(self, what: str) -> None:
        if not self._started:
            raise VenueError(f"paper venue: {what}() before start()")
        if self._stopped:
            raise VenueError(f"paper venue: {what}() after stop()")


def _whole_steps(value: float, scale: int) -> int | None:
    """`value` in integer ticks or lots, or None if it is not a whole number of them."""
    steps = value * scale
    whole = round(steps)
    return whole if abs(steps - whole) <= _WHOLE_STEP_TOLERANCE else None
