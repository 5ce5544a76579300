"""One tick of the bot: features -> policies -> maker and hedger -> risk gate -> intents.

Read a tick top to bottom in `Trader.tick`. The venue is not here: the driver
(`runtime.service.loop`) feeds events in with `on_events` and sends the returned intents,
so the same Trader runs live, on paper, or over a replay.
"""
from __future__ import annotations

import logging
from typing import Callable

from rules.effects import Effects
from rules.engine import PolicyEngine, SwapReport
from rules.ruleset import CompiledSet
from runtime.config import Config
from runtime.events import Event, Fill, OrderCanceled, OrderRejected
from runtime.features import FeatureStore
from runtime.hedger import Hedger
from runtime.intents import CancelAll, CancelOrder, Intent, PlaceOrder
from runtime.maker import Maker, QuotePlan
from runtime.market import MarketSpec
from runtime.orders import OrderTracker
from runtime.risk import RiskGate, TradingState
from runtime.status import BotStatus, OperatorAction, QuoteSnapshot
from runtime.trace import Trace

log = logging.getLogger("lighter_bot.trader")


class Trader:
    """Owns every piece of trading state; single-threaded, driven by the loop."""

    def __init__(self, config: Config, market: MarketSpec, policies: CompiledSet, *,
                 trace: Trace | None = None, shadow: CompiledSet | None = None,
                 venue_name: str = "paper", start_ts: float = 0.0):
        self.config = config
        self.market = market
        self.venue_name = venue_name
        self.features = FeatureStore(config)
        self.policies = PolicyEngine(policies)
        self.shadow = PolicyEngine(shadow) if shadow is not None else None
        self.maker = Maker(config.maker, market)
        self.hedger = Hedger(config.hedger, market)
        self.risk = RiskGate(config.risk)
        self.orders = OrderTracker(start_ts)
        self.trace = trace or Trace()
        self._operator_queue: list[tuple[OperatorAction, str]] = []
        self.venue_healthy: Callable[[], bool] = lambda: True
        self.plan: QuotePlan | None = None
        self.effects = Effects()
        self.now = start_ts
        self.ticks_total = 0
        self.shadow_disagreements_total = 0
        self.shadow_ticks_total = 0

    # -- inputs ---------------------------------------------------------------------------------
    def on_events(self, events: list[Event]) -> None:
        for event in events:
            self.features.apply(event)
            order = self.orders.apply(event)
            kind = type(event)
            if kind is Fill:
                purpose = order.purpose if order is not None else "unknown"
                if purpose == "hedge":
                    self.hedger.note_fill(event.ts)
                else:
                    self.maker.note_fill(event.side, event.ts)
                self.trace.fill(event, purpose)
            elif kind is OrderRejected:
                log.warning("order %d rejected by venue: %d %s", event.client_id, event.code, event.message)
            elif kind is OrderCanceled and event.reason not in ("requested", "canceled"):
                log.info("order %d canceled by venue: %s", event.client_id, event.reason)

    # -- the tick -------------------------------------------------------------------------------
    def operator(self, action: OperatorAction, reason: str) -> None:
        """An operator command ("halt", "reduce", "resume"), applied at the start of the next tick."""
        self._operator_queue.append((action, reason))

    def tick(self, now: float) -> list[Intent]:
        self.now = now
        features = self.features
        features.advance(now)
        values = features.values

        decision = self.policies.evaluate(values, now)
        if decision.changed:
            self.trace.decision(decision.trace)
        effects = self.effects = decision.effects
        if self.shadow is not None:
            self._shadow_tick(values, now, effects)

        intents: list[Intent] = []
        if self._operator_queue:
            for action, reason in self._operator_queue:
                intents += self.risk.operator(action, reason)
            self._operator_queue.clear()
        reason = ", ".join(self.policies.firing()) if effects.reduce_only or effects.halt else ""
        intents += self.risk.update(values["inventory_units"], values["mid"], effects.reduce_only, effects.halt,
                                    reason)
        state = self.risk.state
        if state is TradingState.HALTED or not features.ready or not self.venue_healthy():
            intents += self._cancel_everything()
            self.plan = None
        else:
            inventory = values["inventory_units"]
            active = state is TradingState.ACTIVE
            self.plan = plan = self.maker.plan(values, effects, now, allow_bid=active or inventory < 0,
                                               allow_ask=active or inventory > 0)
            hedge = self.hedger.step(values, effects, self.orders, now, self.orders.next_client_id)
            intents += self._defer_self_crossing_hedges(hedge)
            intents += self._requote(plan, decision.seq)
        approved = self._gate(intents, decision.seq, now)
        features.note_trading_state(self.risk.state.code, len(self.orders.orders))
        self.ticks_total += 1
        return approved

    def _shadow_tick(self, values: dict[str, float], now: float, live: Effects) -> None:
        shadow = self.shadow.evaluate(values, now)
        if shadow.changed:
            self.trace.decision(shadow.trace, shadow=True)
        self.shadow_ticks_total += 1
        if shadow.effects != live:
            self.shadow_disagreements_total += 1

    def _cancel_everything(self) -> list[Intent]:
        return [CancelOrder(o.client_id) for o in self.orders.live() if o.status != "canceling"]

    def _defer_self_crossing_hedges(self, hedge: list[Intent]) -> list[Intent]:
        """A hedge that would trade with our own quote cancels that quote and waits a tick."""
        out: list[Intent] = []
        for intent in hedge:
            if isinstance(intent, PlaceOrder):
                opposite = "sell" if intent.side == "buy" else "buy"
                crossing = [o for o in self.orders.live("quote") if o.side == opposite and
                            (o.price <= intent.price if intent.side == "buy" else o.price >= intent.price)]
                if crossing:
                    out += [CancelOrder(o.client_id) for o in crossing if o.status != "canceling"]
                    continue
            out.append(intent)
        return out

    def _requote(self, plan: QuotePlan, decision: int) -> list[Intent]:
        intents: list[Intent] = []
        for side, want in (("buy", plan.bid), ("sell", plan.ask)):
            live = self.orders.quote(side)
            if want is None:
                if live is not None:
                    intents.append(CancelOrder(live.client_id, decision))
                continue
            if live is not None:
                if not self.maker.needs_requote(live.price, live.size, want):
                    continue
                intents.append(CancelOrder(live.client_id, decision))
            intents.append(PlaceOrder(self.orders.next_client_id(), side, want.price, want.size, "post_only",
                                      "quote", decision=decision))
        return intents

    def _gate(self, intents: list[Intent], decision: int, now: float) -> list[Intent]:
        """Risk-check every order; record what went out. Cancels always pass."""
        approved: list[Intent] = []
        values = self.features.values
        grow_side = "buy" if values["inventory_units"] >= 0 else "sell"
        plan = self.plan
        grow_blocked = plan is not None and bool(plan.bid_blocked if grow_side == "buy" else plan.ask_blocked)
        for intent in intents:
            if isinstance(intent, PlaceOrder):
                denial = self.risk.check(intent, values["inventory_units"], self.orders, values["mid"])
                if denial:
                    if intent.purpose == "quote" and intent.side == grow_side:
                        grow_blocked = True
                    continue
                if intent.decision == 0:
                    intent = PlaceOrder(intent.client_id, intent.side, intent.price, intent.size, intent.tif,
                                        intent.purpose, intent.reduce_only, decision)
                self.orders.on_place(intent, now)
                self.trace.order(intent, now)
            elif isinstance(intent, CancelOrder):
                self.orders.on_cancel(intent.client_id)
            elif isinstance(intent, CancelAll):
                for order in self.orders.live():
                    order.status = "canceling"
            approved.append(intent)
        self.features.note_quote_blocked(grow_blocked, now)
        return approved

    def shutdown(self, reason: str) -> list[Intent]:
        """Cancel everything we have out (the loop sends it before stopping the venue)."""
        log.info("shutting down: %s; canceling %d live orders", reason, len(self.orders.orders))
        for order in self.orders.live():
            order.status = "canceling"
        return [CancelAll(reason)]

    # -- policy sets ----------------------------------------------------------------------------
    def swap_policies(self, new: CompiledSet) -> SwapReport:
        old = self.policies.compiled.version
        report = self.policies.swap(new)
        self.trace.event("policy_reload", ts=self.now, old_version=old, new_version=new.version,
                             kept=report.kept, changed=report.changed, added=report.added, removed=report.removed)
        return report

    def swap_shadow(self, new: CompiledSet | None) -> None:
        """Replace the shadow set. The disagreement tally restarts: it describes one candidate,
        and a ratio mixing two candidates would tell a trader nothing about either."""
        self.shadow_disagreements_total = self.shadow_ticks_total = 0
        if new is None:
            self.shadow = None
        elif self.shadow is None:
            self.shadow = PolicyEngine(new)
        else:
            self.shadow.swap(new)

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> BotStatus | None:
        """An immutable snapshot of the trading state (None before the first tick). The service
        publishes one after each tick and adds what only it knows (wall time, reloads)."""
        if self.ticks_total == 0:
            return None
        plan = self.plan
        bid = self.orders.quote("buy")
        ask = self.orders.quote("sell")
        shadow = self.shadow
        return BotStatus(
            ts=self.now, ticks_total=self.ticks_total,
            market=f"{self.market.symbol} (market {self.market.market_id})", venue=self.venue_name,
            venue_healthy=self.venue_healthy(), trading_state=self.risk.state.value,
            trading_state_reason=self.risk.reason, policy_version=self.policies.compiled.version,
            policy_rule_errors_total=self.policies.errors_total,
            firing_rules=tuple(self.policies.firing()), states=self.policies.states(),
            gauges=self.policies.gauges(),
            shadow_version=shadow.compiled.version if shadow else None,
            shadow_gauges=shadow.gauges() if shadow else {},
            shadow_disagreement_ratio=(self.shadow_disagreements_total / self.shadow_ticks_total
                                       if self.shadow_ticks_total else 0.0),
            shadow_disagreements_total=self.shadow_disagreements_total,
            bid=QuoteSnapshot(bid.price, bid.remaining) if bid and plan else None,
            ask=QuoteSnapshot(ask.price, ask.remaining) if ask and plan else None,
            features=dict(self.features.values), fills_total=self.orders.fills_total,
            orders_placed_total=self.orders.placed_total, orders_canceled_total=self.orders.canceled_total,
            orders_rejected_total=self.orders.rejected_total, intents_denied_total=dict(self.risk.denied),
            hedger_mode=self.hedger.mode,
            hedger_crosses_total=self.hedger.crosses_total, hedger_abandoned_total=self.hedger.abandoned_total)
