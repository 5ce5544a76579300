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

from dataclasses import dataclass

from rules.effects import Effects
from runtime.config import MakerConfig
from runtime.events import Side
from runtime.market import MarketSpec

BPS = 1e-4


@dataclass(frozen=True, slots=True)
class Quote:
    side: Side
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class QuotePlan:
    """Desired quotes and why a side is missing (for guard_block_s and traces)."""

    bid: Quote | None
    ask: Quote | None
    spread_bps: float
    bid_blocked: str      # "" when quoting, else the reason ("pause", "cooldown", ...)
    ask_blocked: str


class Maker:
    """Pure quote computation plus the per-side fill cooldown clocks."""

    def __init__(self, config: MakerConfig, market: MarketSpec):
        self.config = config
        self.market = market
        self._last_fill_ts = {"buy": -1e18, "sell": -1e18}

    def note_fill(self, side: Side, ts: float) -> None:
        self._last_fill_ts[side] = ts

    def _vol_frac(self, vol_bps: float) -> float:
        """Where volatility sits in the band: 0 at or below calm, 1 at or above wild."""
        band = self.config.volatility
        frac = (vol_bps - band.calm_vol_bps) / (band.wild_vol_bps - band.calm_vol_bps)
        return 0.0 if frac < 0 else 1.0 if frac > 1 else frac

    def spread_bps(self, vol_bps: float, effects: Effects) -> float:
        cfg = self.config
        band = cfg.volatility
        band_spread = band.min_spread_bps + self._vol_frac(vol_bps) * (band.max_spread_bps - band.min_spread_bps)
        added = min(max(effects.spread_add_bps, -cfg.max_spread_cut_bps), cfg.max_spread_add_bps)
        return max(max(cfg.spread_bps, band_spread) + added, cfg.min_spread_bps)

    def size_units(self, vol_bps: float, mid: float, effects: Effects) -> float:
        cfg = self.config
        adaptive = cfg.adaptive_size.calm_mult + self._vol_frac(vol_bps) * (
            cfg.adaptive_size.wild_mult - cfg.adaptive_size.calm_mult)
        size = min(max(cfg.size_units * adaptive * effects.size_mult, cfg.size_min_units), cfg.size_max_units)
        if effects.size_cap_units is not None:
            size = min(size, effects.size_cap_units)
        # The notional floor and the venue minimum win over everything: a smaller order is refused.
        floor_units = self.market.min_size_at(mid)
        if cfg.notional_floor > floor_units * mid:
            floor_units = self.market.round_up_size(cfg.notional_floor / mid)
        return max(self.market.quantize_size(size), floor_units)

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
            bid = Quote("buy", price, max(size, market.min_size_at(price))) if price > 0 else None
        if not ask_reason:
            price = market.quantize_price(mid * (1 + (half + effects.ask_spread_add_bps) * BPS), "sell")
            best_bid = features["best_bid"]
            if best_bid > 0 and price <= best_bid:
                price = market.quantize_price(best_bid + market.tick, "sell")
            ask = Quote("sell", price, max(size, market.min_size_at(price)))
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
        return abs(want.price - live_price) > self.config.requote_tolerance_bps * BPS * want.price
