"""The replayed public book: price levels per side with the best price kept current.

Levels are keyed by the recorded price (a float parsed from the same decimal text is always
the same float). Best prices come from lazy heaps: a deleted level is dropped when it reaches
the top (the replay's fast path leaves deleted levels as size 0 and never reads the heaps).
`set` returns the level's previous size so the queue model can see the change.
"""
from __future__ import annotations

import heapq


class Book:
    __slots__ = ("bids", "asks", "_bh", "_ah")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bh: list[float] = []      # -price
        self._ah: list[float] = []

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bh.clear()
        self._ah.clear()

    def set(self, ask: bool, px: float, qty: float) -> float:
        levels = self.asks if ask else self.bids
        prev = levels.get(px, 0.0)
        if qty > 0:
            levels[px] = qty
            if prev == 0.0:
                heapq.heappush(self._ah if ask else self._bh, px if ask else -px)
        elif prev:
            del levels[px]
        return prev

    def drop_better(self, ask: bool, px: float) -> list[tuple[float, float]]:
        """Delete every level better than `px` on one side (a new touch from BBO data)."""
        gone = []
        if ask:
            while (best := self.best_ask()) is not None and best < px:
                gone.append((best, self.asks.pop(best)))
        else:
            while (best := self.best_bid()) is not None and best > px:
                gone.append((best, self.bids.pop(best)))
        return gone

    def best_bid(self) -> float | None:
        heap, levels = self._bh, self.bids
        while heap and -heap[0] not in levels:
            heapq.heappop(heap)
        return -heap[0] if heap else None

    def best_ask(self) -> float | None:
        heap, levels = self._ah, self.asks
        while heap and heap[0] not in levels:
            heapq.heappop(heap)
        return heap[0] if heap else None

    def walk(self, ask: bool, limit: float) -> list[tuple[float, float]]:
        """Levels a taker buying (ask=True) or selling could take up to `limit`, best first."""
        if ask:
            return sorted((px, q) for px, q in self.asks.items() if px <= limit and q > 0)
        return sorted(((px, q) for px, q in self.bids.items() if px >= limit and q > 0), reverse=True)
