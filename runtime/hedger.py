"""Bring inventory back toward `target_units`: passive first, crossing only when exposure lasts.

Hedge passively first because crossing the spread costs more than the drift we
are usually hedging; cross (an IOC limit order, never a market order) only once the
exposure has lasted `aggressive_after_s` or a policy forces it, and never past the
slippage cap. A cross is abandoned when the mid has already run further than
`max_chase_bps` from where the hedge was planned: chasing a move we already missed
turns a hedge into a loss-maximiser, so the hedger re-plans at the new price.

One hedge order at a time. The hedger only returns intents; the trading loop
tracks the orders and the risk gate may still deny them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from rules.effects import Effects
from runtime.config import HedgerConfig
from runtime.events import Side
from runtime.intents import CancelOrder, Intent, ModifyOrder, PlaceOrder
from runtime.market import MarketSpec
from runtime.orders import LiveOrder, OrderState, OrderTracker

log = logging.getLogger("lighter_bot.hedger")
BPS = 1e-4


@dataclass(slots=True)
class HedgePlan:
    side: Side
    started_at: float
    plan_mid: float


@dataclass(frozen=True, slots=True)
class HedgeParams:
    """The hedger's knobs for this tick: config, tightened or escalated by policy effects."""

    clip_units: float
    max_slippage_bps: float
    cross_bps: float
    force_aggressive: bool
    cooldown_s: float
    max_chase_bps: float


