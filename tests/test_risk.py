"""The risk gate: hard limits on the worst case, trading states, and the halt latch.

"Worst case" is the position if every live order on the order's side filled together with it:
position + same-side live orders + this order. That, not the position alone, must stay inside
risk.max_position_units and risk.max_inventory_notional.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.config import RiskConfig
from runtime.intents import CancelAll, PlaceOrder
from runtime.market import MarketSpec
from runtime.orders import OrderTracker
from runtime.risk import RiskGate, TradingState

# The position limits under test; the per-order checks (size, band) are opened wide here and tested below.
LIMITS = RiskConfig(max_position_units=0.3, max_inventory_notional=50.0, max_order_units=1.0,
                    max_order_notional=1000.0, price_band_bps=10_000.0)
SOL = MarketSpec(market_id=2, symbol="SOL", price_decimals=3, size_decimals=3, min_base_units=0.061, min_quote=10.0)
MID = 100.0          # 0.3 units = 30 quote: the unit limit binds first at this price


def order(side: str, size: float, price: float = MID, purpose: str = "quote") -> PlaceOrder:
    return PlaceOrder(client_id=0, side=side, price=price, size=size, tif="post_only", purpose=purpose)


def tracker(*live: tuple[str, float, float]) -> OrderTracker:
    """An order tracker holding live orders given as (side, size, price)."""
    orders = OrderTracker(SOL)
    for side, size, price in live:
        orders.on_place(PlaceOrder(orders.next_client_id(), side, price, size, "post_only", "quote"), 0.0)
    return orders


def gate(**limits) -> RiskGate:
    return RiskGate(LIMITS.model_copy(update=limits))


# -- hard limits in ACTIVE -----------------------------------------------------------------------

def test_an_order_that_would_take_the_position_past_the_unit_limit_is_denied():
    g = gate()
    assert g.check(order("buy", 0.1), 0.2, tracker(), MID) == ""                   # exactly 0.3: allowed
    assert g.check(order("buy", 0.101), 0.2, tracker(), MID) == "max_position_units"
    assert g.check(order("sell", 0.101), -0.2, tracker(), MID) == "max_position_units"
    assert g.denied == {"max_position_units": 2}


def test_live_same_side_orders_count_toward_the_worst_case():
    g = gate()
    resting = tracker(("buy", 0.15, MID - 1), ("sell", 0.3, MID + 1))
    assert g.check(order("buy", 0.1, MID - 2), 0.05, resting, MID) == ""           # 0.05 + 0.15 + 0.1 = 0.3
    assert g.check(order("buy", 0.11, MID - 2), 0.05, resting, MID) == "max_position_units"


def test_notional_limit_uses_the_higher_of_order_price_and_mid():
    g = gate(max_position_units=10.0)
    assert g.check(order("buy", 0.25, 200.0), 0.0, tracker(), 200.0) == ""        # 50 quote: at the limit
    assert g.check(order("buy", 0.26, 200.0), 0.0, tracker(), 200.0) == "max_inventory_notional"
    # a buy priced below mid is still valued at mid: the position is worth mid once held
    assert g.check(order("buy", 0.26, 150.0), 0.0, tracker(), 200.0) == "max_inventory_notional"


def test_orders_that_reduce_the_position_pass_even_beyond_the_limits():
    g = gate()
    assert g.check(order("sell", 0.2), 0.5, tracker(), MID) == ""          # breached at 0.5: selling is allowed
    assert g.check(order("sell", 0.5), 0.5, tracker(), MID) == ""          # to flat
    assert g.check(order("buy", 0.4), -0.5, tracker(), MID) == ""
    assert g.check(order("sell", 0.9), 0.5, tracker(), MID) == "max_position_units"   # flips to -0.4


def test_stacked_reducing_orders_cannot_overshoot_past_the_limit_on_the_other_side():
    g = gate()
    # Long 0.3, already offering 0.3 to get flat. More sells each "reduce" the position on their own,
    # but if they all filled the bot would be short 0.6: the worst case is what must stay in bounds.
    resting = tracker(("sell", 0.3, MID + 1), ("sell", 0.3, MID + 2))
    assert g.check(order("sell", 0.3, MID + 3), 0.3, resting, MID) == "max_position_units"
    assert g.check(order("sell", 0.3, MID + 3), 0.3, tracker(("sell", 0.3, MID + 1)), MID) == ""   # -> -0.3


sides = st.sampled_from(["buy", "sell"])
units = st.floats(0, 0.6).map(lambda x: round(x, 3))


@settings(max_examples=300, deadline=None)
@given(position=st.floats(-0.6, 0.6).map(lambda x: round(x, 3)), side=sides, size=units.filter(lambda x: x > 0),
       live_buys=units, live_sells=units, price_ratio=st.floats(0.5, 1.5), mid=st.floats(50, 300))
def test_active_gate_allows_exactly_what_keeps_the_worst_case_in_bounds_or_reduces(
        position, side, size, live_buys, live_sells, price_ratio, mid):
    g = gate()
    price = mid * price_ratio          # within the (wide) price band: this property is about position
    # Resting prices far from the new order, so the self-trade rule stays out of this property.
    live = [(s, q, p) for s, q, p in (("buy", live_buys, 1.0), ("sell", live_sells, 10_000.0)) if q > 0]
    verdict = g.check(order(side, size, price), position, tracker(*live), mid)

    sign = 1 if side == "buy" else -1
    same_side = live_buys if side == "buy" else live_sells
    worst = position + sign * (same_side + size)
    within = abs(worst) <= 0.3 + 1e-9 and abs(worst) * max(price, mid) <= 50.0 + 1e-9
    # reducing: every same-side order filling still leaves us on the same side of flat, closer to it
    reduces = position * sign < 0 and same_side + size <= abs(position) + 1e-9
    assert (verdict == "") == (within or reduces), (verdict, worst)
    if verdict:
        assert verdict in ("max_position_units", "max_inventory_notional")


# -- trading states --------------------------------------------------------------------------------

def test_reducing_denies_growth_and_allows_reduction():
    g = gate()
    assert g.update(0.2, MID, policy_reduce=True, policy_halt=False, policy_reason="pnl") == []
    assert g.state is TradingState.REDUCING
    assert g.check(order("buy", 0.01), 0.2, tracker(), MID) == "reducing_only"
    assert g.check(order("sell", 0.2), 0.2, tracker(), MID) == ""
    assert g.check(order("sell", 0.21), 0.2, tracker(), MID) == "reducing_only"             # would flip
    assert g.check(order("sell", 0.1), 0.2, tracker(("sell", 0.15, MID + 1)), MID) == "reducing_only"
    assert g.check(order("buy", 0.01), 0.0, tracker(), MID) == "reducing_only"              # flat: nothing reduces
    g.update(0.2, MID, policy_reduce=False, policy_halt=False, policy_reason="")
    assert g.state is TradingState.ACTIVE                                                   # lifts by itself


def test_a_breached_limit_enters_reducing_until_the_position_is_back_inside():
    g = gate()
    g.update(0.31, MID, False, False, "")
    assert g.state is TradingState.REDUCING and "max_position_units" in g.reason
    g.update(0.3, MID, False, False, "")                                                    # at the limit: fine
    assert g.state is TradingState.ACTIVE
    g.update(0.2, 300.0, False, False, "")                                                  # 60 quote > 50
    assert g.state is TradingState.REDUCING and "max_inventory_notional" in g.reason


def test_halted_denies_everything_and_cancels_all_once_on_entry():
    g = gate()
    intents = g.update(0.1, MID, policy_reduce=False, policy_halt=True, policy_reason="pnl collapse")
    assert intents == [CancelAll("policy: pnl collapse")]
    assert g.state is TradingState.HALTED
    assert g.check(order("sell", 0.1), 0.1, tracker(), MID) == "halted"                     # even reducing
    assert g.check(order("buy", 0.01), 0.0, tracker(), MID) == "halted"
    assert g.update(0.1, MID, False, True, "pnl collapse") == []                            # no repeated cancel
    assert g.halt("operator: again") == []


def test_a_policy_halt_latches_until_an_operator_resumes():
    g = gate()
    g.update(0.0, MID, False, True, "guard")
    for _ in range(3):
        g.update(0.0, MID, policy_reduce=False, policy_halt=False, policy_reason="")
        assert g.state is TradingState.HALTED                                               # the request went away
    assert g.operator("reduce", "ops") == []
    assert g.state is TradingState.HALTED                                                   # only resume leaves it
    g.operator("resume", "checked the book")
    assert g.state is TradingState.ACTIVE
    assert g.check(order("buy", 0.01), 0.0, tracker(), MID) == ""


def test_operator_halt_and_reduce():
    g = gate()
    assert g.operator("halt", "maintenance") == [CancelAll("operator: maintenance")]
    g.operator("resume", "")
    g.operator("reduce", "flatten before the weekend")
    g.update(0.0, MID, False, False, "")
    assert g.state is TradingState.REDUCING                                                 # operator reduce stays
    g.operator("resume", "")
    assert g.state is TradingState.ACTIVE


def test_kill_switch_starts_halted_and_refuses_resume():
    g = gate(kill_switch=True)
    assert g.state is TradingState.HALTED
    assert g.operator("resume", "please") == []
    assert g.state is TradingState.HALTED
    g.update(0.0, MID, False, False, "")
    assert g.state is TradingState.HALTED
    assert g.check(order("buy", 0.01), 0.0, tracker(), MID) == "halted"


# -- self-trade ------------------------------------------------------------------------------------

@pytest.mark.parametrize("side, price, resting, verdict", [
    ("buy", 100.5, ("sell", 100.5), "self_trade"),       # at our own ask
    ("buy", 101.0, ("sell", 100.5), "self_trade"),       # through it
    ("buy", 100.4, ("sell", 100.5), ""),
    ("sell", 99.5, ("buy", 99.5), "self_trade"),
    ("sell", 99.6, ("buy", 99.5), ""),
])
def test_an_order_that_would_meet_our_own_resting_order_is_denied(side, price, resting, verdict):
    g = gate()
    orders = tracker((resting[0], 0.05, resting[1]))
    assert g.check(order(side, 0.05, price), 0.0, orders, MID) == verdict


def test_self_trade_uses_our_most_aggressive_opposite_order():
    g = gate()
    orders = tracker(("sell", 0.05, 101.0), ("sell", 0.05, 100.2))
    assert g.check(order("buy", 0.05, 100.2), 0.0, orders, MID) == "self_trade"
    assert g.check(order("buy", 0.05, 100.1), 0.0, orders, MID) == ""


# -- the per-order checks, the gate's own rate limits and the drawdown stop -----------------------

def strict_gate(**limits) -> RiskGate:
    g = RiskGate(RiskConfig(**limits))
    g.observe(0.0, MID, 0.1, 0.0)
    return g


def test_one_order_may_not_be_too_big_or_priced_off_the_mid():
    g = strict_gate(max_order_units=0.2, max_order_notional=15.0, price_band_bps=100.0)
    empty = tracker()
    assert g.check(order("buy", 0.21, MID), 0.0, empty, MID) == "max_order_units"
    assert g.check(order("buy", 0.16, MID), 0.0, empty, MID) == "max_order_notional"      # 16 > 15 quote
    assert g.check(order("buy", 0.1, MID * 0.989), 0.0, empty, MID) == "price_band"      # 110 bps away
    assert g.check(order("sell", 0.1, MID * 1.011), 0.0, empty, MID) == "price_band"
    assert g.check(order("buy", 0.1, MID * 0.991), 0.0, empty, MID) == ""
    assert g.denied == {"max_order_units": 1, "max_order_notional": 1, "price_band": 2}


def test_no_new_order_on_a_stale_book():
    g = strict_gate(max_book_age_s=5.0)
    g.observe(10.0, MID, 5.5, 0.0)
    assert g.check(order("buy", 0.1, MID), 0.0, tracker(), MID) == "stale_book"


def test_the_gates_own_rate_limits_hold_for_a_rolling_minute():
    g = strict_gate(max_orders_per_min=3, max_cancels_per_min=2)
    for t in (0.0, 1.0, 2.0):
        g.note_sent(False, t)
    g.observe(30.0, MID, 0.1, 0.0)
    assert g.check(order("buy", 0.1, MID), 0.0, tracker(), MID) == "order_rate"
    g.observe(60.5, MID, 0.1, 0.0)                       # the first send left the window
    assert g.check(order("buy", 0.1, MID), 0.0, tracker(), MID) == ""
    g.note_sent(True, 61.0)
    g.note_sent(True, 61.5)
    g.observe(62.0, MID, 0.1, 0.0)
    assert g.check(order("buy", 0.1, MID), 0.0, tracker(), MID) == "cancel_rate"   # cancels themselves pass


def test_a_drawdown_reduces_then_halts_and_both_latch_until_an_operator_resumes():
    g = strict_gate(max_drawdown_quote=1.0, halt_drawdown_quote=2.0, drawdown_window_s=3600.0)
    for t, equity in ((1.0, 0.5), (2.0, 1.2), (3.0, 0.1)):      # peak 1.2, now 0.1: down 1.1
        g.observe(t, MID, 0.1, equity)
        g.update(0.0, MID, False, False, "")
    assert g.state is TradingState.REDUCING and "drawdown 1.10" in g.reason
    g.observe(4.0, MID, 0.1, 1.2)                                # equity recovers: still latched
    g.update(0.0, MID, False, False, "")
    assert g.state is TradingState.REDUCING
    g.observe(5.0, MID, 0.1, -0.9)                               # 2.1 below the peak: halt
    assert g.update(0.0, MID, False, False, "") == [CancelAll(g.reason)]
    assert g.state is TradingState.HALTED and "halt_drawdown_quote" in g.reason
    g.operator("resume", "checked the book")
    g.observe(6.0, MID, 0.1, -0.9)                               # measured afresh from the resume
    g.update(0.0, MID, False, False, "")
    assert g.state is TradingState.ACTIVE and g.drawdown_quote == 0.0


def test_the_drawdown_peak_leaves_with_its_window():
    g = strict_gate(max_drawdown_quote=1.0, halt_drawdown_quote=2.0, drawdown_window_s=100.0)
    g.observe(1.0, MID, 0.1, 5.0)
    g.observe(200.0, MID, 0.1, 3.5)                              # the 5.0 peak is older than the window
    assert g.drawdown_quote == 0.0


# -- the tracker's one-pass queries answer what the separate ones do ----------------------------------

from runtime.orders import LiveOrder, OrderState  # noqa: E402

_orders = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["quote", "hedge", "orphan"]),
                             st.sampled_from(list(OrderState))), max_size=8)


@given(_orders)
def test_one_pass_order_queries_agree_with_the_separate_ones(specs):
    tracker = OrderTracker(MarketSpec(2, "SOL", 3, 3, 0.061, 10.0))
    for client_id, (side, purpose, state) in enumerate(specs, start=1):
        tracker.orders[client_id] = LiveOrder(client_id, side, 185.0, 61, 61, purpose, "post_only", 0.0, 0.001,
                                              state)
    bid, ask, bid_doubt, ask_doubt = tracker.quotes()
    assert bid is tracker.quote("buy") and ask is tracker.quote("sell")
    assert (bid_doubt, ask_doubt) == (tracker.in_doubt("buy", "quote"), tracker.in_doubt("sell", "quote"))
    live, doubt = tracker.hedge_and_doubt()
    assert live is tracker.hedge() and doubt == tracker.hedge_in_doubt()
