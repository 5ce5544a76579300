"""The request budget of a simulated venue (paper, replay), as Lighter's standard account has it.

Lighter allows a standard account 60 requests in any rolling minute, sends included (README,
"Against a real exchange"). A simulated venue that did not enforce it would flatter the bot:
every re-quote would be free. Each place, modify, cancel and cancel-all spends one request; a
snapshot request reads two REST endpoints and spends two. A send over the budget is a 429,
whose outcome the client cannot tell from a lost one: the venue answers it as an
`OutcomeUnknown(rate_limited=True)`, settled like any doubt by the next snapshot.
"""
from __future__ import annotations

import math

from collections import deque
from typing import Iterable

from runtime.events import BudgetUpdate, OutcomeUnknown
from runtime.intents import CancelAll, CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot

CODE_TOO_MANY_REQUESTS = 23000    # Lighter: too many requests (HTTP 429)
# A snapshot request reads two REST endpoints on Lighter (open orders, account): two requests.
SNAPSHOT_REQUESTS = 2

_ACTIONS = {PlaceOrder: "place", ModifyOrder: "modify", CancelOrder: "cancel"}


class RequestBudget:
    """Requests spent in the rolling window; `limit` 0 means no limit."""

    def __init__(self, limit: int, window_s: float):
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._reported = -1

    @property
    def used(self) -> int:
        return len(self._times)

    def _expire(self, now: float) -> None:
        times, horizon = self._times, now - self.window_s
        while times and times[0] <= horizon:
            times.popleft()

    def spend(self, intent: Intent, now: float) -> bool:
        """Count `intent`'s requests at `now`; False (nothing spent) when the budget has no room."""
        if self.limit == 0:
            return True
        self._expire(now)
        cost = SNAPSHOT_REQUESTS if isinstance(intent, RequestSnapshot) else 1
        if len(self._times) + cost > self.limit:
            return False
        self._times.extend([now] * cost)
        return True

    def refusals(self, intent: Intent, now: float, resting: Iterable[int]) -> list[OutcomeUnknown]:
        """What the client hears for a send refused for the budget (a cancel-all: one per resting order)."""
        reason = f"{CODE_TOO_MANY_REQUESTS} too many requests"
        action = _ACTIONS.get(type(intent))
        if action is not None:
            return [OutcomeUnknown(now, intent.client_id, action, reason, rate_limited=True)]
        if isinstance(intent, CancelAll):
            return [OutcomeUnknown(now, client_id, "cancel", reason, rate_limited=True) for client_id in resting]
        return []

    def next_report_ts(self, now: float) -> float:
        """The earliest time `report` could return an update: `now` if the count moved since the
        last report, else when the oldest request leaves the window (a little early, as a
        computed time), inf with nothing in it."""
        if self.limit == 0:
            return math.inf
        if len(self._times) != self._reported:
            return now
        return self._times[0] + self.window_s - 1e-3 if self._times else math.inf

    def report(self, now: float) -> BudgetUpdate | None:
        """A BudgetUpdate when the count in the window changed since the last report, else None."""
        if self.limit == 0:
            return None
        self._expire(now)
        if len(self._times) == self._reported:
            return None
        self._reported = len(self._times)
        return BudgetUpdate(now, len(self._times), self.limit, self.window_s)
