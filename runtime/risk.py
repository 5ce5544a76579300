"""The risk gate: hard limits every intent passes on its way to a venue.

Trading states (as in NautilusTrader's risk engine):
- ACTIVE: orders pass if they keep the worst-case position within the limits.
- REDUCING: only orders that shrink the position pass. Entered while a hard limit
  is breached, while a policy asks (`reduce_only`), while the service holds it
  (`service_hold`: the fills ledger cannot be written), or by an operator; it lifts
  by itself once no cause remains.
- HALTED: every order is denied and everything is canceled. Entered by the kill
  switch, an operator, or a policy's `halt`; it is left only by an explicit
  operator `resume`, never silently.

Limits come from `config.yaml` (`risk:`) and live here, in code: a policy can ask
for REDUCING or HALTED but has no way to raise a limit or leave HALTED.

What every order (place or modify) must pass, each denial counted by its reason:
`halted`, `reducing_only`, `self_trade`, `max_position_units` and
`max_inventory_notional` (worst case: position plus every live order on its side),
`max_order_units` / `max_order_notional` (this order alone), `price_band` (priced
within `price_band_bps` of the mid), `stale_book` (book older than `max_book_age_s`),
`order_rate` / `cancel_rate` (our own sends per rolling minute, under the venue's
budget). The drawdown stop watches equity (realized + unrealized) against its peak
over `drawdown_window_s`: past `max_drawdown_quote` REDUCING, past
`halt_drawdown_quote` HALTED; either latches until an operator resumes.
"""
from __future__ import annotations

import logging
from collections import deque
from enum import Enum

from runtime.config import RiskConfig
from runtime.intents import CancelAll, Intent, ModifyOrder, PlaceOrder
from runtime.orders import LiveOrder, OrderTracker

log = logging.getLogger("lighter_bot.risk")

# Float slack so a position of exactly the limit is not a breach.
_EPS_UNITS = 1e-9
_BPS = 1e-4
RATE_WINDOW_S = 60.0


