"""The feature store: every number a policy can name, kept current event by event.

The names, units and meanings are the catalog (runtime/catalog.py); this is how their
values are computed.

Policies read `FeatureStore.values` directly on every tick, so each feature is
updated incrementally where its input changes (a BookTop moves the mid, a Fill
moves inventory) and `advance(now)` does only the clock-driven work: ages,
timers, window eviction and second-bucket rolls, each skipped when nothing is due.
Time is whatever clock the events and `now` share (epoch or simulated seconds).
"""
from __future__ import annotations

import math
from collections import deque
from math import exp as _exp, floor as _floor, log as _log, sqrt as _sqrt

from runtime.catalog import CATALOG, NEVER_AGE_S
from runtime.config import Config
from runtime.events import (
    BookTop,
    BudgetUpdate,
    CancelRejected,
    Event,
    Fill,
    Funding,
    MarketTrade,
    ModifyRejected,
    OrderAccepted,
    OrderCanceled,
    OrderModified,
    OrderOpen,
    OrderRejected,
    OrdersSnapshot,
    OutcomeUnknown,
    PositionSnapshot,
    VenueStatus,
)
from runtime.pnl import FifoPosition
from runtime.position import PositionBook

BPS = 1e4
SECONDS_PER_MINUTE = 60.0

# Returns are sampled at most this often (event time). Book updates arrive many times a
# second and the touch flickers by a tick; r*r/dt over a few milliseconds would let that
# bid/ask bounce dominate the volatility estimate. 0.25 s matches the default tick.
RETURN_SAMPLE_MIN_S = 0.25

# sigma_1m keeps one bucket of squared returns per second over this window.
SIGMA_WINDOW_S = 60

# Windowed sums are kept in integer units of these quanta so that adding and later
# evicting the same entries returns exactly to zero: a float residue like -3e-17 would
# otherwise read as "losing money" to a `realized_pnl_5m < 0` rule.
PNL_QUANTUM_QUOTE = 1e-9
MARKOUT_QUANTUM_BPS = 1e-9

# Sizes within half a lot are the same size: the venue counts whole lots, so a smaller gap
# is float rounding. Used to decide that a snapshot agrees and that an order is fully filled.
SIZE_TOLERANCE_LOTS = 0.5

# Deadlines computed with float arithmetic (a window's end, a threshold reached by an age) are
# reported this much early: rounding may then cost one extra tick, never a missed change.
EARLY_S = 1e-3


