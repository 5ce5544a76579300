"""One tick of the bot: features -> policies -> maker and hedger -> risk gate -> intents.

Read a tick top to bottom in `Trader.tick`. The venue is not here: the driver
(`runtime.service.loop`) feeds events in with `on_events` and sends the returned
intents, so the same Trader runs live, on paper, or over a replay. It never reads a
clock and does no I/O: records go to the trace's sink, status is a snapshot.
"""
from __future__ import annotations

import logging
import math

from rules.effects import Effects
from rules.engine import PolicyEngine, SwapReport
from rules.ruleset import CompiledSet
from runtime.config import Config
from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, Fill, Funding, MarketTrade, ModifyRejected,
                            OrderAccepted, OrderCanceled, OrderModified, OrderOpen, OrderRejected, OrdersSnapshot,
                            OutcomeUnknown, VenueStatus)
from runtime.features import EARLY_S, FeatureStore
from runtime.hedger import Hedger
from runtime.intents import CancelAll, CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot
from runtime.maker import Maker, Quote, QuotePlan
from runtime.market import MarketSpec
from runtime.orders import LiveOrder, OrderState, OrderTracker
from runtime.risk import RiskGate, TradingState
from runtime.status import BotStatus, OperatorAction, QuoteSnapshot
from runtime.trace import Trace

log = logging.getLogger("lighter_bot.trader")

BPS = 1e-4
# A rule whose evaluation keeps failing is logged at most this often (it may fail on every tick).
RULE_ERROR_LOG_EVERY_S = 60.0
# A cancel the venue refused is asked again after 1 s, then 2, 4, ... at most every 30 s.
CANCEL_RETRY_BASE_S = 1.0
CANCEL_RETRY_MAX_S = 30.0
# Venue cancel reasons that are routine (we asked, or an IOC's unfilled rest); others are logged.
_ROUTINE_CANCELS = ("requested", "canceled")
_ORDER_EVENTS = frozenset({OrderAccepted, OrderOpen, OrderModified, OrderCanceled, OrderRejected, CancelRejected,
                           ModifyRejected, OutcomeUnknown})
_MARKET_EVENTS = frozenset({BookTop, MarketTrade})


