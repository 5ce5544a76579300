"""The port venues plug into: a strict cut-off between the trading core and any exchange.

The core is synchronous and is handed the time by its driver, so the same code runs a
live market, the paper exchange at simulated speed, or a replay. A venue therefore
exposes non-blocking calls: `drain` returns what happened since the last call, `submit`
queues intents whose outcomes arrive later as events (runtime/events.py). A live
adapter buffers its websocket messages and sends its transactions from its own tasks;
the paper and replay venues simulate up to `now` inside `drain`.

The contract every venue keeps (tests/venue_contract.py checks it):
- `start()` loads what the venue needs and sets `market` from the venue's own metadata
  (the live adapter reads Lighter's `orderBookDetails`); the Trader is built after it.
  Calling it twice is harmless.
- Health is reported as `VenueStatus` events, not polled: the first `drain` after
  `start()` carries one, and another follows every change.
- The intents of one `submit` are one batch, applied in order.
- Every place ends in exactly one of: OrderRejected, OrderCanceled, a fill of its whole
  size, or OutcomeUnknown (then an OrdersSnapshot settles it). Every cancel or modify
  ends in its effect or in CancelRejected / ModifyRejected / OutcomeUnknown.
- Fills carry a unique `trade_id`; a venue may deliver one twice (reconnects), the core
  books it once. Position events carry increasing `seq`; snapshots carry `as_of_seq`.
- `RequestSnapshot` is answered with an OrdersSnapshot and a PositionSnapshot.
- The request budget is reported with `BudgetUpdate` events; a send refused for the
  budget ends as OutcomeUnknown(rate_limited=True).
- `wake` (set by the driver) may be called by the venue, from the loop's thread, when
  something happened that should not wait for the next tick (our fill, a jump of the
  touch, a disconnect). Venues that simulate inside `drain` set `poll_interval_s` so the
  driver drains them between ticks.
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

from runtime.events import Event
from runtime.intents import Intent
from runtime.market import MarketSpec


class VenueError(Exception):
    """A venue failed in a way the caller must react to. Adapters translate their transport's
    and exchange's errors into these at their boundary; nothing else leaks out."""


class VenueDisconnected(VenueError):
    """The venue cannot be reached (connection lost, not started, already stopped)."""


class RateLimited(VenueError):
    """The venue refused a request for the request budget (Lighter 23000 / HTTP 429)."""


class AuthError(VenueError):
    """Credentials were refused (bad key, expired token, wrong chain id)."""


class NonceError(VenueError):
    """The venue refused a transaction's nonce (Lighter 21104); the adapter must resync it."""


class OrderRefused(VenueError):
    """The venue refused one order or cancel with its own error `code`."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Venue(Protocol):
    """An execution venue for one market."""

    market: MarketSpec
    # Seconds between drains the driver should make between ticks (venues that simulate inside
    # `drain`), or None when the venue pushes and calls `wake` itself.
    poll_interval_s: float | None
    supports_modify: bool
    # True when the venue runs on whatever clock it is handed (paper, replay): `run --simulated`.
    can_simulate: bool

    async def start(self) -> None:
        """Connect and load what the venue needs (metadata, nonces, book snapshot)."""

    def set_waker(self, wake: Callable[[], None]) -> None:
        """The driver's callback to tick early (see the module doc)."""

    def drain(self, now: float) -> list[Event]:
        """Events that happened up to `now`, in venue order. Never blocks."""

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        """Queue one batch of intents; their outcomes come back through `drain`. Never blocks."""

    async def stop(self) -> None:
        """Cancel every open order of ours and disconnect; must be safe to call twice."""
