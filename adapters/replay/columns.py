"""The replay's columnar event array: every input format is converted into this once.

One row per market-data event, five numpy columns (hftbacktest's `event_dtype` idea, kept
to what the replay needs):

    ts    float64  exchange time, epoch seconds
    kind  uint8    one of the kinds below
    px    float64  price (GAP: the gap's length in seconds)
    qty   float64  size in base units (0 deletes a DEPTH level)
    aux   float64  DEPTH/BBO: 0 bid, 1 ask; TRADE/KLINE: +1 taker bought, -1 taker sold

Kinds:
    CLEAR   the book is reset (a snapshot follows as DEPTH rows)
    DEPTH   one price level's new total size (L2 diff or snapshot level)
    BBO     the touch on one side: that level's size, and every better level is gone
    TRADE   a public print
    KLINE   one point of a bar's stated intrabar path (see fills.py): `qty` is the bar's volume
            share for that point
    GAP     the data stops here for `px` seconds (a missing stretch or a broken sequence)
    RESUME  the data is whole again
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CLEAR, DEPTH, BBO, TRADE, KLINE, GAP, RESUME = 1, 2, 3, 4, 5, 6, 7
KIND_NAMES = {CLEAR: "clear", DEPTH: "depth", BBO: "bbo", TRADE: "trade", KLINE: "kline", GAP: "gap",
              RESUME: "resume"}
BID, ASK = 0.0, 1.0


@dataclass
class Columns:
    """A growable builder of the five columns (python lists, turned into arrays once)."""

    ts: list[float] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    px: list[float] = field(default_factory=list)
    qty: list[float] = field(default_factory=list)
    aux: list[float] = field(default_factory=list)

    def add(self, ts: float, kind: int, px: float, qty: float, aux: float) -> None:
        self.ts.append(ts)
        self.kind.append(kind)
        self.px.append(px)
        self.qty.append(qty)
        self.aux.append(aux)

    def __len__(self) -> int:
        return len(self.ts)

    def arrays(self) -> "EventArrays":
        return EventArrays(np.asarray(self.ts, dtype=np.float64), np.asarray(self.kind, dtype=np.uint8),
                           np.asarray(self.px, dtype=np.float64), np.asarray(self.qty, dtype=np.float64),
                           np.asarray(self.aux, dtype=np.float64))


@dataclass
class EventArrays:
    ts: np.ndarray
    kind: np.ndarray
    px: np.ndarray
    qty: np.ndarray
    aux: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def sorted_stable(self) -> "EventArrays":
        """Rows in time order; rows with equal times keep their order (a snapshot stays whole)."""
        if len(self.ts) < 2 or bool(np.all(self.ts[1:] >= self.ts[:-1])):
            return self
        order = np.argsort(self.ts, kind="stable")
        return EventArrays(self.ts[order], self.kind[order], self.px[order], self.qty[order], self.aux[order])

    def window(self, start: float | None, end: float | None) -> "EventArrays":
        lo = 0 if start is None else int(np.searchsorted(self.ts, start, side="left"))
        hi = len(self.ts) if end is None else int(np.searchsorted(self.ts, end, side="right"))
        return EventArrays(self.ts[lo:hi], self.kind[lo:hi], self.px[lo:hi], self.qty[lo:hi], self.aux[lo:hi])

    @staticmethod
    def concat(parts: list["EventArrays"]) -> "EventArrays":
        if len(parts) == 1:
            return parts[0]
        merged = EventArrays(*(np.concatenate([getattr(p, name) for p in parts])
                               for name in ("ts", "kind", "px", "qty", "aux")))
        return merged.sorted_stable()


@dataclass
class Gap:
    """A stretch the data does not cover, or a broken sequence, located in its file."""

    start_ts: float
    seconds: float
    where: str          # file:line or byte offset
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"start_ts": round(self.start_ts, 3), "seconds": round(self.seconds, 3), "where": self.where,
                "why": self.why}


@dataclass
class Dataset:
    """One converted file: its events and what the report says about it."""

    path: str
    sha256: str
    format: str
    events: EventArrays
    gaps: list[Gap]
    levels: int            # price-level events (DEPTH + BBO rows), the benchmark's unit

    @property
    def start_ts(self) -> float:
        return float(self.events.ts[0]) if len(self.events) else 0.0

    @property
    def end_ts(self) -> float:
        return float(self.events.ts[-1]) if len(self.events) else 0.0