class FeatureStore:
    """Feature values for one market, updated by `apply(event)` and `advance(now)`.

    `values` is one dict for the store's lifetime, holding every catalog name (0.0
    until known), so compiled policies can bind it once. Our own fills drive the
    FIFO position through a PositionBook, which de-duplicates them and reconciles
    them with the venue's snapshots without inventing fills or PnL (runtime/position.py).
    """

    __slots__ = (
        "values", "_handlers", "_book",
        # config, cached as plain floats
        "_halflife_s", "_decay_per_s", "_trend_lookback_s", "_soft_cap_units", "_trigger_units",
        "_slice_s", "_edge_window_s", "_hit_fast_s", "_hit_window_fills", "_markout_horizon_s",
        "_size_tolerance_units",
        # book
        "_mid", "_bid", "_ask", "_book_ts", "_last_price",
        # volatility: the last sampled mid and the EWMA variance rate (log-return^2 per second)
        "_sample_ts", "_sample_mid", "_var_rate",
        # sigma_1m: squared sampled returns per second, ring indexed by second % SIGMA_WINDOW_S
        "_sq_buckets", "_sq_sum", "_sq_sec",
        # trend: last mid of each second, oldest first
        "_trend_secs", "_trend_mids",
        # realized PnL windows: (fill ts, pnl in quanta), and the running sums in quanta
        "_pnl_short", "_pnl_short_sum", "_pnl_long", "_pnl_long_sum",
        # fixed slices for neg_pnl_slices
        "_slice_end", "_slice_sum", "_neg_slices",
        # our orders and fills
        "_orders", "_fill_count", "_last_fill_ts", "_hits", "_hit_count",
        "_markout_pending", "_markouts", "_markout_sum",
        # timers
        "_started_at", "_blocked_since", "_exposed_since", "_unpriced_snapshot",
    )

    def __init__(self, config: Config) -> None:
        maker, feat = config.maker, config.features
        self._halflife_s = maker.volatility.halflife_s
        self._decay_per_s = -math.log(2.0) / self._halflife_s   # exp(dt * this) == 0.5 ** (dt / halflife)
        self._trend_lookback_s = maker.trend.lookback_s
        self._soft_cap_units = config.inventory.soft_cap_units
        self._trigger_units = config.hedger.trigger_units
        self._slice_s = feat.pnl_slice_s
        self._edge_window_s = feat.edge_window_s
        self._hit_fast_s = feat.hit_fast_ms / 1000.0
        self._hit_window_fills = feat.hit_window_fills
        self._markout_horizon_s = feat.markout_horizon_s
        self._size_tolerance_units = SIZE_TOLERANCE_LOTS * 10.0 ** -config.market.size_decimals

        self.values: dict[str, float] = dict.fromkeys((f.name for f in CATALOG), 0.0)
        self.values.update(
            book_age_s=NEVER_AGE_S,
            last_fill_age_s=NEVER_AGE_S,
            size_min_units=maker.size_min_units,
            size_max_units=maker.size_max_units,
            max_position_units=config.risk.max_position_units,
            max_inventory_notional=config.risk.max_inventory_notional,
            soft_cap_units=config.inventory.soft_cap_units,
            hedge_trigger_units=config.hedger.trigger_units,
            hedge_target_units=config.hedger.target_units,
            hedge_standdown_s=config.hedger.standdown_s,
            hedge_retrace_bps=config.hedger.retrace_bps,
            venue_budget_frac=1.0,
        )
        self._handlers = {
            BookTop: self.book_event,
            MarketTrade: self._on_trade,
            OrderOpen: self._on_open,
            OrderModified: self._on_modified,
            OrderCanceled: self._on_order_gone,
            OrderRejected: self._on_order_gone,
            Fill: self._on_fill,
            Funding: self._on_funding,
            PositionSnapshot: self._on_snapshot,
            VenueStatus: self._on_venue_status,
            BudgetUpdate: self._on_budget,
            # Order-lifecycle events the tracker needs and no feature reads.
            OrderAccepted: _ignore, CancelRejected: _ignore, ModifyRejected: _ignore, OutcomeUnknown: _ignore,
            OrdersSnapshot: _ignore,
        }
        self._book = PositionBook(10.0 ** -config.market.size_decimals, config.orders.reconcile_grace_s)

        self._mid = 0.0
        self._bid = 0.0
        self._ask = 0.0
        self._book_ts = 0.0
        self._last_price = 0.0
        self._sample_ts = 0.0
        self._sample_mid = 0.0
        self._var_rate = 0.0
        self._sq_buckets = [0.0] * SIGMA_WINDOW_S
        self._sq_sum = 0.0
        self._sq_sec: int | None = None
        self._trend_secs: deque[int] = deque()
        self._trend_mids: deque[float] = deque()
        self._pnl_short: deque[tuple[float, int]] = deque()
        self._pnl_short_sum = 0
        self._pnl_long: deque[tuple[float, int]] = deque()
        self._pnl_long_sum = 0
        self._slice_end: float | None = None
        self._slice_sum = 0
        self._neg_slices = 0
        self._orders: dict[int, list[float]] = {}    # client_id -> [accepted ts, remaining units]
        self._fill_count = 0
        self._last_fill_ts: float | None = None
        self._hits: deque[bool] = deque()
        self._hit_count = 0
        self._markout_pending: deque[tuple[float, bool, float]] = deque()   # (due ts, is_buy, fill price)
        self._markouts: deque[int] = deque()          # in MARKOUT_QUANTUM_BPS
        self._markout_sum = 0
        self._started_at: float | None = None
        self._blocked_since: float | None = None
        self._exposed_since: float | None = None
        self._unpriced_snapshot: PositionSnapshot | None = None

    @property
    def ready(self) -> bool:
        """True once a mid is known; before that nothing can be quoted or marked."""
        return self._mid > 0.0

    @property
    def position(self) -> FifoPosition:
        return self._book.fifo

    @property
    def position_book(self) -> PositionBook:
        return self._book

    def restore_position(self, lots: list[tuple[float, float]], realized_quote: float, trade_ids: list[str],
                         funding_seqs: list[int], ts: float) -> None:
        """Start from the fills ledger's position and realized PnL (a restart); see PositionBook.restore."""
        self._book.restore(lots, realized_quote, trade_ids, funding_seqs)
        self.values["realized_pnl_total"] = self._book.fifo.realized_total
        self._inventory_changed(ts, self._book.units)

    def apply(self, event: Event) -> bool:
        """Fold one venue event into the features (O(1) amortized). False when the event was
        ignored as already booked (a fill delivered twice)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise TypeError(f"FeatureStore.apply: not a venue event: {type(event).__name__}")
        return handler(event) is not False

    def advance(self, now: float) -> None:
        """Clock-driven updates, once per tick before rules run: ages, timers, windows."""
        values = self.values
        if self._started_at is None:
            self._started_at = now
            self._slice_end = now + self._slice_s
        values["uptime_s"] = now - self._started_at
        if self._mid > 0.0:
            values["book_age_s"] = now - self._book_ts
        if self._last_fill_ts is not None:
            values["last_fill_age_s"] = now - self._last_fill_ts
        if self._blocked_since is not None:
            values["guard_block_s"] = now - self._blocked_since
        if self._exposed_since is not None:
            values["unhedged_exposure_s"] = now - self._exposed_since

        sec = math.floor(now)
        if self._sq_sec is not None and sec > self._sq_sec:
            self._roll_sigma(sec)
        if len(self._trend_secs) > 1 and self._trend_secs[1] <= now - self._trend_lookback_s:
            self._trim_trend(now)
            values["trend_bps"] = (self._mid / self._trend_mids[0] - 1.0) * BPS

        if self._pnl_short and self._pnl_short[0][0] <= now - self._slice_s:
            self._pnl_short_sum = _evict(self._pnl_short, self._pnl_short_sum, now - self._slice_s)
            values["realized_pnl_5m"] = self._pnl_short_sum * PNL_QUANTUM_QUOTE
        if self._pnl_long and self._pnl_long[0][0] <= now - self._edge_window_s:
            self._pnl_long_sum = _evict(self._pnl_long, self._pnl_long_sum, now - self._edge_window_s)
            values["realized_pnl_30m"] = self._pnl_long_sum * PNL_QUANTUM_QUOTE
        if now >= self._slice_end:
            self._close_slices(now)
        if self._markout_pending and self._markout_pending[0][0] <= now:
            self._resolve_markouts(now)
        book = self._book
        if book._pending is not None:
            book.settle(now, self._last_price)
            self._after_reconcile(now)

    def next_change(self, now: float) -> tuple[float, tuple[str, ...]]:
        """When, without a new event, `advance` could next change a feature other than by the clock
        alone, and which features rise with the clock meanwhile (one second per second: ages,
        timers, uptime). `now` when something is pending at once (a position settling).

        Times computed with arithmetic are pulled EARLY_S earlier, so rounding can only make a
        caller look again sooner, never too late."""
        if self._book._pending is not None or self._started_at is None:
            return now, ()
        at = self._slice_end
        if self._sq_sum != 0.0 and self._sq_sec is not None:
            at = min(at, self._sq_sec + 1)                      # a second leaves the sigma window
        if len(self._trend_secs) > 1:
            at = min(at, self._trend_secs[1] + self._trend_lookback_s - EARLY_S)
        if self._pnl_short:
            at = min(at, self._pnl_short[0][0] + self._slice_s - EARLY_S)
        if self._pnl_long:
            at = min(at, self._pnl_long[0][0] + self._edge_window_s - EARLY_S)
        if self._markout_pending:
            at = min(at, self._markout_pending[0][0])
        rising = ["uptime_s"]
        if self._mid > 0.0:
            rising.append("book_age_s")
        if self._last_fill_ts is not None:
            rising.append("last_fill_age_s")
        if self._blocked_since is not None:
            rising.append("guard_block_s")
        if self._exposed_since is not None:
            rising.append("unhedged_exposure_s")
        return at, tuple(rising)

    def note_quote_blocked(self, blocked: bool, now: float) -> None:
        """Whether the side that would grow inventory is suppressed (policy pause or risk gate)."""
        if not blocked:
            self._blocked_since = None
            self.values["guard_block_s"] = 0.0
            return
        if self._blocked_since is None:
            self._blocked_since = now
        self.values["guard_block_s"] = now - self._blocked_since

    def note_trading_state(self, state: int, open_orders: int) -> None:
        """The risk gate's state (0 active, 1 reducing-only, 2 halted) and our live order count."""
        self.values["trading_state"] = float(state)
        self.values["open_orders"] = float(open_orders)

    def book_event(self, event: BookTop, publish: bool = True) -> bool | None:
        """Fold one book update into the store's state (the return sampler, the sigma ring, the
        trend window, due markouts) and publish the book's features (what `apply` does).
        With `publish=False` they are left for `publish_book()`: after a batch of events that
        is done once, with the same result as after each update. True for a two-sided book;
        None for a one-sided one, which changes nothing."""
        ts = event.ts
        bid, ask = event.bid_px, event.ask_px
        if bid <= 0.0 or ask <= 0.0:
            return None    # a one-sided book has no mid; keep the last one rather than invent one
        # Markouts due before this update saw the mid that was standing until now.
        pending = self._markout_pending
        if pending and pending[0][0] <= ts:
            self._resolve_markouts(ts)
        mid = (bid + ask) * 0.5
        self._mid = mid
        self._bid = bid
        self._ask = ask
        self._book_ts = ts
        self._last_price = mid
        if self._unpriced_snapshot is not None:
            self._on_snapshot(self._unpriced_snapshot)

        sec = _floor(ts)
        sq_sec = self._sq_sec
        if sq_sec is not None and sec > sq_sec:
            self._roll_sigma(sec)    # sigma_1m is current as of this event, not only as of the last tick
        if self._sample_mid == 0.0:
            self._sample_ts, self._sample_mid = ts, mid
            if self._sq_sec is None:
                self._roll_sigma(sec)
        else:
            dt = ts - self._sample_ts
            if dt >= RETURN_SAMPLE_MIN_S:
                self._sample_return(ts, mid, dt)

        secs = self._trend_secs
        if secs and sec <= secs[-1]:
            self._trend_mids[-1] = mid
        else:
            secs.append(sec)
            self._trend_mids.append(mid)
            if len(secs) > 1 and secs[1] <= ts - self._trend_lookback_s:
                self._trim_trend(ts)
        if publish:
            # publish_book(), inlined: this runs for every book update applied one by one.
            values = self.values
            values["mid"] = mid
            values["best_bid"] = bid
            values["best_ask"] = ask
            values["market_spread_bps"] = (ask - bid) / mid * BPS
            values["inventory_notional"] = values["inventory_units"] * mid
            values["unrealized_pnl"] = self._book.fifo.unrealized(mid)
            values["trend_bps"] = (mid / self._trend_mids[0] - 1.0) * BPS
        return True

    def publish_book(self) -> None:
        """Write the features the last book update determines: the touch, the spread, the
        inventory marked at the mid and the trend. Every input is the store's state after
        that update (later fills and snapshots re-mark inventory at the same mid, and nothing
        but a book update moves the mid or the trend window), so publishing once after a
        batch gives exactly what publishing after each update would have left."""
        values = self.values
        mid, bid, ask = self._mid, self._bid, self._ask
        values["mid"] = mid
        values["best_bid"] = bid
        values["best_ask"] = ask
        values["market_spread_bps"] = (ask - bid) / mid * BPS
        values["inventory_notional"] = values["inventory_units"] * mid
        values["unrealized_pnl"] = self._book.fifo.unrealized(mid)
        values["trend_bps"] = (mid / self._trend_mids[0] - 1.0) * BPS

    def _sample_return(self, ts: float, mid: float, dt: float) -> None:
        """One sampled log return: feeds the EWMA variance rate and the 60 s ring.

        vol_bps moves only here, in event time: while the book is quiet it keeps its last
        value, and the next sample decays it by the whole gap at once.

        The ring has already been rolled to this event's second (or a later one, if the
        event arrived after a tick: then it lands in the current second).
        """
        ret = _log(mid / self._sample_mid)
        ret_sq = ret * ret
        keep = _exp(dt * self._decay_per_s)
        self._var_rate = var_rate = keep * self._var_rate + (1.0 - keep) * (ret_sq / dt)
        self._sample_ts, self._sample_mid = ts, mid
        values = self.values
        values["vol_bps"] = _sqrt(var_rate * SECONDS_PER_MINUTE) * BPS

        self._sq_buckets[self._sq_sec % SIGMA_WINDOW_S] += ret_sq
        self._sq_sum = sq_sum = self._sq_sum + ret_sq
        values["sigma_1m_bps"] = _sqrt(sq_sum) * BPS

    def _roll_sigma(self, sec: int) -> None:
        """Empty the buckets of seconds that left the window, then resum the 60 that remain.

        Resumming (once per second, not per event) instead of subtracting keeps the sum
        exact: after a 100 bps minute, subtraction would leave a residue larger than a
        calm minute's whole variance.
        """
        buckets = self._sq_buckets
        if self._sq_sec is None or sec - self._sq_sec >= SIGMA_WINDOW_S:
            buckets[:] = [0.0] * SIGMA_WINDOW_S
        else:
            for gone in range(self._sq_sec + 1, sec + 1):
                buckets[gone % SIGMA_WINDOW_S] = 0.0
        self._sq_sec = sec
        self._sq_sum = math.fsum(buckets)
        self.values["sigma_1m_bps"] = math.sqrt(self._sq_sum) * BPS

    def _trim_trend(self, now: float) -> None:
        """Drop samples older than the one standing at now - lookback (keep at least one)."""
        secs, mids = self._trend_secs, self._trend_mids
        horizon = now - self._trend_lookback_s
        while len(secs) > 1 and secs[1] <= horizon:
            secs.popleft()
            mids.popleft()

    def _on_trade(self, event: MarketTrade) -> None:
        self._last_price = event.price
        if self._unpriced_snapshot is not None:
            self._on_snapshot(self._unpriced_snapshot)

    def _on_open(self, event: OrderOpen) -> None:
        self._orders[event.client_id] = [event.ts, event.size]

    def _on_modified(self, event: OrderModified) -> None:
        # A modified order rests anew from here: a fill soon after counts as hit fast.
        self._orders[event.client_id] = [event.ts, event.size]

    def _on_order_gone(self, event: OrderCanceled | OrderRejected) -> None:
        self._orders.pop(event.client_id, None)

    def _on_fill(self, event: Fill) -> bool:
        ts, price = event.ts, event.price
        outcome, realized = self._book.fill(event, ts)
        if outcome == "duplicate":
            return False
        self._last_price = price
        if outcome == "booked":
            self._book_realized(ts, realized)
        self._fill_count += 1
        self._last_fill_ts = ts
        values = self.values
        values["fill_count"] = float(self._fill_count)
        values["last_fill_age_s"] = 0.0
        self._inventory_changed(ts, self._book.units)

        order = self._orders.get(event.client_id)
        if event.liquidity == "maker":
            # Without an OrderAccepted we cannot tell how long it rested; leave it out of the share.
            if order is not None:
                self._record_hit(ts - order[0] <= self._hit_fast_s)
            self._markout_pending.append((ts + self._markout_horizon_s, event.side == "buy", price))
        if order is not None:
            order[1] -= event.size
            if order[1] <= self._size_tolerance_units:
                del self._orders[event.client_id]
        return True

    def _record_hit(self, fast: bool) -> None:
        hits = self._hits
        if len(hits) == self._hit_window_fills:
            self._hit_count -= hits.popleft()
        hits.append(fast)
        self._hit_count += fast
        self.values["hit_fast_frac"] = self._hit_count / len(hits)

    def _resolve_markouts(self, now: float) -> None:
        """Score every markout due by `now` against the mid standing at that moment."""
        pending, markouts = self._markout_pending, self._markouts
        mid = self._mid
        while pending and pending[0][0] <= now:
            _, is_buy, price = pending.popleft()
            if mid <= 0.0:
                continue
            markout_bps = (mid / price - 1.0) * BPS if is_buy else (price / mid - 1.0) * BPS
            if len(markouts) == self._hit_window_fills:
                self._markout_sum -= markouts.popleft()
            quanta = round(markout_bps / MARKOUT_QUANTUM_BPS)
            markouts.append(quanta)
            self._markout_sum += quanta
        if markouts:
            self.values["markout_bps"] = self._markout_sum * MARKOUT_QUANTUM_BPS / len(markouts)

    def _book_realized(self, ts: float, pnl_quote: float) -> None:
        """Add realized PnL to the total, both rolling windows and the open slice."""
        values = self.values
        values["realized_pnl_total"] = self._book.fifo.realized_total
        quanta = round(pnl_quote / PNL_QUANTUM_QUOTE)
        if quanta == 0:
            return
        self._pnl_short.append((ts, quanta))
        self._pnl_short_sum += quanta
        self._pnl_long.append((ts, quanta))
        self._pnl_long_sum += quanta
        self._slice_sum += quanta
        values["realized_pnl_5m"] = self._pnl_short_sum * PNL_QUANTUM_QUOTE
        values["realized_pnl_30m"] = self._pnl_long_sum * PNL_QUANTUM_QUOTE

    def _close_slices(self, now: float) -> None:
        """Complete every slice that ended by `now`; a slice after the first is empty and resets."""
        self._neg_slices = self._neg_slices + 1 if self._slice_sum < 0 else 0
        self._slice_sum = 0
        self._slice_end += self._slice_s
        if now >= self._slice_end:
            self._neg_slices = 0
            skipped = math.floor((now - self._slice_end) / self._slice_s) + 1
            self._slice_end += skipped * self._slice_s
        self.values["neg_pnl_slices"] = float(self._neg_slices)

    def _on_funding(self, event: Funding) -> bool:
        if not self._book.funding(event):
            return False   # delivered before
        self._book_realized(event.ts, event.amount)
        return True

    def _on_snapshot(self, event: PositionSnapshot) -> None:
        """Reconcile with the venue (runtime/position.py). A snapshot that needs a price to seed
        the position and comes before any price waits for the first one."""
        mark = self._last_price
        if mark <= 0.0 and event.entry_price <= 0.0 and self._book.units == 0.0 and event.units != 0.0:
            self._unpriced_snapshot = event
            self._inventory_changed(event.ts, event.units)
            return
        self._unpriced_snapshot = None
        self._book.snapshot(event, event.ts, mark)
        self._after_reconcile(event.ts)

    def _after_reconcile(self, ts: float) -> None:
        if self._book.corrections:
            self._inventory_changed(ts, self._book.units)

    def _on_venue_status(self, event: VenueStatus) -> None:
        if not event.book_synced:
            # The next book after a resync may sit far from the last one: start the return
            # sampler afresh so the jump across the gap does not read as a volatility spike.
            self._sample_mid = 0.0

    def _on_budget(self, event: BudgetUpdate) -> None:
        self.values["venue_budget_frac"] = 1.0 - event.used / event.limit if event.limit > 0 else 1.0

    def _inventory_changed(self, ts: float, units: float) -> None:
        values = self.values
        mid = self._mid
        values["inventory_units"] = units
        values["inventory_frac"] = units / self._soft_cap_units
        values["inventory_notional"] = units * mid
        values["unrealized_pnl"] = self._book.fifo.unrealized(mid) if mid > 0.0 else 0.0
        if abs(units) > self._trigger_units:
            if self._exposed_since is None:
                self._exposed_since = ts
        elif self._exposed_since is not None:
            self._exposed_since = None
            values["unhedged_exposure_s"] = 0.0


def _evict(window: deque[tuple[float, int]], total: int, horizon: float) -> int:
    """Pop entries stamped at or before `horizon`; return the window's new sum."""
    while window and window[0][0] <= horizon:
        total -= window.popleft()[1]
    return total


def _ignore(event: Event) -> None:
    """Events the store has no feature for."""
