"""The simulated venues' request budget (adapters/request_budget.py), shared by paper and replay."""
from __future__ import annotations

from adapters.request_budget import RequestBudget
from runtime.events import BudgetUpdate, OutcomeUnknown
from runtime.intents import CancelAll, CancelOrder, PlaceOrder, RequestSnapshot


def place(cid: int) -> PlaceOrder:
    return PlaceOrder(cid, "buy", 185.0, 0.064, "post_only", "quote")


def test_a_rolling_window_of_requests_with_snapshots_costing_two():
    budget = RequestBudget(limit=3, window_s=60.0)
    assert budget.spend(place(1), 0.0) and budget.spend(RequestSnapshot("x"), 1.0)     # 1 + 2 = 3
    assert not budget.spend(place(2), 2.0) and budget.used == 3                         # nothing spent
    assert budget.spend(place(3), 60.5)                                                 # the first left
    assert not budget.spend(RequestSnapshot("y"), 60.6)                                 # 2 + 2 > 3


def test_a_refused_send_is_an_unknown_outcome_and_a_cancel_all_one_per_resting_order():
    budget = RequestBudget(limit=1, window_s=60.0)
    [refusal] = budget.refusals(CancelOrder(7), 5.0, resting=[])
    assert refusal == OutcomeUnknown(5.0, 7, "cancel", "23000 too many requests", rate_limited=True)
    assert [r.client_id for r in budget.refusals(CancelAll("x"), 5.0, resting=[3, 4])] == [3, 4]
    assert budget.refusals(RequestSnapshot("x"), 5.0, resting=[3]) == []


def test_the_budget_is_reported_only_when_it_changes_and_never_without_a_limit():
    budget = RequestBudget(limit=60, window_s=60.0)
    budget.spend(place(1), 0.0)
    assert budget.report(0.5) == BudgetUpdate(0.5, 1, 60, 60.0)
    assert budget.report(1.0) is None
    assert budget.report(61.0) == BudgetUpdate(61.0, 0, 60, 60.0)
    unlimited = RequestBudget(limit=0, window_s=60.0)
    assert all(unlimited.spend(place(i), 0.0) for i in range(1000)) and unlimited.report(1.0) is None