class TradingState(Enum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def code(self) -> int:
        """0 active, 1 reducing, 2 halted: the `trading_state` feature policies read."""
        return _STATE_CODES[self]


_STATE_CODES = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class RiskGate:
    """Owns the trading state and checks every order against the hard limits."""

    def __init__(self, limits: RiskConfig):
        self.limits = limits
        self.state = TradingState.ACTIVE
        self.reason = "start"
        self._operator_reducing = False
        self._drawdown_reducing = ""        # latched reason, cleared only by an operator resume
        # A condition of the process around the core (the fills ledger cannot be written): while
        # non-empty, REDUCING with this reason; it lifts by itself once the service clears it.
        self.service_hold = ""
        self.denied: dict[str, int] = {}
        # What the current tick sees (`observe`), so each check is a comparison.
        self._now = 0.0
        self._mid = 0.0
        self._book_age_s = 0.0
        self._sends: deque[float] = deque()     # places and modifies in the last RATE_WINDOW_S
        self._cancels: deque[float] = deque()
        self._equity: deque[tuple[float, float]] = deque()   # (ts, equity), max-first for the peak
        self.drawdown_quote = 0.0
        if limits.kill_switch:
            self._set(TradingState.HALTED, "kill switch in config.yaml")

    # -- state ----------------------------------------------------------------------------------
    def _set(self, state: TradingState, reason: str) -> None:
        if state is self.state:
            return
        log.warning("trading state %s -> %s: %s", self.state.value, state.value, reason,
                    extra={"event": "trading_state", "from": self.state.value, "to": state.value, "reason": reason})
        self.state, self.reason = state, reason

    def operator(self, action: str, reason: str) -> list[Intent]:
        """Apply an operator command ("halt", "reduce", "resume")."""
        if action == "halt":
            return self.halt(f"operator: {reason}")
        if action == "reduce":
            self._operator_reducing = True
            if self.state is TradingState.ACTIVE:
                self._set(TradingState.REDUCING, f"operator: {reason}")
        elif action == "resume":
            if self.limits.kill_switch:
                log.error("resume refused: risk.kill_switch is set in config.yaml (restart without it)")
                return []
            self._operator_reducing = False
            self._drawdown_reducing = ""
            self._equity.clear()          # the drawdown is measured afresh from here
            self._set(TradingState.ACTIVE, f"operator resume: {reason}")
        return []

    def halt(self, reason: str) -> list[Intent]:
        if self.state is TradingState.HALTED:
            return []
        self._set(TradingState.HALTED, reason)
        return [CancelAll(reason)]

    def observe(self, now: float, mid: float, book_age_s: float, equity_quote: float) -> None:
        """What this tick's checks compare against: the time, the book, and equity for the drawdown."""
        self._now, self._mid, self._book_age_s = now, mid, book_age_s
        horizon = now - RATE_WINDOW_S
        for window in (self._sends, self._cancels):
            while window and window[0] <= horizon:
                window.popleft()
        # Monotonic deque of (ts, equity): the front is the window's peak.
        equity = self._equity
        while equity and equity[-1][1] <= equity_quote:
            equity.pop()
        equity.append((now, equity_quote))
        while equity[0][0] < now - self.limits.drawdown_window_s:
            equity.popleft()
        self.drawdown_quote = equity[0][1] - equity_quote

    def note_sent(self, is_cancel: bool, now: float) -> None:
        """An approved send, for the gate's own rate limits."""
        (self._cancels if is_cancel else self._sends).append(now)

    def update(self, position_units: float, mid: float, policy_reduce: bool, policy_halt: bool,
               policy_reason: str) -> list[Intent]:
        """Re-derive the state from limits and policy requests; returns cancels when halting."""
        if self.state is TradingState.HALTED:
            return []
        if policy_halt:
            return self.halt(f"policy: {policy_reason}")
        limits = self.limits
        if self.drawdown_quote > limits.halt_drawdown_quote:
            return self.halt(f"drawdown {self.drawdown_quote:.2f} beyond halt_drawdown_quote "
                             f"{limits.halt_drawdown_quote}")
        if self.drawdown_quote > limits.max_drawdown_quote and not self._drawdown_reducing:
            self._drawdown_reducing = (f"drawdown {self.drawdown_quote:.2f} beyond max_drawdown_quote "
                                       f"{limits.max_drawdown_quote} (latched until an operator resumes)")
        breach = self.breach(position_units, mid)
        if breach:
            self._set(TradingState.REDUCING, breach)
        elif self._drawdown_reducing:
            self._set(TradingState.REDUCING, self._drawdown_reducing)
        elif policy_reduce:
            self._set(TradingState.REDUCING, f"policy: {policy_reason}")
        elif self.service_hold:
            self._set(TradingState.REDUCING, f"service: {self.service_hold}")
        elif self._operator_reducing:
            self._set(TradingState.REDUCING, "operator")
        else:
            self._set(TradingState.ACTIVE, "limits respected, no reduce request")
        return []

    def breach(self, position_units: float, mid: float) -> str:
        """A human reason if the position itself is beyond a hard limit, else ""."""
        if abs(position_units) > self.limits.max_position_units + _EPS_UNITS:
            return f"position {position_units:+.4f} beyond max_position_units {self.limits.max_position_units}"
        if mid > 0 and abs(position_units) * mid > self.limits.max_inventory_notional + 1e-9:
            return (f"inventory notional {abs(position_units) * mid:.2f} beyond max_inventory_notional "
                    f"{self.limits.max_inventory_notional}")
        return ""

    # -- checks ---------------------------------------------------------------------------------
    def check(self, order: PlaceOrder, position_units: float, orders: OrderTracker, mid: float) -> str:
        """"" if `order` may go to the venue, else the reason it is denied."""
        return self._check(order.side, order.price, order.size, position_units, orders.exposure(order.side),
                           orders, mid)

    def check_modify(self, modify: ModifyOrder, order: LiveOrder, position_units: float, orders: OrderTracker,
                     mid: float) -> str:
        """"" if moving `order` to the modify's price and size may go to the venue, else the reason.
        Judged as the order it becomes: the rest of its side's exposure plus its new size."""
        others = orders.exposure(order.side) - order.exposure_lots * order.lot
        return self._check(order.side, modify.price, modify.size, position_units, others, orders, mid)

    def _check(self, side: str, price: float, size: float, position_units: float, side_exposure: float,
               orders: OrderTracker, mid: float) -> str:
        if self.state is TradingState.HALTED:
            return self._deny("halted")
        limits = self.limits
        if size > limits.max_order_units + _EPS_UNITS:
            return self._deny("max_order_units")
        if size * price > limits.max_order_notional + 1e-9:
            return self._deny("max_order_notional")
        if mid <= 0 or abs(price - mid) > limits.price_band_bps * _BPS * mid:
            return self._deny("price_band")
        if self._book_age_s > limits.max_book_age_s:
            return self._deny("stale_book")
        if len(self._sends) >= limits.max_orders_per_min:
            return self._deny("order_rate")
        if len(self._cancels) >= limits.max_cancels_per_min:
            return self._deny("cancel_rate")
        signed = size if side == "buy" else -size
        # Reducing means: even if every live order on this side filled with it, the position ends on
        # the same side of flat, closer to it. Judged alone, a stack of sells against a long could
        # each "reduce" and together overshoot far past the limit on the short side.
        reduces = position_units * signed < 0 and size + side_exposure <= abs(position_units) + _EPS_UNITS
        if self.state is TradingState.REDUCING and not reduces:
            return self._deny("reducing_only")
        opposite = orders.best_own("sell" if side == "buy" else "buy")
        if opposite is not None and ((side == "buy" and price >= opposite) or (side == "sell" and price <= opposite)):
            return self._deny("self_trade")
        if not reduces:
            worst = position_units + (side_exposure + size if side == "buy"
                                      else -(side_exposure + size))
            if abs(worst) > self.limits.max_position_units + _EPS_UNITS:
                return self._deny("max_position_units")
            price = max(price, mid)
            if abs(worst) * price > self.limits.max_inventory_notional + 1e-9:
                return self._deny("max_inventory_notional")
        return ""

    def _deny(self, reason: str) -> str:
        self.denied[reason] = self.denied.get(reason, 0) + 1
        return reason
