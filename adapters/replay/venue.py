"""The replay venue: recorded market data, and our orders matched against it honestly.

A `runtime.ports.Venue` driven by the `now` it is handed, like the paper venue, but its market
is the columnar events of recorded files (columns.py). `drain(now)` merges three timelines in
time order: the data (on equal times it goes first), our intents (each arriving after the
latency model's delay) and the venue's own reports (periodic snapshots, held-back fills). The
book is built here; only changes of the touch (coalesced: one BookTop before each print and at
the end of a drain) and prints reach the core. How orders fill is fills.py (what each kind of
data can show) and adapters/matching.py (queue position and matching, shared with the paper venue).
"""
from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from adapters.matching import QueuePos, match_cross, match_print, queue_model
from adapters.replay.book import Book
from adapters.replay.columns import BBO, CLEAR, DEPTH, GAP, KLINE, RESUME, TRADE, EventArrays
from adapters.replay.config import ReplayConfig
from adapters.replay.fills import FillModel
from adapters.replay.latency import ConstantLatency
from adapters.replay.touch import Touch, touch_columns
from adapters.request_budget import RequestBudget
from runtime.events import (BookTop, CancelRejected, Event, Fill, Liquidity, MarketTrade,
                            ModifyRejected, OpenOrderReport, OrderAccepted, OrderCanceled, OrderModified, OrderOpen,
                            OrderRejected, OrdersSnapshot, PositionSnapshot, Side, VenueStatus)
from runtime.intents import CancelAll, CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot
from runtime.market import MarketSpec
from runtime.ports import VenueDisconnected

BID_SIDE, ASK_SIDE = 0.0, 1.0
CODE_INVALID_AMOUNT = 21706
CODE_DUPLICATE_CLIENT_ID = 21728
CODE_ORDER_NOT_LIVE = 21600
DUPLICATE_AFTER_S = 1.0
_WHOLE = 1e-6
_BLOCK = 32        # rows per block of the touch's extremes (_touch_may_reach)
_NEAR = 256        # rows searched first for the end of a drain (_replay_l2)


def _column(values: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(values))


def data_mode(events: EventArrays) -> str:
    kinds = set(np.unique(events.kind).tolist())
    if DEPTH in kinds:
        return "l2"
    if BBO in kinds:
        return "bbo"
    if TRADE in kinds:
        return "trades"
    return "klines"


@dataclass(slots=True)
class _Resting:
    client_id: int
    buy: bool
    price: float
    lots: int
    reduce_only: bool
    queue: QueuePos
    filled_lots: int = 0

    @property
    def level(self) -> float:
        """Its price, as the shared matcher (adapters/matching.py) compares prints with it."""
        return self.price


@dataclass(frozen=True, slots=True)
class _OverBudget:
    intent: Intent


