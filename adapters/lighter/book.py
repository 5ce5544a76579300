"""The public order book of one market, kept from `order_book` snapshots and updates.

Lighter has sent two frame formats (reference §9.4), and the gap check depends on which one
arrives: when `order_book.begin_nonce` is present (current server) an update must start at
the previous frame's `nonce`; when it is absent (the December 2025 recording) its `offset`
must be the previous offset + 1. `nonce` alone is never contiguous. On a gap the book is
dropped and `apply` says so; the venue then pulls quotes, resubscribes and waits for a snapshot.
Updates before the first snapshot are discarded.

Levels are keyed by integer ticks and sizes kept in integer lots, so "92835.90" and
"92835.9" are one level and a zero size deletes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from adapters.lighter.messages import Level, OrderBookFrame, units


class BookResult(Enum):
    APPLIED = "applied"
    IGNORED = "ignored"        # an update before any snapshot (discarded, as the reference says)
    GAP = "gap"                # a missed update: the book is dropped until the next snapshot
    CROSSED = "crossed"        # best bid >= best ask after applying: treated as a gap


@dataclass(frozen=True, slots=True)
class Touch:
    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int


class OrderBook:
    def __init__(self, price_decimals: int, size_decimals: int) -> None:
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.synced = False
        self.nonce = 0
        self.offset = 0
        self.gaps_total = 0
        self.updates_total = 0

    def apply(self, frame: OrderBookFrame) -> BookResult:
        body = frame.order_book
        if frame.is_snapshot:
            self.bids.clear()
            self.asks.clear()
        elif not self.synced:
            return BookResult.IGNORED
        else:
            chained = body.begin_nonce == self.nonce if body.begin_nonce is not None else \
                body.offset == self.offset + 1
            if not chained:
                return self._gap()
        self._levels(self.bids, body.bids)
        self._levels(self.asks, body.asks)
        self.nonce, self.offset = body.nonce, body.offset
        self.synced = True
        self.updates_total += 1
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            return self._gap(BookResult.CROSSED)
        return BookResult.APPLIED

    def touch(self) -> Touch | None:
        if not (self.synced and self.bids and self.asks):
            return None
        bid, ask = max(self.bids), min(self.asks)
        return Touch(bid, self.bids[bid], ask, self.asks[ask])

    def desync(self) -> None:
        """Forget the book (a reconnect or a resubscribe): the next snapshot rebuilds it."""
        self.synced = False
        self.bids.clear()
        self.asks.clear()

    def _gap(self, result: BookResult = BookResult.GAP) -> BookResult:
        self.gaps_total += 1
        self.desync()
        return result

    def _levels(self, side: dict[int, int], levels: list[Level]) -> None:
        for level in levels:
            ticks = units(level.price, self.price_decimals)
            lots = units(level.size, self.size_decimals)
            if lots:
                side[ticks] = lots
            else:
                side.pop(ticks, None)