class Hedger:
    def __init__(self, config: HedgerConfig, market: MarketSpec, supports_modify: bool = False):
        self.config = config
        self.market = market
        self.supports_modify = supports_modify
        self.plan: HedgePlan | None = None
        self.mode = "idle"               # idle | passive | aggressive | cooldown | waiting (a hedge in doubt)
        self._last_clip_ts = -1e18
        self.abandoned_total = 0
        self.crosses_total = 0
        self._params_memo: tuple[Effects, HedgerConfig, HedgeParams] | None = None

    def params(self, effects: Effects) -> HedgeParams:
        """The knobs for `effects`; the same object while the effects and the config stay the same
        objects (the engine hands out one Effects until something changes)."""
        memo = self._params_memo
        if memo is not None and memo[0] is effects and memo[1] is self.config:
            return memo[2]
        params = self._params(effects)
        self._params_memo = (effects, self.config, params)
        return params

    def _params(self, effects: Effects) -> HedgeParams:
        cfg = self.config
        slippage = cfg.max_slippage_bps
        if effects.hedge_max_slippage_bps is not None:
            slippage = min(slippage, effects.hedge_max_slippage_bps)
        cross = cfg.cross_bps if effects.hedge_cross_bps is None else min(cfg.cross_bps, effects.hedge_cross_bps)
        chase = cfg.max_chase_bps if effects.hedge_max_chase_bps is None else min(cfg.max_chase_bps,
                                                                                 effects.hedge_max_chase_bps)
        return HedgeParams(cfg.max_clip_units * effects.hedge_clip_mult, slippage,
                           cross + effects.hedge_cross_add_bps, effects.hedge_force_aggressive,
                           max(cfg.cooldown_s, effects.hedge_cooldown_s), chase)

    def note_fill(self, ts: float) -> None:
        self._last_clip_ts = ts

    def step(self, features: dict[str, float], effects: Effects, orders: OrderTracker, now: float,
             next_id) -> list[Intent]:
        """Intents for this tick. `next_id` allocates client ids."""
        cfg = self.config
        if not cfg.enabled:
            return []
        live, in_doubt = orders.hedge_and_doubt()
        if in_doubt:
            self.mode = "waiting"     # a hedge whose fate is unknown: the next snapshot settles it
            return []
        inventory = features["inventory_units"]
        mid = features["mid"]
        excess = abs(inventory) - cfg.target_units
        if mid <= 0 or (self.plan is None and abs(inventory) <= cfg.trigger_units) or excess <= 0:
            self.plan, self.mode = None, "idle"
            return [CancelOrder(live.client_id)] if live else []
        side: Side = "sell" if inventory > 0 else "buy"
        if self.plan is None or self.plan.side != side:
            self.plan = HedgePlan(side, now, mid)
        params = self.params(effects)
        if now - self._last_clip_ts < params.cooldown_s:
            self.mode = "cooldown"
            return []
        size = self._clip(excess, params.clip_units, mid)
        if size <= 0:
            return [CancelOrder(live.client_id)] if live else []
        aggressive = params.force_aggressive or features["unhedged_exposure_s"] >= cfg.aggressive_after_s
        if aggressive and now - self.plan.started_at >= cfg.passive_wait_s:
            return self._cross(side, size, params, features, live, now, next_id)
        self.mode = "passive"
        return self._passive(side, size, mid, features, live, now, next_id)

    def _clip(self, excess: float, clip_units: float, mid: float) -> float:
        """Clip toward target, at most `clip_units`, never below what the venue accepts."""
        size = self.market.quantize_size(min(excess, clip_units))
        minimum = self.market.min_size_at(mid)
        if size < minimum:
            # The venue minimum may exceed what is left to hedge; overshooting the target by less
            # than the trigger is fine, a refused order (21706) is not.
            size = minimum if minimum - excess < self.config.trigger_units else 0.0
        return size

    def _passive(self, side: Side, size: float, mid: float, features: dict[str, float], live: LiveOrder | None,
                 now: float, next_id) -> list[Intent]:
        offset = self.config.passive_offset_bps * BPS
        if side == "sell":
            price = self.market.quantize_price(max(mid * (1 + offset), features["best_ask"]), "sell")
        else:
            price = self.market.quantize_price(min(mid * (1 - offset), features["best_bid"] or mid), "buy")
        # The venue checks the notional at the order's own price, not at the mid the clip was sized at.
        size = max(size, self.market.min_size_at(price))
        if live is not None:
            # Re-price a resting hedge only when it drifted beyond the tolerance and has rested its
            # minimum life: every move spends one of the venue's requests.
            cfg = self.config
            drifted = abs(live.price - price) > cfg.requote_tolerance_bps * BPS * price
            resized = abs(live.remaining - size) >= self.market.lot / 2
            if live.tif != "post_only" or live.modify_to is not None or not (drifted or resized) \
                    or now - live.priced_ts < max(cfg.passive_wait_s, cfg.min_order_life_s):
                return []
            if self.supports_modify and live.state is OrderState.OPEN:
                return [ModifyOrder(live.client_id, price, size)]
            return [CancelOrder(live.client_id)]
        return [PlaceOrder(next_id(), side, price, size, "post_only", "hedge", reduce_only=True)]

    def _cross(self, side: Side, size: float, params: HedgeParams, features: dict[str, float],
               live: LiveOrder | None, now: float, next_id) -> list[Intent]:
        if live is not None:
            self.mode = "aggressive"
            return [] if live.tif == "ioc" else [CancelOrder(live.client_id)]
        mid = features["mid"]
        plan = self.plan
        moved_bps = (plan.plan_mid - mid) / plan.plan_mid / BPS if side == "sell" else \
            (mid - plan.plan_mid) / plan.plan_mid / BPS
        if moved_bps > params.max_chase_bps:
            self.abandoned_total += 1
            log.info("hedge cross abandoned: mid moved %.1f bps against the plan (limit %.1f); re-planning",
                     moved_bps, params.max_chase_bps)
            self.plan = HedgePlan(side, now, mid)
            self.mode = "passive"
            return []
        touch = features["best_bid"] if side == "sell" else features["best_ask"]
        if touch <= 0:
            return []
        if side == "sell":
            limit = max(touch * (1 - params.cross_bps * BPS), mid * (1 - params.max_slippage_bps * BPS))
            if touch < mid * (1 - params.max_slippage_bps * BPS):
                return []   # the book itself is beyond our slippage cap: wait rather than pay it
        else:
            limit = min(touch * (1 + params.cross_bps * BPS), mid * (1 + params.max_slippage_bps * BPS))
            if touch > mid * (1 + params.max_slippage_bps * BPS):
                return []
        self.mode = "aggressive"
        self.crosses_total += 1
        # Rounding with `side` rounds a sell limit up and a buy limit down: never past the cap.
        price = self.market.quantize_price(limit, side)
        return [PlaceOrder(next_id(), side, price, max(size, self.market.min_size_at(price)), "ioc", "hedge",
                           reduce_only=True)]
