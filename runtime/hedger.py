"""Bring inventory back toward `target_units`: passive first, crossing only when exposure lasts.

Hedge passively first because crossing the spread costs more than the drift we
are usually hedging; cross (an IOC limit order, never a market order) only once the
exposure has lasted `aggressive_after_s` or a policy forces it, and never past the
slippage cap.

No chase: a cross is abandoned when the mid has already run more than `max_chase_bps`
against the plan, or the touch is beyond `max_slippage_bps` from the plan's mid (the
cap holds from the plan as well as from the current mid). Chasing a move we already missed turns a hedge into a loss-maximiser,
so after an abandonment the hedger *stands down*: it keeps the plan's anchor and rests
passively, and crosses again only once the mid retraces within `retrace_bps` of the
plan's mid or `standdown_s` has passed (then it accepts the new level and re-anchors).
Re-planning at the new mid at once (what it did before) made "no chase" a one-tick delay.

The plan is re-anchored at the mid after every hedge fill (once any cooldown is over): the
next clip's chase is measured from where the last one left off, otherwise in any moving
market the second clip is "abandoned" by construction.

Hysteresis: a plan starts only above `trigger_units` and runs until |inventory| is at
`target_units`. A clip is at most |inventory| and goes out reduce-only, with one exception:
when the venue minimum is larger than the position itself, a reduce-only clip cannot exist,
and a position between the trigger and the minimum would stay unhedged for good (on SOL with
the seed's numbers, 0.052 against a 0.061 minimum: the volatility pause, which resumes only
once inventory is small, then never resumed). The hedger then sends the minimum, not
reduce-only, provided the position it leaves on the other side is within `target_units`:
|inventory| always shrinks. One hedge order at a time.

Every tick's decision has a reason (`decision`), which the trading loop traces when it
changes or when an order goes out. The hedger only returns intents; the trading loop
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

# Why the hedger did what it did this tick (HedgeDecision.reason).
REASONS = ("idle", "waiting", "cooldown", "passive", "forced_exposure", "forced_policy", "abandoned",
           "stood_down", "no_size", "beyond_slippage")


@dataclass(slots=True)
class HedgePlan:
    side: Side
    started_at: float
    plan_mid: float
    abandoned_at: float | None = None   # set while standing down after an abandoned cross


@dataclass(frozen=True, slots=True)
class HedgeDecision:
    """What the hedger decided and why, for the trace."""

    reason: str
    side: str = ""
    plan_mid: float = 0.0
    moved_bps: float = 0.0     # how far the mid ran against the plan (positive = adverse)


@dataclass(frozen=True, slots=True)
class HedgeParams:
    """The hedger's knobs for this tick: config, tightened or escalated by policy effects."""

    clip_units: float
    max_slippage_bps: float
    cross_bps: float
    force_aggressive: bool
    cooldown_s: float
    max_chase_bps: float
    standdown_s: float
    retrace_bps: float