class ReplayVenue:
    supports_modify = True
    can_simulate = True

    def __init__(self, market: MarketSpec, events: EventArrays, config: ReplayConfig | None = None,
                 touch: Touch | None = None, fast: bool = True) -> None:
        """`touch`: the precomputed touch of full-depth `events` (touch.py; computed here if not
        given). `fast` False replays full depth row by row (the reference the fast path is tested
        against)."""
        self.market = market
        self.config = config = config or ReplayConfig()
        self.poll_interval_s: float | None = None     # drained once per tick: fills wake the loop
        self.mode = data_mode(events)
        self.latency = ConstantLatency(config.entry_latency_s, config.cancel_latency_s)
        self.queue = queue_model({"prob_power": "power"}.get(config.queue_model, config.queue_model),
                                 config.queue_power_n)
        self.fills = FillModel(self.mode, config, self.queue.name, self.latency.name)
        # Memoryviews, not lists: an element reads as a Python float or int about as fast as from a
        # list, and `bisect` takes them, but nothing is copied (`.tolist()` here was 108 MiB of a
        # 16-minute L2 replay's peak, benchmarks/replay_throughput.py's doubled capture).
        self._ts, self._kind = _column(events.ts), _column(events.kind)
        self._px, self._qty, self._aux = _column(events.px), _column(events.qty), _column(events.aux)
        self._i = 0
        self._rows = len(self._ts)
        self._cur = -1                       # the last data row applied
        self._fast = fast and self.mode == "l2"
        if self._fast:
            self._touch = touch if touch is not None else touch_columns(events)
            self._build_level_index(events)
            self._build_touch_blocks()
        self.start_ts = self._ts[0] if self._ts else 0.0
        self.end_ts = self._ts[-1] if self._ts else 0.0
        self.events_applied = 0
        self._book = Book()
        self._bb, self._ba = -math.inf, math.inf          # the book's best prices, kept current
        self._our_bid_px: set[float] = set()              # prices where we have orders resting
        self._our_ask_px: set[float] = set()
        self._our_max_bid, self._our_min_ask = -math.inf, math.inf
        self._synthetic = self.mode in ("trades", "klines")
        self._syn_bid = self._syn_ask = math.nan
        self._half_spread = config.synthetic_spread_bps * 1e-4 / 2
        self._dirty = False
        self._last_top: tuple = ()
        self._top_row = -2                   # _fast_top's memo: the row that last changed the touch
        self._flushed_row = -2               # _flush_top's: that row when the touch was last flushed
        self._top_at_row: tuple[float, float, float, float] | None = None
        self._noted_top: tuple = ()
        self._top_ts: float | None = None
        self._size_scale = 10**market.size_decimals
        self._price_scale = 10**market.price_decimals
        self._resting: dict[int, _Resting] = {}
        self._at: dict[tuple[bool, float], list[_Resting]] = {}     # (buy, price) -> our orders there
        self._pending: list[tuple[float, int, Intent]] = []
        self._submitted = 0
        self._delayed: list[tuple[float, int, Event]] = []
        self._delayed_n = 0
        self._budget = RequestBudget(config.request_limit, config.request_window_s)
        self._position_lots = 0
        self._entry_cost = 0.0
        self._seq = self._fills_n = self._tx = 0
        self._clock = self.start_ts
        self._next_snapshot_ts = self.start_ts + config.snapshot_interval_s
        self._out: list[Event] = []
        self._wake: Callable[[], None] | None = None
        self._started = self._stopped = False
        self.fees_paid = 0.0

    # -- the Venue port ----------------------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            self._started = True
            self._out.append(VenueStatus(self._clock, True, True, f"replay venue started ({self.mode} data)"))

    def set_waker(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        self._require_running("submit")
        for intent in intents:
            if self._budget.spend(intent, now):
                heapq.heappush(self._pending, (self.latency.arrival(intent, now), self._submitted, intent))
            else:
                heapq.heappush(self._pending, (now, self._submitted, _OverBudget(intent)))
            self._submitted += 1

    def drain(self, now: float) -> list[Event]:
        if not self._started:
            raise VenueDisconnected("replay venue: drain() before start()")
        if not self._stopped:
            self._run_until(now)
            self._report_budget(now)
        out, self._out = self._out, []
        return out

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for _, _, intent in sorted(self._pending, key=lambda p: (p[0], p[1])):
            if isinstance(intent, PlaceOrder):
                self._out.append(OrderCanceled(self._clock, intent.client_id, "requested", 0.0))
        self._pending.clear()
        self._cancel_all()
        for _, _, event in sorted(self._delayed, key=lambda d: (d[0], d[1])):
            self._out.append(event)
        self._delayed.clear()
        self._out.append(VenueStatus(self._clock, False, False, "replay venue stopped"))

    # -- for tests and the report -----------------------------------------------------------
    @property
    def position_units(self) -> float:
        return self._position_lots / self._size_scale

    def open_orders(self) -> dict[int, float]:
        return {o.client_id: o.lots / self._size_scale for o in self._resting.values()}

    @property
    def exhausted(self) -> bool:
        return self._i >= len(self._ts)

    def next_event_ts(self, now: float) -> float:
        """The earliest time after `now` at which `drain` could return an event or change what
        the venue holds: the next data row, intent arrival, delayed report, snapshot or budget
        update. Until then a drain returns nothing, which is what lets a replay skip idle ticks.
        Asked after every tick, so it is written out flat (a builtin `min` over a tuple cost
        ~4 % of the 100 ms replay)."""
        if self._dirty or self._out:
            return now
        i = self._i
        at = self._ts[i] if i < self._rows else math.inf
        if self._next_snapshot_ts < at:
            at = self._next_snapshot_ts
        if self._pending and self._pending[0][0] < at:
            at = self._pending[0][0]
        if self._delayed and self._delayed[0][0] < at:
            at = self._delayed[0][0]
        budget = self._budget.next_report_ts(now)
        return budget if budget < at else at

    # -- the merged timeline -----------------------------------------------------------------
    def _run_until(self, now: float) -> None:
        ts, pending, delayed = self._ts, self._pending, self._delayed
        n = len(ts)
        while True:
            data_ts = ts[self._i] if self._i < n else math.inf
            intent_ts = pending[0][0] if pending else math.inf
            other_ts = min(self._next_snapshot_ts, delayed[0][0] if delayed else math.inf)
            if data_ts <= intent_ts and data_ts <= other_ts:
                if data_ts > now:
                    break
                if self._fast:
                    self._replay_l2(min(now, intent_ts, other_ts))
                else:
                    self._replay(min(now, intent_ts, other_ts))
            elif intent_ts <= other_ts:
                if intent_ts > now:
                    break
                self._flush_top()
                _, _, intent = heapq.heappop(pending)
                self._clock = max(self._clock, intent_ts)
                self._apply(intent)
            else:
                if other_ts > now:
                    break
                self._flush_top()
                self._clock = max(self._clock, other_ts)
                if delayed and delayed[0][0] == other_ts:
                    self._out.append(heapq.heappop(delayed)[2])
                else:
                    self._snapshots()
                    self._next_snapshot_ts = other_ts + self.config.snapshot_interval_s
        self._flush_top()
        self._clock = max(self._clock, now)

    def _replay(self, limit: float) -> None:
        """Apply data rows with times up to `limit`. The hot loop of a replay: the book's dicts
        and heaps are used inline, and the best prices are kept current (`_bb`, `_ba`) so a row
        behind the touch costs a dict update and two comparisons."""
        ts, kinds, pxs, qtys, auxs = self._ts, self._kind, self._px, self._qty, self._aux
        book, out = self._book, self._out
        bids, asks, bheap, aheap = book.bids, book.asks, book._bh, book._ah
        our_bids, our_asks = self._our_bid_px, self._our_ask_px
        push = heapq.heappush
        i, n = self._i, len(ts)
        start = i
        while i < n and ts[i] <= limit:
            kind, px, qty = kinds[i], pxs[i], qtys[i]
            if kind == DEPTH:
                if auxs[i] == 1.0:
                    prev = asks.get(px, 0.0)
                    if qty > 0:
                        asks[px] = qty
                        if not prev:
                            push(aheap, px)
                    elif prev:
                        del asks[px]
                    if px <= self._ba:
                        self._clock = ts[i]
                        self._ba = px if qty > 0 else (book.best_ask() or math.inf)
                        self._dirty = True
                        self._note_top()
                        if self._ba <= self._our_max_bid:
                            self._through_touch()
                    if px in our_asks:
                        self._clock = ts[i]
                        self._level_changed(False, px, prev, qty)
                else:
                    prev = bids.get(px, 0.0)
                    if qty > 0:
                        bids[px] = qty
                        if not prev:
                            push(bheap, -px)
                    elif prev:
                        del bids[px]
                    if px >= self._bb:
                        self._clock = ts[i]
                        self._bb = px if qty > 0 else (book.best_bid() or -math.inf)
                        self._dirty = True
                        self._note_top()
                        if self._bb >= self._our_min_ask:
                            self._through_touch()
                    if px in our_bids:
                        self._clock = ts[i]
                        self._level_changed(True, px, prev, qty)
                i += 1
                continue
            self._clock = ts[i]
            if kind == BBO:
                ask = auxs[i] == 1.0
                prev = book.set(ask, px, qty)
                for gone_px, gone_qty in book.drop_better(ask, px):
                    self._level_changed(not ask, gone_px, gone_qty, 0.0)
                self._dirty = True
                self._retouch()
                self._level_changed(not ask, px, prev, qty)
                if self._resting:
                    self._through_touch()
            elif kind == TRADE:
                self._flush_top()
                side: Side = "buy" if auxs[i] > 0 else "sell"
                out.append(MarketTrade(ts[i], px, qty, side))
                if self._resting:
                    self._match_print(px, qty, side == "sell")
                if self._synthetic:
                    self._set_synthetic(px)
            elif kind == KLINE:
                self._set_synthetic(px)
                if self._resting:
                    self._match_kline(px, qty)
            elif kind == CLEAR:
                book.clear()
                self._retouch()
                self._dirty = True
                self._note_top()
            elif kind == GAP:
                self._flush_top()
                out.append(VenueStatus(ts[i], True, False, f"data gap ({px:.0f} s)" if px else "data sequence broken"))
            elif kind == RESUME:
                out.append(VenueStatus(ts[i], True, True, "data resumes"))
            i += 1
        if i > start:
            self._clock = max(self._clock, ts[i - 1])
        self.events_applied += i - start
        self._i = i

    def _replay_l2(self, limit: float) -> None:
        """Full depth, fast: the book is never built row by row. The touch comes from touch.py's
        precomputed columns and a level's size from the level index (`_level_size`), so only
        prints and the rare other kinds, rows at our prices and rows where the touch reaches
        our orders are visited, one by one and in order."""
        ts, i = self._ts, self._i
        # A tick's rows are a few dozen at most steps: search near `i` before the whole column.
        near = i + _NEAR
        j = bisect.bisect_right(ts, limit, i, near) if near < len(ts) and ts[near] > limit else \
            bisect.bisect_right(ts, limit, i)
        if j <= i:
            return
        special = self._special
        rows = special[bisect.bisect_left(special, i):bisect.bisect_left(special, j)]
        if self._resting:
            picks = [rows] if rows else []
            for buy, px in self._at:
                level = self._level_rows(not buy, px)
                if level is not None:
                    lo = bisect.bisect_left(level, i)
                    if lo < len(level) and level[lo] < j:
                        picks.append(level[lo:bisect.bisect_left(level, j, lo)])
            t = self._touch
            if self._touch_may_reach(i, j):
                crossed = (t.ask_px[i:j] <= self._our_max_bid) | (t.bid_px[i:j] >= self._our_min_ask)
                if crossed.any():
                    reach = np.flatnonzero(crossed) + i
                    picks.append(reach[t.changed_at[reach] == reach].tolist())
            if len(picks) > 1:
                rows = sorted(set().union(*picks))
            elif picks:
                rows = picks[0]
        for k in rows:
            self._one(k)
        self._cur = j - 1
        self._clock = max(self._clock, ts[j - 1])
        self.events_applied += j - i
        self._i = j

    def _build_level_index(self, events: EventArrays) -> None:
        """Depth rows grouped by level (bids by price, asks by minus price), each group in row
        order; CLEAR rows and the rows visited one by one (`_special`)."""
        depth = np.flatnonzero(events.kind == DEPTH)
        keys = np.where(events.aux[depth] == ASK_SIDE, -events.px[depth], events.px[depth])
        order = np.lexsort((depth, keys))
        self._lvl_keys, self._lvl_rows = keys[order], depth[order]
        self._rows_of: dict[float, list[int] | None] = {}
        self._clears = np.flatnonzero(events.kind == CLEAR).tolist()
        self._special = np.flatnonzero(events.kind != DEPTH).tolist()

    def _build_touch_blocks(self) -> None:
        """The lowest ask and highest bid of the touch over each block of `_BLOCK` rows (an empty side
        counts as never reaching us), for `_touch_may_reach`."""
        t = self._touch
        starts = np.arange(0, len(t.ask_px), _BLOCK)
        if len(starts) == 0:
            self._block_min_ask, self._block_max_bid = [], []
            return
        ask = np.where(np.isnan(t.ask_px), math.inf, t.ask_px)
        bid = np.where(np.isnan(t.bid_px), -math.inf, t.bid_px)
        self._block_min_ask = np.minimum.reduceat(ask, starts).tolist()
        self._block_max_bid = np.maximum.reduceat(bid, starts).tolist()

    def _touch_may_reach(self, i: int, j: int) -> bool:
        """False when the touch provably stays clear of our orders over rows [i, j): the blocks that
        cover those rows never bring the ask down to our highest bid nor the bid up to our lowest
        ask. Nearly every drain ends here, instead of comparing every row's touch with numpy
        (~6 % of the 100 ms replay, measured with benchmarks/replay_throughput.py); when a block
        says it may, the rows are compared exactly."""
        max_bid, min_ask = self._our_max_bid, self._our_min_ask
        lo, hi = i // _BLOCK, (j - 1) // _BLOCK + 1
        if max_bid > -math.inf and min(self._block_min_ask[lo:hi]) <= max_bid:
            return True
        return min_ask < math.inf and max(self._block_max_bid[lo:hi]) >= min_ask

    def _level_rows(self, ask: bool, px: float) -> list[int] | None:
        """The depth rows of one level, in row order. A Python list, cached per level: the drain
        looks a level's rows up with `bisect` several times a tick, about ten times cheaper than
        `np.searchsorted` on an array slice plus `tolist` (13-19 % of the 100 ms replay, measured
        with benchmarks/replay_throughput.py; only the few levels we quote at are ever converted)."""
        key = -px if ask else px
        rows = self._rows_of.get(key, False)
        if rows is False:
            lo = int(np.searchsorted(self._lvl_keys, key, "left"))
            hi = int(np.searchsorted(self._lvl_keys, key, "right"))
            rows = self._rows_of[key] = self._lvl_rows[lo:hi].tolist() if hi > lo else None
        return rows

    def _level_size(self, ask: bool, px: float, upto: int) -> float:
        """The displayed size at a level after row `upto` (0 if never set since the last CLEAR)."""
        rows = self._level_rows(ask, px)
        if rows is None or upto < 0:
            return 0.0
        pos = bisect.bisect_right(rows, upto) - 1
        if pos < 0:
            return 0.0
        row = rows[pos]
        clears = self._clears
        c = bisect.bisect_right(clears, upto) - 1
        if c >= 0 and clears[c] > row:
            return 0.0
        return self._qty[row]

    def _fast_walk(self, ask: bool, limit: float) -> list[tuple[float, float]]:
        """Levels a taker could take up to `limit`, best first, from the level index."""
        keys = self._lvl_keys
        if ask:      # asks are keyed -px: prices <= limit are keys >= -limit, below 0
            lo, hi = int(np.searchsorted(keys, -limit, "left")), int(np.searchsorted(keys, 0.0, "left"))
            prices = sorted({-float(k) for k in keys[lo:hi]})
        else:
            lo, hi = int(np.searchsorted(keys, limit, "left")), len(keys)
            prices = sorted({float(k) for k in keys[lo:hi]}, reverse=True)
        out = []
        for px in prices:
            qty = self._level_size(ask, px, self._cur)
            if qty > 0:
                out.append((px, qty))
        return out

    def _one(self, k: int) -> None:
        kind, px, qty = self._kind[k], self._px[k], self._qty[k]
        self._clock = ts = self._ts[k]
        out = self._out
        if kind == DEPTH:
            ask = self._aux[k] == 1.0
            prev = self._level_size(ask, px, k - 1)
            self._cur = k
            self._level_changed(not ask, px, prev, qty)
            if self._resting and self._touch.changed_at[k] == k:
                self._through_touch()
            return
        self._cur = k
        if kind == TRADE:
            self._flush_top()
            side: Side = "buy" if self._aux[k] > 0 else "sell"
            out.append(MarketTrade(ts, px, qty, side))
            if self._resting:
                self._match_print(px, qty, side == "sell")
        elif kind == GAP:
            self._flush_top()
            out.append(VenueStatus(ts, True, False, f"data gap ({px:.0f} s)" if px else "data sequence broken"))
        elif kind == RESUME:
            out.append(VenueStatus(ts, True, True, "data resumes"))

    def _retouch(self) -> None:
        self._bb = self._book.best_bid() or -math.inf
        self._ba = self._book.best_ask() or math.inf

    # -- the touch ---------------------------------------------------------------------------
    def _set_synthetic(self, px: float) -> None:
        self._syn_bid, self._syn_ask = px * (1 - self._half_spread), px * (1 + self._half_spread)
        self._dirty = True

    def touch(self) -> tuple[float | None, float | None]:
        if self._fast:
            top = self._fast_top()
            return (top[0], top[2]) if top is not None else (None, None)
        if self._synthetic:
            if self._syn_bid != self._syn_bid:
                return None, None
            return self._syn_bid, self._syn_ask
        return self._book.best_bid(), self._book.best_ask()

    def _note_top(self) -> None:
        """Row-by-row full depth: remember when the touch last changed (BookTop's time)."""
        bb, ba = self._bb, self._ba
        top = (bb, self._book.bids.get(bb, 0.0), ba, self._book.asks.get(ba, 0.0))
        if top != self._noted_top:
            self._noted_top = top
            self._top_ts = self._clock

    def _fast_top(self) -> tuple[float, float, float, float] | None:
        """The touch after row `_cur` (None while a side is empty). It is the touch after the last
        row that changed it (`changed_at`), so it is read from the columns only when that row
        moved: most calls come between prints of one burst, with the touch unchanged (saves
        three of four numpy reads on ~70 % of the calls at 100 ms)."""
        k = self._cur
        if k < 0:
            return None
        t = self._touch
        row = t.changed_at.item(k)
        if row == self._top_row:
            return self._top_at_row
        bid, ask = t.bid_px.item(k), t.ask_px.item(k)
        top = None if bid != bid or ask != ask else (bid, t.bid_qty.item(k), ask, t.ask_qty.item(k))
        self._top_row, self._top_at_row = row, top
        return top

    def _flush_top(self) -> None:
        if self._fast:
            # Flushed before every print: within a burst of prints the touch has not changed
            # since the last flush, which one read of `changed_at` shows.
            k = self._cur
            if k < 0 or self._touch.changed_at.item(k) == self._flushed_row:
                return
            top = self._fast_top()
            self._flushed_row = self._top_row
            if top is not None and top != self._last_top:
                self._last_top = top
                self._out.append(BookTop(self._ts[self._top_row], *top))
            return
        if not self._dirty:
            return
        self._dirty = False
        bid, ask = self.touch()
        if bid is None or ask is None:
            return
        if self._synthetic:
            top = (bid, 0.0, ask, 0.0)
        else:
            top = (bid, self._book.bids[bid], ask, self._book.asks[ask])
        if top != self._last_top:
            self._last_top = top
            self._out.append(BookTop(self._top_ts if self._top_ts is not None else self._clock, *top))

    # -- matching ----------------------------------------------------------------------------
    def _level_changed(self, buy: bool, px: float, prev: float, qty: float) -> None:
        for order in self._at.get((buy, px), ()):
            self.queue.depth(order.queue, prev, qty)

    def _through_touch(self) -> None:
        """The opposite touch at or past our price: the order that made it would have met ours."""
        if self._fast:
            top = self._fast_top()
            if top is None:
                return
            bid, bid_qty, ask, ask_qty = top
        else:
            bid, ask = self._book.best_bid(), self._book.best_ask()
            bid_qty = self._book.bids[bid] if bid is not None else 0.0
            ask_qty = self._book.asks[ask] if ask is not None else 0.0
        match_cross(list(self._resting.values()), bid, bid_qty, ask, ask_qty, self.queue, self._fill_resting)

    def _match_print(self, px: float, qty: float, hits_bids: bool) -> None:
        # Most prints are nowhere near our orders: our best price on the side hit rules that out
        # without visiting them (~5 % of the 100 ms replay, benchmarks/replay_throughput.py).
        if (px > self._our_max_bid) if hits_bids else (px < self._our_min_ask):
            return
        match_print(list(self._resting.values()), px, qty, hits_bids, self.queue, self._fill_resting)

    def _match_kline(self, px: float, volume: float) -> None:
        for order in list(self._resting.values()):
            if self.fills.kline_fills(order.buy, order.price, px):
                self._fill_resting(order, volume)

    def _fill_resting(self, order: _Resting, size: float) -> float:
        """Fill up to `size` (base units) of a resting order as maker at its own price; returns
        what it filled (the shared matcher's `fill`)."""
        lots = order.lots if size == math.inf else min(order.lots, int(size * self._size_scale + _WHOLE))
        if order.reduce_only:
            lots = min(lots, self._reducible(order.buy))
        if lots > 0:
            self._fill(order.client_id, order.buy, order.price, lots, "maker")
            order.lots -= lots
            order.filled_lots += lots
        if order.lots == 0:
            self._remove(order)
        elif order.reduce_only and self._reducible(order.buy) == 0:
            self._remove(order)
            self._out.append(self._canceled(order, "canceled-reduce-only"))
        return lots / self._size_scale

    def _fill(self, client_id: int, buy: bool, price: float, lots: int, liquidity: Liquidity) -> None:
        size = lots / self._size_scale
        bps = self.config.maker_fee_bps if liquidity == "maker" else self.config.taker_fee_bps
        fee = price * size * bps * 1e-4
        self.fees_paid += fee
        self._book_position(lots if buy else -lots, price)
        self._fills_n += 1
        self._seq += 1
        fill = Fill(self._clock, client_id, "buy" if buy else "sell", price, size, liquidity, fee=fee,
                    trade_id=f"replay-{self._fills_n}", seq=self._seq)
        faults = self.config.faults
        if faults.fill_report_delay_s > 0:
            self._hold(self._clock + faults.fill_report_delay_s, fill)
        else:
            self._out.append(fill)
            if self._wake is not None:
                self._wake()
        if faults.duplicate_fills:
            self._hold(self._clock + faults.fill_report_delay_s + DUPLICATE_AFTER_S, fill)

    def _hold(self, when: float, event: Event) -> None:
        heapq.heappush(self._delayed, (when, self._delayed_n, event))
        self._delayed_n += 1

    def _book_position(self, signed_lots: int, price: float) -> None:
        before = self._position_lots
        after = before + signed_lots
        if before == 0 or (before > 0) == (signed_lots > 0):
            self._entry_cost += signed_lots * price
        elif after == 0 or (after > 0) == (before > 0):
            self._entry_cost = self._entry_cost * after / before
        else:
            self._entry_cost = after * price
        self._position_lots = after

    def _reducible(self, buy: bool) -> int:
        return max(-self._position_lots, 0) if buy else max(self._position_lots, 0)

    # -- intents -----------------------------------------------------------------------------
    def _apply(self, intent: Intent) -> None:
        if isinstance(intent, PlaceOrder):
            self._place(intent)
        elif isinstance(intent, ModifyOrder):
            self._modify(intent)
        elif isinstance(intent, CancelOrder):
            order = self._resting.get(intent.client_id)
            if order is None:
                self._out.append(CancelRejected(self._clock, intent.client_id, CODE_ORDER_NOT_LIVE,
                                                "given order is not an active limit order"))
            else:
                self._remove(order)
                self._out.append(self._canceled(order, "requested"))
        elif isinstance(intent, CancelAll):
            self._cancel_all()
        elif isinstance(intent, RequestSnapshot):
            self._snapshots()
        elif isinstance(intent, _OverBudget):
            self._out.extend(self._budget.refusals(intent.intent, self._clock, self._resting))
        else:
            raise TypeError(f"replay venue: unknown intent {intent!r}")

    def _valid(self, price: float, size: float) -> int | None:
        lots, ticks = size * self._size_scale, price * self._price_scale
        if abs(lots - round(lots)) > _WHOLE or abs(ticks - round(ticks)) > _WHOLE or round(lots) <= 0:
            return None
        return round(lots) if self.market.is_valid_order(price, size) else None

    def _crosses(self, buy: bool, price: float) -> bool:
        bid, ask = self.touch()
        return (ask is not None and price >= ask) if buy else (bid is not None and price <= bid)

    def _place(self, order: PlaceOrder) -> None:
        ts, out = self._clock, self._out
        lots = self._valid(order.price, order.size)
        if lots is None:
            out.append(OrderRejected(ts, order.client_id, CODE_INVALID_AMOUNT, "invalid order base or quote amount"))
            return
        if order.client_id in self._resting:
            out.append(OrderRejected(ts, order.client_id, CODE_DUPLICATE_CLIENT_ID, "client order index already exists"))
            return
        self._tx += 1
        self._ack(OrderAccepted(ts, order.client_id, f"replay-tx-{self._tx}"))
        buy = order.side == "buy"
        if order.reduce_only and self._reducible(buy) == 0:
            out.append(OrderCanceled(ts, order.client_id, "canceled-reduce-only", 0.0))
            return
        crosses = self._crosses(buy, order.price)
        if order.tif == "post_only" and crosses:
            out.append(OrderCanceled(ts, order.client_id, "canceled-post-only", 0.0))
            return
        total = lots
        if order.tif == "ioc" or crosses:
            lots = self._take(order, buy, lots)
            if order.tif == "ioc":
                if lots:
                    taken = total - lots
                    reason = "canceled-too-much-slippage" if taken == 0 else "canceled"
                    out.append(OrderCanceled(self._clock, order.client_id, reason, taken / self._size_scale))
                return
            if lots == 0:
                return
        resting = _Resting(order.client_id, buy, order.price, lots, order.reduce_only, self._join(buy, order.price, lots),
                           total - lots)
        self._add(resting)
        self._ack(OrderOpen(ts, order.client_id, order.side, order.price, lots / self._size_scale,
                            f"replay-{order.client_id}"))

    def _join(self, buy: bool, price: float, lots: int) -> QueuePos:
        if self._synthetic:
            return self.queue.new_order(self.fills.queue_ahead_trades_only(lots / self._size_scale))
        if self._fast:
            return self.queue.new_order(self._level_size(not buy, price, self._cur))
        levels = self._book.bids if buy else self._book.asks
        return self.queue.new_order(levels.get(price, 0.0))

    def _take(self, order: PlaceOrder, buy: bool, lots: int) -> int:
        """Take liquidity up to the limit; returns the lots left. The book is not consumed."""
        cap = min(lots, self._reducible(buy)) if order.reduce_only else lots
        if self._synthetic:
            bid, ask = self.touch()
            touch = ask if buy else bid
            levels = [(touch, math.inf)] if touch is not None and (touch <= order.price if buy else touch >= order.price) else []
        else:
            levels = self._fast_walk(buy, order.price) if self._fast else self._book.walk(buy, order.price)
        left = cap
        for px, qty in levels:
            if left == 0:
                break
            take = min(left, int(qty * self._size_scale + _WHOLE)) if qty != math.inf else left
            if take > 0:
                self._fill(order.client_id, buy, px, take, "taker")
                left -= take
        return lots - (cap - left)

    def _modify(self, intent: ModifyOrder) -> None:
        ts, out = self._clock, self._out
        order = self._resting.get(intent.client_id)
        if order is None:
            out.append(ModifyRejected(ts, intent.client_id, CODE_ORDER_NOT_LIVE, "given order is not an active limit order"))
            return
        lots = self._valid(intent.price, intent.size)
        if lots is None:
            out.append(ModifyRejected(ts, intent.client_id, CODE_INVALID_AMOUNT, "invalid order base or quote amount"))
            return
        self._tx += 1
        if self._crosses(order.buy, intent.price):
            self._remove(order)
            out.append(self._canceled(order, "canceled-post-only"))
            return
        self._remove(order)
        if intent.price != order.price or lots > order.lots:
            order.queue = self._join(order.buy, intent.price, lots)     # a new price or more size: back of the queue
        order.price, order.lots = intent.price, lots
        self._add(order)
        out.append(OrderModified(ts, intent.client_id, intent.price, lots / self._size_scale))

    def _add(self, order: _Resting) -> None:
        self._resting[order.client_id] = order
        self._at.setdefault((order.buy, order.price), []).append(order)
        self._index_prices()

    def _remove(self, order: _Resting) -> None:
        self._resting.pop(order.client_id, None)
        level = self._at.get((order.buy, order.price))
        if level is not None:
            level[:] = [o for o in level if o.client_id != order.client_id]
            if not level:
                del self._at[(order.buy, order.price)]
        self._index_prices()

    def _index_prices(self) -> None:
        self._our_bid_px = {px for buy, px in self._at if buy}
        self._our_ask_px = {px for buy, px in self._at if not buy}
        self._our_max_bid = max(self._our_bid_px, default=-math.inf)
        self._our_min_ask = min(self._our_ask_px, default=math.inf)

    def _cancel_all(self) -> None:
        for order in list(self._resting.values()):
            self._remove(order)
            self._out.append(self._canceled(order, "requested"))

    def _canceled(self, order: _Resting, reason: str) -> OrderCanceled:
        return OrderCanceled(self._clock, order.client_id, reason, order.filled_lots / self._size_scale)

    def _ack(self, event: Event) -> None:
        if not self.config.faults.lost_acks:
            self._out.append(event)

    # -- budget and reports -----------------------------------------------------------------
    def _report_budget(self, now: float) -> None:
        update = self._budget.report(now)
        if update is not None:
            self._out.append(update)

    def _snapshots(self) -> None:
        ts, seq, lots = self._clock, self._seq, self._position_lots
        entry = abs(self._entry_cost / lots) if lots else 0.0
        self._out.append(OrdersSnapshot(ts, tuple(
            OpenOrderReport(o.client_id, "buy" if o.buy else "sell", o.price, o.lots / self._size_scale,
                            f"replay-{o.client_id}") for o in self._resting.values()), seq))
        self._out.append(PositionSnapshot(ts, self.position_units, entry, None, seq))

    def _require_running(self, what: str) -> None:
        if not self._started:
            raise VenueDisconnected(f"replay venue: {what}() before start()")
        if self._stopped:
            raise VenueDisconnected(f"replay venue: {what}() after stop()")
