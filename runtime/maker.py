"""Where our bid and ask should be, given the features and the merged policy effects.

The maker only computes desired quotes; the trading loop turns differences from
our live orders into intents, and the risk gate has the last word. Steps:

1. spread: the baseline `spread_bps`, widened by the volatility band when
   volatility is high (the band maps vol_bps to 7..13 bps; it only ever widens
   the baseline, so tightening below it is a policy decision, e.g. the aggressive
   regime), plus the policies' `spread_add_bps` capped to
   [-max_spread_cut_bps, +max_spread_add_bps], never below `min_spread_bps`.
2. size: `size_units` x the adaptive multiplier (1.1 calm -> 0.7 wild) x the
   policies' `size_mult`, clamped to size_min..size_max, capped by
   `size_cap_units`, then raised to the notional floor and the exchange minimum
   and quantized to the lot, so the venue never refuses it (the seed's 21706).
   If that floor is above size_max (or the policy's cap), the side is not quoted
   (reason "size_max" / "size_cap"): no cap is ever exceeded to satisfy a minimum.
3. prices: mid -/+ half the spread plus the policies' per-side adds, each add capped
   to [-max_spread_cut_bps, +max_spread_add_bps] and each side kept at least
   min_spread_bps / 2 from the mid (a policy cannot park one side on the mid), rounded outward to the
   tick and kept off the opposite touch so a post-only order never crosses.
"""
from __future__ import annotations

import math
from math import ceil, floor
from typing import NamedTuple

from rules.effects import Effects
from runtime.config import MakerConfig
from runtime.events import Side
from runtime.market import _EPS_STEPS, MarketSpec

BPS = 1e-4


class Quote(NamedTuple):
    side: Side
    price: float
    size: float


class QuotePlan(NamedTuple):
    """Desired quotes and why a side is missing (for guard_block_s and traces)."""

    bid: Quote | None
    ask: Quote | None
    spread_bps: float
    bid_blocked: str      # "" when quoting, else the reason ("pause", "cooldown", ...)
    ask_blocked: str


# NamedTuples built without their generated __new__ (two quotes and a plan per tick):
# _new(Quote, (side, price, size)) is Quote(side, price, size), fields in order.
_new = tuple.__new__
# An open end of a range of tick counts.
_NO_BOUND = 1 << 62


