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
3. prices: mid -/+ half the spread (plus per-side adds), rounded outward to the
   tick and kept off the opposite touch so a post-only order never crosses.
"""
from __future__ import annotations

from typing import NamedTuple

from rules.effects import Effects
from runtime.config import MakerConfig
from runtime.events import Side
from runtime.market import MarketSpec

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


class Maker:
    """Pure quote computation plus the per-side fill cooldown clocks."""

    def __init__(self, config: MakerConfig, market: MarketSpec):
        self.market = market
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

    def note_fill(self, side: Side, ts: float) -> None:
        self._last_fill_ts[side] = ts

    def _vol_frac(self, vol_bps: float) -> float:
        """Where volatility sits in the band: 0 at or below calm, 1 at or above wild."""
        frac = (vol_bps - self._calm_vol) / self._vol_range
        return 0.0 if frac < 0 else 1.0 if frac > 1 else frac

    def spread_bps(self, vol_bps: float, effects: Effects) -> float:
        band_spread = self._band_min + self._vol_frac(vol_bps) * self._band_range
        base = band_spread if band_spread > self._spread else self._spread
        added = effects.spread_add_bps
        added = self._max_cut if added < self._max_cut else self._max_add if added > self._max_add else added
        spread = base + added
        return spread if spread > self._min_spread else self._min_spread

    def size_units(self, vol_bps: float, mid: float, effects: Effects) -> float:
        size = self._size * (self._calm_mult + self._vol_frac(vol_bps) * self._mult_range) * effects.size_mult
        size = self._size_min if size < self._size_min else self._size_max if size > self._size_max else size
        cap = effects.size_cap_units
        if cap is not None and cap < size:
            size = cap
        # The notional floor and the venue minimum win over everything: a smaller order is refused.
        floor_units = self.market.min_size_at(mid)
        if self._floor > floor_units * mid:
            floor_units = self.market.round_up_size(self._floor / mid)
        size = self.market.quantize_size(size)
        return size if size > floor_units else floor_units

    def plan(self, features: dict[str, float], effects: Effects, now: float,
             allow_bid: bool = True, allow_ask: bool = True) -> QuotePlan:
        """Desired quotes for this tick. `allow_*` come from the risk state (reducing-only)."""
        mid = features["mid"]
        if mid <= 0:
            return QuotePlan(None, None, 0.0, "no_market", "no_market")
        vol = features["vol_bps"]
        spread = self.spread_bps(vol, effects)
        size = self.size_units(vol, mid, effects)
        half = spread / 2
        bid_reason = self._blocked("buy", effects.pause_bid, effects.bid_cooldown_s, allow_bid, now)
        ask_reason = self._blocked("sell", effects.pause_ask, effects.ask_cooldown_s, allow_ask, now)
        bid = ask = None
        market = self.market
        if not bid_reason:
            price = market.quantize_price(mid * (1 - (half + effects.bid_spread_add_bps) * BPS), "buy")
            best_ask = features["best_ask"]
            if best_ask > 0 and price >= best_ask:
                price = market.quantize_price(best_ask - market.tick, "buy")
            # The venue checks the notional at the order's own price, which for a bid is below the mid
            # the size was floored at: re-check there, or a bid a few bps down is refused (21706).
            bid_size = size if market.is_valid_order(price, size) else market.min_size_at(price)
            bid = Quote("buy", price, bid_size) if price > 0 else None
        if not ask_reason:
            price = market.quantize_price(mid * (1 + (half + effects.ask_spread_add_bps) * BPS), "sell")
            best_bid = features["best_bid"]
            if best_bid > 0 and price <= best_bid:
                price = market.quantize_price(best_bid + market.tick, "sell")
            ask = Quote("sell", price, size)   # above the mid: the floor at the mid already holds
        return QuotePlan(bid, ask, spread, bid_reason, ask_reason)

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