class Hedger:
    def __init__(self, config: HedgerConfig, market: MarketSpec, supports_modify: bool = False):
        self.config = config
        self.market = market
        self.supports_modify = supports_modify
        self.plan: HedgePlan | None = None
        # idle | passive | aggressive | cooldown | waiting (a hedge in doubt) | stood_down
        self.mode = "idle"
        self.decision = HedgeDecision("idle")
        self._last_clip_ts = -1e18
        self._reanchor = False
        # (orders version, inventory, mid, config, tracker) of the last step that found nothing to
        # hedge and no hedge order: while all stay the same, the next step would too (`step`).
        self._idle_key: tuple | None = None
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
        """Config merged with effects, each as the table in rules/effects.py says: caps take the
        tighter of config and policy; `hedge_cross_bps` is a target that replaces `cross_bps` (a
        policy saying "cross at 7 bps" means 7, deeper or shallower), while the slippage cap from
        the mid still bounds every cross price; floors (cooldown, stand-down) take the longer."""
        cfg = self.config
        slippage = cfg.max_slippage_bps
        if effects.hedge_max_slippage_bps is not None:
            slippage = min(slippage, effects.hedge_max_slippage_bps)
        cross = cfg.cross_bps if effects.hedge_cross_bps is None else effects.hedge_cross_bps
        chase = cfg.max_chase_bps if effects.hedge_max_chase_bps is None else min(cfg.max_chase_bps,
                                                                                 effects.hedge_max_chase_bps)
        retrace = cfg.retrace_bps if effects.hedge_retrace_bps is None else min(cfg.retrace_bps,
                                                                               effects.hedge_retrace_bps)
        return HedgeParams(cfg.max_clip_units * effects.hedge_clip_mult, slippage,
                           cross + effects.hedge_cross_add_bps, effects.hedge_force_aggressive,
                           max(cfg.cooldown_s, effects.hedge_cooldown_s), chase,
                           max(cfg.standdown_s, effects.hedge_standdown_s), min(retrace, chase))

    def note_fill(self, ts: float) -> None:
        """A hedge clip traded: start the cooldown and measure the next clip from the mid then."""
        self._last_clip_ts = ts
        self._reanchor = True

    def _decide(self, reason: str, moved_bps: float = 0.0) -> None:
        plan = self.plan
        self.decision = HedgeDecision(reason, plan.side if plan else "", plan.plan_mid if plan else 0.0,
                                      round(moved_bps, 3))

    def step(self, features: dict[str, float], effects: Effects, orders: OrderTracker, now: float,
             next_id) -> list[Intent]:
        """Intents for this tick. `next_id` allocates client ids."""
        cfg = self.config
        if not cfg.enabled:
            return []
        inventory = features["inventory_units"]
        mid = features["mid"]
        idle = self._idle_key
        if (idle is not None and self.plan is None and self.mode == "idle" and idle[0] == orders.version
                and idle[1] == inventory and idle[2] == mid and idle[3] is cfg and idle[4] is orders):
            return []   # the orders, inventory, mid and config of the last idle step: idle again
        live, in_doubt = orders.hedge_and_doubt()
        if in_doubt or self._canceling(orders):
            # A hedge whose fate is unknown (the next snapshot settles it), or one whose cancel is
            # on its way: it may still fill, so a new hedge now could be two in flight.
            self.mode = "waiting"
            self._decide("waiting")
            return []
        excess = abs(inventory) - cfg.target_units
        if mid <= 0 or (self.plan is None and abs(inventory) <= cfg.trigger_units) or excess <= 0:
            self.plan, self.mode, self._reanchor = None, "idle", False
            self._decide("idle")
            if live:
                return [CancelOrder(live.client_id)]
            self._idle_key = (orders.version, inventory, mid, cfg, orders)
            return []
        side: Side = "sell" if inventory > 0 else "buy"
        plan = self.plan
        if plan is None or plan.side != side:
            plan = self.plan = HedgePlan(side, now, mid)
            self._reanchor = False
        params = self.params(effects)
        if now - self._last_clip_ts < params.cooldown_s:
            self.mode = "cooldown"
            self._decide("cooldown", self._moved_bps(side, mid))
            return []
        if self._reanchor:
            # The next clip is planned where the last one left off, once the cooldown (a pause we
            # chose, not a move we missed) is over.
            plan.plan_mid, plan.abandoned_at, self._reanchor = mid, None, False
        moved = self._moved_bps(side, mid)
        size = self._clip(excess, abs(inventory), params.clip_units, mid)
        if size <= 0:
            self._decide("no_size", moved)
            return [CancelOrder(live.client_id)] if live else []
        if plan.abandoned_at is not None:
            moved = self._stand_down(plan, mid, moved, params, now)
        forced = "forced_policy" if params.force_aggressive else \
            "forced_exposure" if features["unhedged_exposure_s"] >= cfg.aggressive_after_s else ""
        if forced and plan.abandoned_at is None and now - plan.started_at >= cfg.passive_wait_s:
            return self._cross(side, size, abs(inventory), params, features, live, now, next_id, forced, moved)
        if plan.abandoned_at is not None:
            self.mode = "stood_down"
            self._decide("stood_down", moved)
        else:
            self.mode = "passive"
            self._decide("passive", moved)
        return self._passive(side, size, abs(inventory), mid, features, live, now, next_id)

    @staticmethod
    def _canceling(orders: OrderTracker) -> bool:
        for order in orders.orders.values():
            if order.purpose == "hedge" and order.state is OrderState.CANCELING:
                return True
        return False

    def _moved_bps(self, side: Side, mid: float) -> float:
        """How far the mid ran against the plan, in bps of the plan's mid (positive = adverse)."""
        plan_mid = self.plan.plan_mid
        return ((plan_mid - mid) if side == "sell" else (mid - plan_mid)) / plan_mid / BPS

    def _stand_down(self, plan: HedgePlan, mid: float, moved: float, params: HedgeParams, now: float) -> float:
        """End a stand-down when the mid retraced into the plan's band (the plan still holds) or the
        stand-down expired (accept the new level: re-anchor there, waiting `passive_wait_s` again)."""
        if moved <= params.retrace_bps:
            plan.abandoned_at = None
            log.info("hedge stand-down over: mid back within %.1f bps of the plan", params.retrace_bps)
        elif now - plan.abandoned_at >= params.standdown_s:
            plan.plan_mid, plan.started_at, plan.abandoned_at = mid, now, None
            log.info("hedge stand-down expired after %.1fs: re-planned at %.4f", params.standdown_s, mid)
            return 0.0
        return moved

    def _clip(self, excess: float, position: float, clip_units: float, mid: float) -> float:
        """Clip toward target, at most `clip_units` and never more than |inventory|, never below what
        the venue accepts."""
        size = self.market.quantize_size(min(excess, clip_units, position))
        minimum = self.market.min_size_at(mid)
        if size < minimum:
            # The venue minimum may exceed what is left to hedge; overshooting the target by less
            # than the trigger is fine, a refused order (21706) is not, and neither is a flip
            # beyond the target band.
            if minimum <= position:
                size = minimum if minimum - excess < self.config.trigger_units else 0.0
            else:
                size = minimum if self._flip_ok(minimum, position) else 0.0
        return size

    def _flip_ok(self, size: float, position: float) -> bool:
        """A clip larger than the position (only ever the venue minimum) leaves the position on the
        other side within the target band."""
        return size - position <= self.config.target_units + self.market.lot / 2

    def _size_ok(self, size: float, position: float) -> tuple[bool, bool]:
        """(may this clip go out, reduce-only?): reduce-only when it is at most the position."""
        if size <= position + self.market.lot / 2:
            return True, True
        return self._flip_ok(size, position), False

    def _passive(self, side: Side, size: float, position: float, mid: float, features: dict[str, float],
                 live: LiveOrder | None, now: float, next_id) -> list[Intent]:
        offset = self.config.passive_offset_bps * BPS
        if side == "sell":
            price = self.market.quantize_price(max(mid * (1 + offset), features["best_ask"]), "sell")
        else:
            price = self.market.quantize_price(min(mid * (1 - offset), features["best_bid"] or mid), "buy")
        # The venue checks the notional at the order's own price, not at the mid the clip was sized at.
        size = max(size, self.market.min_size_at(price))
        allowed, reduce_only = self._size_ok(size, position)
        if not allowed:
            self._decide("no_size")
            return [CancelOrder(live.client_id)] if live else []
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
        return [PlaceOrder(next_id(), side, price, size, "post_only", "hedge", reduce_only=reduce_only)]

    def _abandon(self, side: Side, size: float, position: float, params: HedgeParams, features: dict[str, float],
                 now: float, next_id, moved: float) -> list[Intent]:
        self.abandoned_total += 1
        log.info("hedge cross abandoned: mid moved %.1f bps against the plan (chase limit %.1f, slippage cap %.1f);"
                 " standing down", moved, params.max_chase_bps, params.max_slippage_bps)
        self.plan.abandoned_at = now
        self.mode = "stood_down"
        self._decide("abandoned", moved)
        return self._passive(side, size, position, features["mid"], features, None, now, next_id)

    def _cross(self, side: Side, size: float, position: float, params: HedgeParams, features: dict[str, float],
               live: LiveOrder | None, now: float, next_id, forced: str, moved: float) -> list[Intent]:
        if live is not None:
            self.mode = "aggressive"
            self._decide(forced, moved)
            return [] if live.tif == "ioc" else [CancelOrder(live.client_id)]
        mid = features["mid"]
        plan = self.plan
        if moved > params.max_chase_bps:
            return self._abandon(side, size, position, params, features, now, next_id, moved)
        touch = features["best_bid"] if side == "sell" else features["best_ask"]
        if touch <= 0:
            self._decide("beyond_slippage", moved)
            return []
        # The slippage cap holds from the current mid and from the plan's: a cross never pays more
        # than max_slippage_bps from where the hedge was planned, however the mid ran meanwhile.
        bound = params.max_slippage_bps * BPS
        if side == "sell":
            floor = max(mid, plan.plan_mid) * (1 - bound)
            limit = max(touch * (1 - params.cross_bps * BPS), floor)
            beyond, past_plan = touch < floor, touch < plan.plan_mid * (1 - bound)
        else:
            ceiling = min(mid, plan.plan_mid) * (1 + bound)
            limit = min(touch * (1 + params.cross_bps * BPS), ceiling)
            beyond, past_plan = touch > ceiling, touch > plan.plan_mid * (1 + bound)
        if past_plan:
            # The touch ran past what the plan may pay: the same missed move as a chase, same answer.
            return self._abandon(side, size, position, params, features, now, next_id, moved)
        if beyond:
            self._decide("beyond_slippage", moved)   # the book itself is past our cap: wait rather than pay it
            return []
        self.mode = "aggressive"
        self._decide(forced, moved)
        # Rounding with `side` rounds a sell limit up and a buy limit down: never past the cap.
        price = self.market.quantize_price(limit, side)
        size = max(size, self.market.min_size_at(price))
        allowed, reduce_only = self._size_ok(size, position)
        if not allowed:
            self._decide("no_size", moved)
            return []
        self.crosses_total += 1
        return [PlaceOrder(next_id(), side, price, size, "ioc", "hedge", reduce_only=reduce_only)]
