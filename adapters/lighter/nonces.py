"""The nonce counter of our (account, API key) (reference §8).

Fetched once, then counted locally: each signed transaction takes the next one. A refusal at
the API level (400, body code != 200) does not consume it, so it is given back; an invalid
nonce (21104), a 429, a 5xx or a timeout leaves the server's counter unknown, so the counter
is marked stale and the next send re-fetches `nextNonce` first.
"""
from __future__ import annotations


class NonceCounter:
    def __init__(self) -> None:
        self._next: int | None = None
        self.refetches_total = 0

    @property
    def stale(self) -> bool:
        return self._next is None

    def reset(self, next_nonce: int) -> None:
        """The server's `nextNonce` answer."""
        self._next = next_nonce

    def take(self, count: int = 1) -> list[int]:
        """`count` consecutive nonces for one batch."""
        if self._next is None:
            raise RuntimeError("nonce counter is stale: fetch nextNonce first")
        first = self._next
        self._next += count
        return list(range(first, first + count))

    def give_back(self, nonces: list[int]) -> None:
        """The API refused a batch before the sequencer: its nonces were not consumed."""
        if self._next is not None and nonces and self._next == nonces[-1] + 1:
            self._next = nonces[0]
        else:
            self.invalidate()

    def invalidate(self) -> None:
        """The server's counter is unknown (21104, 429, 5xx, timeout): re-fetch before the next send."""
        if self._next is not None:
            self.refetches_total += 1
        self._next = None