class Maker:
    """Pure quote computation plus the per-side fill cooldown clocks."""

    def __init__(self, config: MakerConfig, market: MarketSpec):
        self.market = market
        self._price_scale = market._price_scale
        self._price_decimals = market.price_decimals
        self._size_scale = market._size_scale
        self._tick = market.tick
        self._min_base_lots = market._min_base_lots
        self._min_quote_units = market._min_quote_units
        # plan()'s memo of market.min_size_at(mid): valid for mids of lo..hi whole ticks
        self._memo_lo_ticks, self._memo_hi_ticks, self._memo_min_size = 1, 0, 0.0
        self.config = config
        self._last_fill_ts = {"buy": -1e18, "sell": -1e18}

    @property
    def config(self) -> MakerConfig:
        return self._config

    @config.setter
    def config(self, config: MakerConfig) -> None:
        """Set on start and on a config reload; the numbers are copied into plain floats because
        this runs every tick and a pydantic attribute read costs several times a float's."""
        self._config = config
        band = config.volatility
        self._calm_vol = band.calm_vol_bps
        self._vol_range = band.wild_vol_bps - band.calm_vol_bps
        self._band_min = band.min_spread_bps
        self._band_range = band.max_spread_bps - band.min_spread_bps
        self._calm_mult = config.adaptive_size.calm_mult
        self._mult_range = config.adaptive_size.wild_mult - config.adaptive_size.calm_mult
        self._spread = config.spread_bps
        self._min_spread = config.min_spread_bps
        self._max_add = config.max_spread_add_bps
        self._max_cut = -config.max_spread_cut_bps
        self._size = config.size_units
        self._size_min = config.size_min_units
        self._size_max = config.size_max_units
        self._floor = config.notional_floor
        self._tolerance = config.requote_tolerance_bps * BPS
        # plan()'s memo of the spread and the size before the floors (they depend on these numbers)
        self._memo_frac: float | None = None
        self._memo_effects: Effects | None = None
        self._memo_spread = 0.0
        self._memo_raw_size: float | None = None
        self._memo_size = 0.0
        # plan()'s memo of the whole plan, and of what it was computed from
        self._plan_key: tuple | None = None
        self._plan: QuotePlan | None = None

    def note_fill(self, side: Side, ts: float) -> None:
        self._last_fill_ts[side] = ts

    def cooldown_ends(self, now: float, effects: Effects) -> float:
        """When a side held back by a fill cooldown may quote again (inf if none is held back):
        the only way `plan` depends on the clock."""
        at = math.inf
        for side, cooldown_s in (("buy", effects.bid_cooldown_s), ("sell", effects.ask_cooldown_s)):
            ends = self._last_fill_ts[side] + cooldown_s
            if cooldown_s > 0 and ends > now:
                at = min(at, ends)
        return at

    def _vol_frac(self, vol_bps: float) -> float:
        """Where volatility sits in the band: 0 at or below calm, 1 at or above wild."""
        frac = (vol_bps - self._calm_vol) / self._vol_range
        return 0.0 if frac < 0 else 1.0 if frac > 1 else frac

    def spread_bps(self, vol_bps: float, effects: Effects) -> float:
        return self._spread_at(self._vol_frac(vol_bps), effects)

    def size_units(self, vol_bps: float, mid: float, effects: Effects) -> float:
        size = self._size_before_floor(self._vol_frac(vol_bps), effects)
        # The notional floor and the venue minimum win over everything: a smaller order is refused.
        floor_units = self.market.min_size_at(mid)
        if self._floor > floor_units * mid:
            floor_units = self.market.round_up_size(self._floor / mid)
        return size if size > floor_units else floor_units

    def plan(self, features: dict[str, float], effects: Effects, now: float,
             allow_bid: bool = True, allow_ask: bool = True) -> QuotePlan:
        """Desired quotes for this tick. `allow_*` come from the risk state (reducing-only).

        The plan is a function of the mid, the volatility, the touch, the effects, the `allow_*`
        flags and whether each side's fill cooldown is running, so the last plan is returned while
        those stay the same: two ticks in three at 100 ms on the BTC L2 capture, nine in ten at
        10 ms (~5-8 % of the replay, benchmarks/replay_throughput.py)."""
        bid_cooling = effects.bid_cooldown_s > 0 and now - self._last_fill_ts["buy"] < effects.bid_cooldown_s
        ask_cooling = effects.ask_cooldown_s > 0 and now - self._last_fill_ts["sell"] < effects.ask_cooldown_s
        key = (features["mid"], features["vol_bps"], features["best_bid"], features["best_ask"], effects,
               allow_bid, allow_ask, bid_cooling, ask_cooling)
        if key == self._plan_key:
            return self._plan
        self._plan = plan = self._fresh_plan(features, effects, now, allow_bid, allow_ask)
        self._plan_key = key
        return plan

    def _fresh_plan(self, features: dict[str, float], effects: Effects, now: float,
                    allow_bid: bool, allow_ask: bool) -> QuotePlan:
        """`plan`, computed.

        The same arithmetic as `spread_bps`, `size_units` and the MarketSpec quantizers, inlined
        (this runs every tick), with what depends only on where volatility sits in its band and
        on the effects kept until either changes, the lot-quantized size until the unquantized
        one changes, and the venue minimum at the mid while the mid stays in the range of
        prices that have the same minimum."""
        mid = features["mid"]
        if mid <= 0:
            return QuotePlan(None, None, 0.0, "no_market", "no_market")
        frac = (features["vol_bps"] - self._calm_vol) / self._vol_range
        frac = 0.0 if frac < 0 else 1.0 if frac > 1 else frac
        if frac != self._memo_frac or effects is not self._memo_effects:
            self._memo_frac, self._memo_effects = frac, effects
            self._memo_spread = self._spread_at(frac, effects)
            size = self._size_in_band(frac, effects)
            if size != self._memo_raw_size:
                self._memo_raw_size = size
                self._memo_size = self.market.quantize_size(size)
        spread = self._memo_spread
        size = self._memo_size
        ticks = round(mid * self._price_scale)
        if ticks < self._memo_lo_ticks or ticks > self._memo_hi_ticks:
            self._min_size_for(ticks)
        floor_units = self._memo_min_size
        if self._floor > floor_units * mid:
            floor_units = self.market.round_up_size(self._floor / mid)
        if not size > floor_units:
            size = floor_units
        cap, cap_reason = self.size_limit(effects)
        if not size > cap:
            cap_reason = ""                  # else the floors need more than the cap allows: quote nothing
        half = spread / 2

        if not allow_bid:
            bid_reason = "risk"
        elif effects.pause_bid:
            bid_reason = "pause"
        elif effects.bid_cooldown_s > 0 and now - self._last_fill_ts["buy"] < effects.bid_cooldown_s:
            bid_reason = "cooldown"
        else:
            bid_reason = cap_reason
        if not allow_ask:
            ask_reason = "risk"
        elif effects.pause_ask:
            ask_reason = "pause"
        elif effects.ask_cooldown_s > 0 and now - self._last_fill_ts["sell"] < effects.ask_cooldown_s:
            ask_reason = "cooldown"
        else:
            ask_reason = cap_reason
        bid = ask = None
        scale, decimals = self._price_scale, self._price_decimals
        if not bid_reason:
            # MarketSpec.quantize_price(..., "buy"): bids round down.
            price = round(floor(mid * (1 - self._side_bps(half, effects.bid_spread_add_bps) * BPS) * scale
                                + _EPS_STEPS) / scale, decimals)
            best_ask = features["best_ask"]
            if best_ask > 0 and price >= best_ask:
                price = round(floor((best_ask - self._tick) * scale + _EPS_STEPS) / scale, decimals)
            # The venue checks the notional at the order's own price, which for a bid is below the mid
            # the size was floored at: re-check there, or a bid a few bps down is refused (21706).
            # (MarketSpec.is_valid_order, inlined.)
            price_ticks = round(price * scale)
            lots = round(size * self._size_scale)
            valid = price_ticks > 0 and lots >= self._min_base_lots and lots * price_ticks >= self._min_quote_units
            bid_size = size if valid else self.market.min_size_at(price)
            if bid_size > cap:
                bid_reason = "size_cap" if effects.size_cap_units is not None and bid_size > effects.size_cap_units \
                    else "size_max"
            else:
                bid = _new(Quote, ("buy", price, bid_size)) if price > 0 else None
        if not ask_reason:
            # MarketSpec.quantize_price(..., "sell"): asks round up.
            price = round(ceil(mid * (1 + self._side_bps(half, effects.ask_spread_add_bps) * BPS) * scale
                               - _EPS_STEPS) / scale, decimals)
            best_bid = features["best_bid"]
            if best_bid > 0 and price <= best_bid:
                price = round(ceil((best_bid + self._tick) * scale - _EPS_STEPS) / scale, decimals)
            ask = _new(Quote, ("sell", price, size))   # above the mid: the floor at the mid already holds
        return _new(QuotePlan, (bid, ask, spread, bid_reason, ask_reason))

    def size_limit(self, effects: Effects) -> tuple[float, str]:
        """The most a quote may be (size_max_units, or a policy's size_cap_units below it) and the
        reason a side goes unquoted when the venue minimum or the notional floor needs more.

        A cap is honoured by not quoting rather than by quoting the minimum: a policy that says
        "at most 0.05" must not get 0.061, and size_max_units is the operator's bound on one quote.
        A tiny tolerance keeps a cap equal to a whole-lot size from refusing that size."""
        cap = effects.size_cap_units
        if cap is not None and cap < self._size_max:
            return cap + 1e-12, "size_cap"
        return self._size_max + 1e-12, "size_max"

    def _side_bps(self, half: float, added: float) -> float:
        """One side's distance from the mid: half the spread plus its own add, the add bounded like the
        total (a -1000 bps skew is -max_spread_cut_bps), the side never nearer than min_spread_bps / 2."""
        added = self._max_cut if added < self._max_cut else self._max_add if added > self._max_add else added
        distance = half + added
        min_half = self._min_spread / 2
        return distance if distance > min_half else min_half

    def _spread_at(self, frac: float, effects: Effects) -> float:
        """`spread_bps` for a volatility already placed in its band (`_vol_frac`)."""
        band_spread = self._band_min + frac * self._band_range
        base = band_spread if band_spread > self._spread else self._spread
        added = effects.spread_add_bps
        added = self._max_cut if added < self._max_cut else self._max_add if added > self._max_add else added
        spread = base + added
        return spread if spread > self._min_spread else self._min_spread

    def _size_in_band(self, frac: float, effects: Effects) -> float:
        """`size_units` up to the floors and the lot: the band, the policies' multiplier, the cap."""
        size = self._size * (self._calm_mult + frac * self._mult_range) * effects.size_mult
        size = self._size_min if size < self._size_min else self._size_max if size > self._size_max else size
        cap = effects.size_cap_units
        if cap is not None and cap < size:
            size = cap
        return size

    def _size_before_floor(self, frac: float, effects: Effects) -> float:
        """`size_units` up to the floors: the band, the cap, quantized to the lot."""
        return self.market.quantize_size(self._size_in_band(frac, effects))

    def _min_size_for(self, ticks: int) -> None:
        """Keep `market.min_size_at` for a price of `ticks` whole ticks (it depends on nothing
        else) and the range of tick counts with the same minimum:

            lots = max(min_base_lots, ceil(min_quote_units / ticks))

        is min_base_lots for every ticks >= ceil(min_quote_units / min_base_lots), and a
        larger L exactly for ceil(q / L) <= ticks <= (q - 1) // (L - 1)."""
        if ticks <= 0:
            self._memo_lo_ticks, self._memo_hi_ticks, self._memo_min_size = -_NO_BOUND, 0, math.inf
            return
        base, q = self._min_base_lots, self._min_quote_units
        lots = -(-q // ticks)
        if lots <= base:
            lots = base
            lo = 1 if base == 0 else max(1, -(-q // base))
            hi = _NO_BOUND
        else:
            lo = -(-q // lots)
            hi = (q - 1) // (lots - 1) if lots > 1 else _NO_BOUND
        self._memo_lo_ticks, self._memo_hi_ticks = lo, hi
        self._memo_min_size = round(lots / self._size_scale, self.market.size_decimals)

    def _blocked(self, side: Side, paused: bool, cooldown_s: float, allowed: bool, now: float) -> str:
        if not allowed:
            return "risk"
        if paused:
            return "pause"
        if cooldown_s > 0 and now - self._last_fill_ts[side] < cooldown_s:
            return "cooldown"
        return ""

    def needs_requote(self, live_price: float, live_size: float, want: Quote) -> bool:
        """Re-post only when the wanted price moved beyond the tolerance or the size changed."""
        if abs(live_size - want.size) > self.market.lot / 2:
            return True
        return abs(want.price - live_price) > self._tolerance * want.price
