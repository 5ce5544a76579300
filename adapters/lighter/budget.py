"""One request budget for everything the adapter sends to Lighter's REST API (reference §11).

A standard account gets 60 requests per rolling minute, sendTx included, in one bucket. Sends
that do not fit are refused at once (the venue reports them as OutcomeUnknown(rate_limited),
the core's contract for a 429); reads wait for room, since reconciliation must happen but
never needs to be instant. `reserve_for_reads` requests are kept back from sends so quoting
cannot starve a reconnect's reconciliation. A batch (sendTxBatch) is one request: that is
why the venue sends a tick's intents as one batch and moves quotes with modify. Cancels are
protective (they reduce risk) and may use the read reserve too.

A request is counted `guard_s` longer than the window: Lighter counts it when it arrives, which can
be a little after we sent it (a slow network), and the two clocks must never disagree in its favour.
"""
from __future__ import annotations

from collections import deque


class RequestBudget:
    def __init__(self, limit: int, window_s: float, reserve_for_reads: int = 0, guard_s: float = 0.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.guard_s = guard_s
        self.reserve_for_reads = min(reserve_for_reads, max(limit - 1, 0))
        self._sent: deque[float] = deque()
        self.refused_total = 0
        self.requests_total = 0

    def used(self, now: float) -> int:
        horizon = now - self.window_s - self.guard_s
        sent = self._sent
        while sent and sent[0] <= horizon:
            sent.popleft()
        return len(sent)

    def try_send(self, now: float, protective: bool = False) -> bool:
        """Spend one request on a transaction send, if it fits beside the read reserve (which a
        protective send, a cancel, may use)."""
        room = self.limit if protective else self.limit - self.reserve_for_reads
        if self.used(now) + 1 > room:
            self.refused_total += 1
            return False
        self._spend(now)
        return True

    def read_wait_s(self, now: float) -> float:
        """How long a read must wait for room (0: it may go now; call `spend_read` then)."""
        if self.used(now) < self.limit:
            return 0.0
        return self._sent[0] + self.window_s + self.guard_s - now

    def spend_read(self, now: float) -> None:
        self._spend(now)

    def _spend(self, now: float) -> None:
        self._sent.append(now)
        self.requests_total += 1
