"""`OrderTracker.expire` skips its scan while the orders' version and the timeout are those of
its last scan and no deadline it saw has come (runtime/orders.py). Hypothesis drives two
trackers through the same sends, answers, snapshots and clock steps, one of them with that
memo cleared before every call, and they must time out the same orders at the same moments."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.events import OpenOrderReport, OrderAccepted, OrderOpen, OrdersSnapshot
from runtime.intents import PlaceOrder
from runtime.market import MarketSpec
from runtime.orders import OrderTracker

SOL = MarketSpec(market_id=2, symbol="SOL", price_decimals=3, size_decimals=3, min_base_units=0.061, min_quote=10.0)
TIMEOUT = st.sampled_from([0.5, 2.0, 5.0])

OPS = st.lists(st.one_of(
    st.tuples(st.just("place"), st.sampled_from(["buy", "sell"])),
    st.tuples(st.just("accept"), st.integers(0, 20)),
    st.tuples(st.just("open"), st.integers(0, 20)),
    st.tuples(st.just("snapshot"), st.integers(0, 2**10 - 1), st.booleans()),   # listed orders, fills pending
    st.tuples(st.just("wait"), st.sampled_from([0.0, 0.1, 0.4999999, 0.5, 1.0, 1.9999999, 2.0, 3.0, 5.0])),
    st.tuples(st.just("timeout"), TIMEOUT),
), max_size=60)


def state(tracker: OrderTracker) -> dict:
    return {cid: (o.state, o.state_ts, o.gone_at_seq) for cid, o in tracker.orders.items()}


@settings(max_examples=1000, deadline=None)
@given(OPS, TIMEOUT)
def test_expire_times_out_the_same_orders_with_and_without_its_memo(ops, timeout):
    """As the Trader does, `expire` runs after every step; a reload may change the timeout."""
    memo, fresh = OrderTracker(SOL), OrderTracker(SOL)
    now = 100.0
    sent: list[int] = []
    for op in ops:
        kind = op[0]
        for tracker in (memo, fresh):
            if kind == "place":
                cid = tracker.next_client_id()      # the same id in both: they start alike
                tracker.on_place(PlaceOrder(cid, op[1], 150.0, 0.1, "post_only", "quote"), now)
            elif kind == "accept" and sent:
                tracker.apply(OrderAccepted(now, sent[op[1] % len(sent)]))
            elif kind == "open" and sent:
                cid = sent[op[1] % len(sent)]
                tracker.apply(OrderOpen(now, cid, "buy", 150.0, 0.1))
            elif kind == "snapshot":
                listed = tuple(OpenOrderReport(cid, "buy", 150.0, 0.1) for i, cid in enumerate(sent) if op[1] >> i & 1)
                # With fills pending (as of a later seq) a missing order is kept until they come
                # or the timeout passes: the second kind of deadline `expire` watches.
                tracker.apply(OrdersSnapshot(now, listed, tracker.last_seq + 1 if op[2] else None))
        if kind == "place":
            sent.append(cid)
        elif kind == "wait":
            now = round(now + op[1], 7)
        elif kind == "timeout":
            timeout = op[1]
        fresh._expiry_key = None
        got = [o.client_id for o in memo.expire(now, timeout)]
        want = [o.client_id for o in fresh.expire(now, timeout)]
        assert got == want
        assert state(memo) == state(fresh)
        assert (memo.vanished_total, memo.needs_snapshot) == (fresh.vanished_total, fresh.needs_snapshot)


def test_a_shorter_timeout_after_a_reload_is_applied_at_once():
    tracker = OrderTracker(SOL)
    cid = tracker.next_client_id()
    tracker.on_place(PlaceOrder(cid, "buy", 150.0, 0.1, "post_only", "quote"), 100.0)
    assert tracker.expire(100.0, 5.0) == []                 # due at 105 under this timeout
    assert [o.client_id for o in tracker.expire(101.0, 0.5)] == [cid]