class Trader:
    """Owns every piece of trading state; single-threaded, driven by the loop."""

    def __init__(self, config: Config, market: MarketSpec, policies: CompiledSet, *,
                 trace: Trace | None = None, shadow: CompiledSet | None = None,
                 venue_name: str = "paper", start_ts: float = 0.0, supports_modify: bool = False):
        self.config = config
        self.market = market
        self.venue_name = venue_name
        self.supports_modify = supports_modify
        self.features = FeatureStore(config)
        self.policies = PolicyEngine(policies)
        self.shadow = PolicyEngine(shadow) if shadow is not None else None
        self.maker = Maker(config.maker, market)
        self.hedger = Hedger(config.hedger, market, supports_modify)
        self.risk = RiskGate(config.risk)
        self.orders = OrderTracker(market, start_ts, config.orders.snapshot_settle_s)
        self.trace = trace or Trace()
        self._operator_queue: list[tuple[OperatorAction, str]] = []
        self.plan: QuotePlan | None = None
        self.effects = Effects()
        self.now = start_ts
        self.ticks_total = 0
        self.shadow_disagreements_total = 0
        self.shadow_ticks_total = 0
        # The venue's own word on its health (VenueStatus); nothing is quoted before the first.
        self.venue_connected = False
        self.venue_book_synced = False
        self.venue_reason = "no status from the venue yet"
        self.budget: BudgetUpdate | None = None
        self.funding_total = 0.0
        self._decision_seq = 0
        self._last_state = self.risk.state
        self._last_hedge_reason = "idle"
        self._last_blocked = ("", "")
        # client id -> (cancels refused in a row, no new cancel before this time)
        self._cancel_backoff: dict[int, tuple[int, float]] = {}
        self._coded_state, self._state_code = self.risk.state, self.risk.state.code
        self._requote_config: Config | None = None
        self._requote_knobs: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
        # (plan, orders version, config, budget, tracker, weighed quotes) of the last requote that
        # moved nothing: `_requote` returns [] again while they repeat (see there).
        self._requote_memo: tuple | None = None
        self._last_snapshot_request = -1e18
        self._shut_down = False
        self._quiet = False          # the last tick sent nothing and traced nothing (idle_until)
        self._rule_errors_seen = 0
        self._rule_error_logged_at: dict[str, float] = {}
        self._rule_error_counts: dict[str, int] = {}
        self._rule_error_at: dict[str, float] = {}        # rule -> last time its evaluation failed
        # A run marker opens every run's trace, so a file appended to by several runs reads apart.
        self.trace.event("run_start", ts=start_ts, market=market.symbol, market_id=market.market_id,
                         venue=venue_name, policy_version=policies.version)

    @property
    def venue_healthy(self) -> bool:
        return self.venue_connected and self.venue_book_synced

    # -- inputs ---------------------------------------------------------------------------------
    def on_events(self, events: list[Event]) -> None:
        features, orders, trace = self.features, self.orders, self.trace
        book_event = features.book_event
        booked = False
        for event in events:
            kind = type(event)
            if kind is BookTop:
                # Most events are book updates: their features are published once, after the batch.
                if book_event(event, False):
                    booked = True
                continue
            if kind is Fill:
                if not features.apply(event):
                    trace.event("duplicate_fill", ts=event.ts, client_id=event.client_id, trade_id=event.trade_id)
                    continue
                order = orders.apply(event)
                purpose = order.purpose if order is not None else "unknown"
                if purpose == "hedge":
                    self.hedger.note_fill(event.ts)
                elif purpose == "quote":
                    self.maker.note_fill(event.side, event.ts)
                trace.fill(event, purpose, self._decision_seq)
                continue
            if not features.apply(event):
                trace.event("duplicate", ts=event.ts, kind=kind.__name__)
                continue
            if kind in _MARKET_EVENTS:
                continue
            if kind in _ORDER_EVENTS:
                orders.apply(event)
                self._trace_order_event(event)
            elif kind is OrdersSnapshot:
                orphans_before = orders.orphans_total
                vanished_before = orders.vanished_total
                orders.apply(event)
                if orders.orphans_total != orphans_before or orders.vanished_total != vanished_before:
                    trace.event("orders_reconciled", ts=event.ts, orphans=orders.orphans_total - orphans_before,
                                vanished=orders.vanished_total - vanished_before)
            elif kind is VenueStatus:
                self._venue_status(event)
            elif kind is BudgetUpdate:
                self.budget = event
            elif kind is Funding:
                orders.note_seq(event.seq)
                self.funding_total += event.amount
                trace.event("funding", ts=event.ts, amount=event.amount, rate=event.rate, seq=event.seq)
        if booked:
            features.publish_book()
        corrections = features.position_book.corrections
        if corrections:
            for c in corrections:
                log.warning("position %s: ours %+.4f, venue %+.4f (as of seq %s); now %+.4f, no fill or PnL booked",
                            c.reason, c.from_units, c.venue_units, c.as_of_seq, c.to_units)
                trace.event("position_corrected", ts=c.ts, reason=c.reason, from_units=c.from_units,
                            to_units=c.to_units, venue_units=c.venue_units, as_of_seq=c.as_of_seq)
            corrections.clear()

    def _trace_order_event(self, event) -> None:
        kind = type(event)
        if kind is OrderCanceled:
            if event.reason not in _ROUTINE_CANCELS:
                log.info("order %d canceled by venue: %s", event.client_id, event.reason)
            self.trace.event("canceled", ts=event.ts, client_id=event.client_id, reason=event.reason)
        elif kind is OrderRejected or kind is CancelRejected or kind is ModifyRejected:
            what = {OrderRejected: "rejected", CancelRejected: "cancel_rejected", ModifyRejected: "modify_rejected"}[kind]
            log.warning("%s %d: %d %s", what.replace("_", " "), event.client_id, event.code, event.message)
            self.trace.event(what, ts=event.ts, client_id=event.client_id, code=event.code, message=event.message)
            if kind is CancelRejected:
                refused = self._cancel_backoff.get(event.client_id, (0, 0.0))[0] + 1
                wait_s = min(CANCEL_RETRY_BASE_S * 2 ** (refused - 1), CANCEL_RETRY_MAX_S)
                self._cancel_backoff[event.client_id] = (refused, event.ts + wait_s)
        elif kind is OutcomeUnknown:
            log.warning("%s of order %d: outcome unknown (%s); counted until a snapshot settles it",
                        event.action, event.client_id, event.reason)
            self.trace.event("outcome_unknown", ts=event.ts, client_id=event.client_id, action=event.action,
                             reason=event.reason, rate_limited=event.rate_limited)
        elif kind is OrderModified:
            self.trace.event("modified", ts=event.ts, client_id=event.client_id, price=event.price, size=event.size)

    def _venue_status(self, event: VenueStatus) -> None:
        if (event.connected, event.book_synced) != (self.venue_connected, self.venue_book_synced):
            expected = event.connected and event.book_synced or self._shut_down
            level = logging.INFO if expected else logging.WARNING
            log.log(level, "venue %s: connected=%s book_synced=%s (%s)", self.venue_name, event.connected,
                    event.book_synced, event.reason)
            self.trace.event("venue_status", ts=event.ts, connected=event.connected, book_synced=event.book_synced,
                             reason=event.reason)
        self.venue_connected, self.venue_book_synced, self.venue_reason = \
            event.connected, event.book_synced, event.reason

    def operator(self, action: OperatorAction, reason: str) -> None:
        """An operator command ("halt", "reduce", "resume"), applied at the start of the next tick."""
        self._operator_queue.append((action, reason))

    # -- the tick -------------------------------------------------------------------------------
    def tick(self, now: float) -> list[Intent]:
        written = self.trace.written
        self.now = now
        features = self.features
        features.advance(now)
        values = features.values

        decision = self.policies.evaluate(values, now, self.trace.wants_decisions())
        self._decision_seq = seq = decision.seq
        if decision.changed:
            self.trace.decision(decision.trace)
        elif decision.effects_changed:
            self.trace.effects(seq, now, decision.effects)
        effects = self.effects = decision.effects
        if self.policies.errors_total != self._rule_errors_seen:
            self._report_rule_errors(now)
        if self.shadow is not None:
            self._shadow_tick(values, now, effects)

        intents: list[Intent] = []
        if self._operator_queue:
            for action, reason in self._operator_queue:
                intents += self.risk.operator(action, reason)
            self._operator_queue.clear()
        reason = ", ".join(self.policies.firing()) if effects.reduce_only or effects.halt else ""
        self.risk.observe(now, values["mid"], values["book_age_s"],
                          values["realized_pnl_total"] + values["unrealized_pnl"])
        intents += self.risk.update(values["inventory_units"], values["mid"], effects.reduce_only, effects.halt,
                                    reason)
        state = self.risk.state
        if state is not self._last_state:
            self.trace.event("trading_state", ts=now, decision=seq, state=state.value, previous=self._last_state.value,
                             reason=self.risk.reason)
            self._last_state = state
        intents += self._bookkeeping(now)
        if state is TradingState.HALTED or not features.ready or not self.venue_healthy:
            intents += self._cancel_everything()
            self.plan = None
        else:
            inventory = values["inventory_units"]
            active = state is TradingState.ACTIVE
            self.plan = plan = self.maker.plan(values, effects, now, allow_bid=active or inventory < 0,
                                               allow_ask=active or inventory > 0)
            blocked = (plan.bid_blocked, plan.ask_blocked)
            if blocked != self._last_blocked:
                # Why a side is (no longer) quoted: pause, cooldown, risk, or a size cap the venue
                # minimum cannot honour ("size_cap" / "size_max").
                self._last_blocked = blocked
                self.trace.event("quote_blocked", ts=now, decision=seq, bid=blocked[0], ask=blocked[1])
            hedge = self.hedger.step(values, effects, self.orders, now, self.orders.next_client_id)
            self._trace_hedge(hedge, seq, now)
            if hedge:
                intents += self._defer_self_crossing_hedges(hedge)
            intents += self._requote(plan, seq, now)
        approved = self._gate(intents, seq, now)
        state = self.risk.state
        if state is not self._coded_state:
            self._coded_state, self._state_code = state, state.code
        features.note_trading_state(self._state_code, len(self.orders.orders))
        self.ticks_total += 1
        self._quiet = not intents and self.trace.written == written
        return approved

    # -- idle ticks (replay) ---------------------------------------------------------------------
    def idle_until(self, now: float) -> float:
        """After the tick at `now`: until when ticks would do nothing if no venue event arrives.

        Such a tick sends nothing, writes no trace record and leaves every piece of state as it
        was, except the clock-driven features (ages, uptime), the tick count and the risk gate's
        drawdown window, which `skip_tick` keeps. A replay may then skip it with an identical
        result (tests/test_replay_skip_idle.py). What can change without an event, and gives the
        time returned: a rule or state timer, a feature crossing a threshold a condition compares
        it with, a window of the feature store rolling (sigma, trend, PnL, slices, markouts), a
        quote's minimum life ending, a fill cooldown ending. Returns `now` (skip nothing) unless
        this tick was quiet and nothing is in flight: every order resting and settled, the hedger
        idle, no operator command, no shadow set, no refused cancel backing off."""
        orders = self.orders
        if (not self._quiet or self.shadow is not None or self._operator_queue or self._cancel_backoff
                or orders.needs_snapshot or self.hedger.plan is not None or self.hedger.mode != "idle"):
            return now
        open_state = OrderState.OPEN
        for order in orders.orders.values():
            if order.state is not open_state or order.modify_to is not None or order.gone_at_seq:
                return now
        features = self.features
        at, rising = features.next_change(now)
        at = min(at, self.policies.next_change(now, rising, features.values, EARLY_S),
                 self.maker.cooldown_ends(now, self.effects))
        life_s = self.config.maker.min_quote_life_s
        for order in orders.orders.values():
            if order.purpose == "quote" and order.priced_ts + life_s > now:
                at = min(at, order.priced_ts + life_s - EARLY_S)
        return max(at, now)

    def skip_tick(self, now: float) -> None:
        """Account for a tick `idle_until` showed would do nothing: the tick count, and the risk
        gate's drawdown window, which samples equity on every tick."""
        values = self.features.values
        self.risk.observe(now, values["mid"], values["book_age_s"],
                          values["realized_pnl_total"] + values["unrealized_pnl"])
        self.now = now
        self.ticks_total += 1

    def _trace_hedge(self, hedge: list[Intent], seq: int, now: float) -> None:
        """Trace the hedger's decision when its reason changes or it sends something: every hedge
        order then has a reason line before it (passive, forced_exposure, forced_policy, abandoned,
        stood_down, ...), without a line per tick while nothing changes."""
        decision = self.hedger.decision
        if hedge or decision.reason != self._last_hedge_reason:
            self._last_hedge_reason = decision.reason
            self.trace.event("hedge_decision", ts=now, decision=seq, reason=decision.reason, side=decision.side,
                             plan_mid=decision.plan_mid, moved_bps=decision.moved_bps,
                             intents=[type(i).__name__ for i in hedge])

    def _report_rule_errors(self, now: float) -> None:
        """Log a failing rule with its file:line, at most once a minute each, and trace it."""
        engine = self.policies
        self._rule_errors_seen = engine.errors_total
        where = {rule.key: rule.location for rule in engine.compiled.rules}
        for key, count in engine.error_counts.items():
            if count == self._rule_error_counts.get(key):
                continue
            self._rule_error_counts[key] = count
            self._rule_error_at[key] = now
            if now - self._rule_error_logged_at.get(key, -math.inf) >= RULE_ERROR_LOG_EVERY_S:
                self._rule_error_logged_at[key] = now
                guard = next((r.guard for r in engine.compiled.rules if r.key == key), False)
                log.error("%s: rule %s cannot be evaluated (%s); %s (%d failures so far)", where.get(key, "?"), key,
                          engine.errors.get(key, "?"), "it fails closed: treated as firing" if guard
                          else "it keeps its state", count)
                self.trace.event("rule_error", ts=now, rule=key, at=where.get(key, ""), error=engine.errors.get(key),
                                 count=count, guard=guard)

    def _forget_cancel_backoffs(self) -> None:
        known = self.orders.orders
        for client_id in [c for c in self._cancel_backoff if c not in known]:
            del self._cancel_backoff[client_id]

    def _bookkeeping(self, now: float) -> list[Intent]:
        """Orders in doubt: time out unanswered sends, ask the venue to settle doubts, cancel orphans."""
        orders = self.orders
        cfg = self.config.orders
        out: list[Intent] = []
        if self._cancel_backoff:
            self._forget_cancel_backoffs()
        for order in orders.expire(now, cfg.ack_timeout_s):
            log.warning("order %d unanswered for %.1fs: in doubt until a snapshot settles it", order.client_id,
                        now - order.placed_ts)
            self.trace.event("ack_timeout", ts=now, client_id=order.client_id)
        if orders.needs_snapshot and now - self._last_snapshot_request >= cfg.reconcile_interval_s:
            self._last_snapshot_request = now
            out.append(RequestSnapshot("orders in doubt"))
        for order in orders.orders.values() if orders.orphans_total else ():
            if order.purpose == "orphan" and order.state is OrderState.OPEN:
                log.warning("order %d on the venue is not ours to keep (left by an earlier run?): canceling",
                            order.client_id)
                out.append(CancelOrder(order.client_id))
        return out

    def _shadow_tick(self, values: dict[str, float], now: float, live: Effects) -> None:
        shadow = self.shadow.evaluate(values, now, not self.trace.discards)
        if shadow.changed:
            self.trace.decision(shadow.trace, shadow=True)
        self.shadow_ticks_total += 1
        if shadow.effects != live:
            self.shadow_disagreements_total += 1

    def _cancel_everything(self) -> list[Intent]:
        return [CancelOrder(o.client_id) for o in self.orders.live()
                if o.state is not OrderState.CANCELING and o.state is not OrderState.UNKNOWN]

    def _defer_self_crossing_hedges(self, hedge: list[Intent]) -> list[Intent]:
        """A hedge that would trade with our own quote cancels that quote and waits a tick."""
        out: list[Intent] = []
        for intent in hedge:
            if isinstance(intent, PlaceOrder):
                opposite = "sell" if intent.side == "buy" else "buy"
                crossing = [o for o in self.orders.live("quote") if o.side == opposite and
                            (o.price <= intent.price if intent.side == "buy" else o.price >= intent.price)]
                if crossing:
                    # Orders in doubt are not canceled blindly (a cancel per tick into a full budget
                    # would never end): the next snapshot says whether they are there at all.
                    out += [CancelOrder(o.client_id) for o in crossing
                            if o.state is not OrderState.CANCELING and o.state is not OrderState.UNKNOWN]
                    continue
            out.append(intent)
        return out

    def _requote(self, plan: QuotePlan, decision: int, now: float) -> list[Intent]:
        orders = self.orders
        budget = self.features.values["venue_budget_frac"]
        memo = self._requote_memo
        if (memo is not None and memo[0] is plan and memo[1] == orders.version and memo[2] is self.config
                and memo[3] == budget and memo[4] is orders):
            # The plan, orders, budget and config that moved nothing last time: only a quote's
            # minimum life ending (or, with a clock set back, starting again) can move one now.
            min_life_s = self._requote_knobs[4]
            for priced_ts, young in memo[5]:
                if (now - priced_ts < min_life_s) is not young:
                    break
            else:
                return []
        intents: list[Intent] = []
        weighed: list[tuple[float, bool]] = []    # (priced_ts, within its minimum life) of quotes weighed
        bid, ask, bid_doubt, ask_doubt = orders.quotes()
        for side, want, live, doubt in (("buy", plan.bid, bid, bid_doubt), ("sell", plan.ask, ask, ask_doubt)):
            if want is None:
                if live is not None:
                    intents.append(CancelOrder(live.client_id, decision))
                continue
            if doubt:
                continue   # one of our quotes there may still be live: settle that first
            if live is not None:
                if live.modify_to is not None:
                    continue
                if not self._should_requote(live, want, now):
                    weighed.append((live.priced_ts, now - live.priced_ts < self._requote_knobs[4]))
                    continue
                if self.supports_modify and live.state is OrderState.OPEN:
                    intents.append(ModifyOrder(live.client_id, want.price, want.size, decision))
                    continue
                intents.append(CancelOrder(live.client_id, decision))
            intents.append(PlaceOrder(orders.next_client_id(), side, want.price, want.size, "post_only",
                                      "quote", decision=decision))
        self._requote_memo = None if intents else (plan, orders.version, self.config, budget, orders, weighed)
        return intents

    def _should_requote(self, live: LiveOrder, want: Quote, now: float) -> bool:
        """Whether a resting quote is worth a request to move.

        A quote more aggressive than wanted (a bid above, an ask below the wanted price) risks
        an adverse fill: it moves as soon as it is off by more than the re-quote tolerance,
        whatever the budget. One merely less competitive waits out `min_quote_life_s` and a
        tolerance that widens (up to `budget_tolerance_mult`) as the venue's request budget
        runs low; in the last `budget_reserve_frac` of the budget it does not move at all, so
        protective moves and cancels always find a request left.
        """
        if self.config is not self._requote_config:   # the config is frozen; a reload replaces it
            cfg = self.config.maker
            self._requote_config = self.config
            self._requote_knobs = (cfg.requote_tolerance_bps * BPS, cfg.budget_low_frac, cfg.budget_tolerance_mult,
                                   cfg.budget_reserve_frac, cfg.min_quote_life_s)
        tolerance, low_frac, tolerance_mult, reserve_frac, min_life_s = self._requote_knobs
        gap = (live.price - want.price) / want.price
        adverse = gap if want.side == "buy" else -gap
        if adverse > tolerance:
            return True
        budget = self.features.values["venue_budget_frac"]
        if budget < reserve_frac or now - live.priced_ts < min_life_s:
            return False
        if budget < low_frac:
            tolerance *= 1.0 + (tolerance_mult - 1.0) * (1.0 - budget / low_frac)
        return -adverse > tolerance or live.remaining_lots != self.market.size_lots(want.size)

    def _gate(self, intents: list[Intent], decision: int, now: float) -> list[Intent]:
        """Risk-check every order and modify; record what goes out. Cancels always pass."""
        approved: list[Intent] = []
        values = self.features.values
        inventory, mid = values["inventory_units"], values["mid"]
        grow_side = "buy" if inventory >= 0 else "sell"
        plan = self.plan
        grow_blocked = plan is not None and bool(plan.bid_blocked if grow_side == "buy" else plan.ask_blocked)
        orders = self.orders
        for intent in intents:
            kind = type(intent)
            denial = ""
            if kind is PlaceOrder:
                denial = self.risk.check(intent, inventory, orders, mid)
                if denial and intent.purpose == "quote" and intent.side == grow_side:
                    grow_blocked = True
                if not denial and intent.decision == 0:
                    intent = PlaceOrder(intent.client_id, intent.side, intent.price, intent.size, intent.tif,
                                        intent.purpose, intent.reduce_only, decision)
            elif kind is ModifyOrder:
                order = orders.orders.get(intent.client_id)
                denial = "unknown_order" if order is None else \
                    self.risk.check_modify(intent, order, inventory, orders, mid)
            elif kind is CancelOrder and self._cancel_backoff:
                backoff = self._cancel_backoff.get(intent.client_id)
                if backoff is not None and intent.client_id not in orders.orders:
                    del self._cancel_backoff[intent.client_id]
                elif backoff is not None and now < backoff[1]:
                    # The venue refused this cancel just now: asking again at once would only spend
                    # the request budget (and its snapshot) that every other action needs.
                    continue
            if denial:
                self.trace.event("denied", ts=now, decision=decision, reason=denial, intent=kind.__name__,
                                 client_id=getattr(intent, "client_id", 0), price=getattr(intent, "price", 0.0),
                                 size=getattr(intent, "size", 0.0))
                continue
            self.register(intent, now, decision)
            approved.append(intent)
        self.features.note_quote_blocked(grow_blocked, now)
        return approved

    def register(self, intent: Intent, now: float, decision: int = 0) -> None:
        """Book an approved intent as sent: the tracker counts it from this moment, the trace records it.

        Everything that reaches a venue goes through here (the gate, shutdown, tests driving a
        venue by hand), so the tracker never misses an order.
        """
        kind, orders, trace = type(intent), self.orders, self.trace
        if kind is PlaceOrder or kind is ModifyOrder or kind is CancelOrder:
            self.risk.note_sent(kind is CancelOrder, now)
        if kind is PlaceOrder:
            orders.on_place(intent, now)
            self.features.position_book.orders_sent()
            trace.order(intent, now)
        elif kind is ModifyOrder:
            orders.on_modify(intent, now)
            trace.event("modify", ts=now, decision=intent.decision or decision, client_id=intent.client_id,
                        price=intent.price, size=intent.size)
        elif kind is CancelOrder:
            orders.on_cancel(intent.client_id, now)
            trace.event("cancel", ts=now, decision=intent.decision or decision, client_id=intent.client_id)
        elif kind is CancelAll:
            orders.on_cancel_all(now)
            trace.event("cancel_all", ts=now, decision=intent.decision or decision, reason=intent.reason)
        elif kind is RequestSnapshot:
            trace.event("snapshot_request", ts=now, reason=intent.reason)

    def shutdown(self, reason: str) -> list[Intent]:
        """Cancel everything we have out (the loop sends it before stopping the venue)."""
        log.info("shutting down: %s; canceling %d live orders", reason, len(self.orders.orders))
        self._shut_down = True
        intent = CancelAll(f"shutdown: {reason}")
        self.register(intent, self.now, self._decision_seq)
        return [intent]

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
        orders = self.orders
        bid = orders.quote("buy")
        ask = orders.quote("sell")
        shadow = self.shadow
        book = self.features.position_book
        budget = self.budget
        return BotStatus(
            ts=self.now, ticks_total=self.ticks_total,
            market=f"{self.market.symbol} (market {self.market.market_id})", venue=self.venue_name,
            venue_healthy=self.venue_healthy, venue_reason=self.venue_reason, trading_state=self.risk.state.value,
            trading_state_reason=self.risk.reason, policy_version=self.policies.compiled.version,
            policy_rule_errors_total=self.policies.errors_total,
            rule_errors=dict(self.policies.error_counts),
            rules_failing=tuple(sorted(k for k, at in self._rule_error_at.items()
                                       if self.now - at < RULE_ERROR_LOG_EVERY_S)),
            firing_rules=tuple(self.policies.firing()), states=self.policies.states(),
            gauges=self.policies.gauges(),
            shadow_version=shadow.compiled.version if shadow else None,
            shadow_gauges=shadow.gauges() if shadow else {},
            shadow_disagreement_ratio=(self.shadow_disagreements_total / self.shadow_ticks_total
                                       if self.shadow_ticks_total else 0.0),
            shadow_disagreements_total=self.shadow_disagreements_total,
            bid=QuoteSnapshot(bid.price, bid.remaining) if bid and plan else None,
            ask=QuoteSnapshot(ask.price, ask.remaining) if ask and plan else None,
            features=dict(self.features.values), fills_total=orders.fills_total,
            orders_placed_total=orders.placed_total, orders_modified_total=orders.modified_total,
            orders_canceled_total=orders.canceled_total, cancels_sent_total=orders.cancels_sent_total,
            orders_rejected_total=orders.rejected_total, orders_rejected_by_code=dict(orders.rejected_by_code),
            cancel_rejected_total=orders.cancel_rejected_total, outcome_unknown_total=orders.unknown_total,
            rate_limited_total=orders.rate_limited_total, orders_in_doubt=sum(
                o.state is OrderState.UNKNOWN for o in orders.orders.values()),
            position_mismatches_total=book.mismatches_total, duplicate_fills_total=book.duplicates_total,
            budget_used=budget.used if budget else 0, budget_limit=budget.limit if budget else 0,
            intents_denied_total=dict(self.risk.denied), hedger_mode=self.hedger.mode,
            hedger_crosses_total=self.hedger.crosses_total, hedger_abandoned_total=self.hedger.abandoned_total)

