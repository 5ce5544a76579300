"""The matcher both venues share (adapters/matching.py), stated on hand-made orders, prints and
touches, in the two kinds of units the venues hand it: the paper venue's integer ticks and lots
and the replay venue's prices and base units. The queue models' cancellation rules are tested
in test_replay_fills.py; the venues around the matcher in test_paper_matching.py and
test_replay_fills.py."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.matching import FrontOfQueue, QueuePos, RiskAverseQueue, match_cross, match_print


@dataclass
class Order:
    client_id: int
    buy: bool
    level: float
    remaining: float
    queue: QueuePos = field(default_factory=lambda: QueuePos(0))
    cap: float | None = None          # a reduce-only order: fills at most this much in all
    filled: float = 0


def book(fills: list):
    def fill(order: Order, size: float) -> float:
        take = min(order.remaining, size)
        if order.cap is not None:
            take = min(take, order.cap - order.filled)
        order.remaining -= take
        order.filled += take
        if take:
            fills.append((order.client_id, take))
        return take
    return fill


# The same situations in paper units (ticks, lots) and replay units (price, base units).
UNITS = {
    "paper": dict(px=184_980, better=184_990, worse=184_970, lot=1),
    "replay": dict(px=184.98, better=184.99, worse=184.97, lot=0.001),
}


@pytest.fixture(params=sorted(UNITS))
def u(request):
    return UNITS[request.param]


def test_an_order_behind_the_queue_fills_only_after_it_trades(u):
    q, fills = RiskAverseQueue(), []
    order = Order(1, True, u["px"], 64 * u["lot"], q.new_order(5_000 * u["lot"]))
    match_print([order], u["px"], 4_990 * u["lot"], True, q, book(fills))
    assert fills == [] and order.queue.front == pytest.approx(10 * u["lot"])      # 10 lots still ahead
    match_print([order], u["px"], 40 * u["lot"], True, q, book(fills))
    assert [(c, pytest.approx(s)) for c, s in fills] == [(1, 30 * u["lot"])]     # 10 for the queue, 30 for us
    match_print([order], u["px"], 1_000 * u["lot"], False, q, book(fills))       # a buy print never fills a bid
    assert len(fills) == 1


def test_a_trade_through_fills_by_the_prints_size_and_the_queue_is_gone(u):
    q, fills = RiskAverseQueue(), []
    order = Order(1, True, u["px"], 64 * u["lot"], q.new_order(5_000 * u["lot"]))
    match_print([order], u["worse"], 25 * u["lot"], True, q, book(fills))
    assert fills == [(1, 25 * u["lot"])] and order.queue.front == 0


def test_a_print_is_shared_best_price_first(u):
    q, fills = RiskAverseQueue(), []
    at = Order(1, True, u["px"], 64 * u["lot"], q.new_order(5_000 * u["lot"]))
    better = Order(2, True, u["better"], 20 * u["lot"])
    match_print([at, better], u["worse"], 30 * u["lot"], True, q, book(fills))
    assert [(c, pytest.approx(s)) for c, s in fills] == [(2, 20 * u["lot"]), (1, 10 * u["lot"])]


def test_what_a_reduce_only_order_cannot_take_goes_on_to_the_next_order(u):
    q, fills = RiskAverseQueue(), []
    capped = Order(1, False, u["px"], 50 * u["lot"], cap=5 * u["lot"])
    worse = Order(2, False, u["better"], 50 * u["lot"])
    match_print([capped, worse], u["better"], 30 * u["lot"], False, q, book(fills))
    assert [(c, pytest.approx(s)) for c, s in fills] == [(1, 5 * u["lot"]), (2, 25 * u["lot"])]


def test_the_book_crossing_us_fills_up_to_the_displayed_size_shared_best_first(u):
    q, fills = RiskAverseQueue(), []
    best = Order(1, True, u["better"], 5_000 * u["lot"], q.new_order(100 * u["lot"]))
    next_ = Order(2, True, u["px"], 5_000 * u["lot"])
    match_cross([next_, best], u["worse"], 3_000 * u["lot"], u["px"], 7_000 * u["lot"], q, book(fills))
    # 7,000 lots displayed at the ask: the best bid takes 5,000, the next the 2,000 left.
    assert [(c, pytest.approx(s)) for c, s in fills] == [(1, 5_000 * u["lot"]), (2, 2_000 * u["lot"])]
    assert best.queue.front == 0
    sell = Order(3, False, u["better"], 64 * u["lot"])
    match_cross([sell], u["worse"], 3_000 * u["lot"], u["px"], 7_000 * u["lot"], q, book(fills))
    assert len(fills) == 2                                                       # the bid is below it


def test_front_of_queue_is_first_everywhere_and_a_cross_fills_whole(u):
    q, fills = FrontOfQueue(), []
    order = Order(1, True, u["px"], 9_000 * u["lot"], q.new_order(5_000 * u["lot"]))
    assert order.queue.front == 0
    match_cross([order], u["worse"], 3_000 * u["lot"], u["px"], 7_000 * u["lot"], q, book(fills))
    assert fills == [(1, 9_000 * u["lot"])]


@given(front=st.integers(0, 200), prints=st.lists(st.tuples(st.integers(-2, 2), st.integers(1, 80)), max_size=12),
       size=st.integers(1, 150))
def test_integer_units_stay_integers_and_fills_never_exceed_what_traded(front, prints, size):
    """Paper units: every fill is a whole number of lots, the order never fills past its size, and
    across prints at or through its price it never gets more than was printed beyond the queue."""
    q, fills = RiskAverseQueue(), []
    order = Order(1, True, 1_000, size, q.new_order(front))
    traded_at_or_through = 0
    for offset, lots in prints:
        match_print([order], 1_000 + offset, lots, True, q, book(fills))
        if offset <= 0:
            traded_at_or_through += lots
    got = sum(s for _, s in fills)
    assert all(isinstance(s, int) for _, s in fills)
    assert got <= size and got <= traded_at_or_through
    if all(offset == 0 for offset, _ in prints):
        assert got == min(size, max(traded_at_or_through - front, 0))
