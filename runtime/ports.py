"""The ports venues plug into: a strict cut-off between the runtime and any exchange.

The runtime is synchronous and is handed the time by its driver, so the same code
runs a live market, the paper exchange at simulated speed, or a replay. A venue
therefore exposes non-blocking calls: `drain` returns what happened since the last
call, `submit` queues intents whose outcomes arrive later as events. A live adapter
buffers its websocket messages and sends its transactions from its own tasks; the
paper and replay venues simulate up to `now` inside `drain`.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from runtime.events import Event
from runtime.intents import Intent
from runtime.market import MarketSpec


class VenueError(Exception):
    """A venue failed in a way the runtime must react to (connection lost, auth refused)."""


class Venue(Protocol):
    """An execution venue for one market."""

    market: MarketSpec

    async def start(self) -> None:
        """Connect and load what the venue needs (metadata, nonces, book snapshot)."""

    def drain(self, now: float) -> list[Event]:
        """Events that happened up to `now`, in venue order. Never blocks."""

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        """Queue intents; their outcomes come back through `drain`. Never blocks."""

    async def stop(self) -> None:
        """Cancel every open order of ours and disconnect; must be safe to call twice."""

    def healthy(self) -> bool:
        """False while market data is stale or the connection is down (quotes must be pulled)."""
