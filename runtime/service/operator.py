"""The mailbox from operators (HTTP, signals) to the trading loop.

The HTTP server runs in its own thread and must never touch trading state; it only
posts commands here, and the loop hands them to the Trader between two ticks.
"""
from __future__ import annotations

import queue

from runtime.status import OperatorAction


class OperatorCommands:
    """Thread-safe queue of (action, reason)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[OperatorAction, str]] = queue.SimpleQueue()

    def send(self, action: OperatorAction, reason: str) -> None:
        self._queue.put((action, reason))

    def drain(self) -> list[tuple[OperatorAction, str]]:
        if self._queue.empty():   # the common case, checked without raising queue.Empty every tick
            return []
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out
