"""The touch after every row of a full-depth replay, computed once and cached.

Building the book row by row is the replay's most expensive part, and only the touch of it
reaches the core. `touch_columns` walks the merged events once (the book must continue across
files: a capture's continuation file has no snapshot of its own) and keeps, for each row, the
best bid and ask with their sizes and the index of the last row that changed any of the four.
The replay venue then moves the full book with bulk dict updates and visits one by one only the
rows that matter to our orders (prints, rows at our prices, rows where the touch reaches them).
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapters.replay.book import Book
from adapters.replay.columns import CLEAR, DEPTH, EventArrays

TOUCH_VERSION = 1


@dataclass
class Touch:
    bid_px: np.ndarray      # NaN: that side is empty
    bid_qty: np.ndarray
    ask_px: np.ndarray
    ask_qty: np.ndarray
    changed_at: np.ndarray  # int64: the last row (<= this one) that changed the touch, -1 before any


def touch_columns(events: EventArrays) -> Touch:
    # Read through memoryviews and written into typed arrays: no Python object per row is kept
    # (lists here peaked at 150 MiB on a 16-minute L2 capture, benchmarks/replay_throughput.py).
    kinds, pxs, qtys, auxs = (memoryview(np.ascontiguousarray(c)) for c in (events.kind, events.px, events.qty, events.aux))
    n = len(kinds)
    bp, bq, ap, aq = array("d", [math.nan]) * n, array("d", [0.0]) * n, array("d", [math.nan]) * n, array("d", [0.0]) * n
    changed = array("q", [-1]) * n
    book = Book()
    bids, asks = book.bids, book.asks
    bb, ba = -math.inf, math.inf
    last = -1
    top = (bb, 0.0, ba, 0.0)
    for i in range(n):
        kind = kinds[i]
        if kind == DEPTH:
            px = pxs[i]
            if auxs[i] == 1.0:
                book.set(True, px, qtys[i])
                if px <= ba:
                    ba = book.best_ask() or math.inf
            else:
                book.set(False, px, qtys[i])
                if px >= bb:
                    bb = book.best_bid() or -math.inf
        elif kind == CLEAR:
            book.clear()
            bb, ba = -math.inf, math.inf
        now = (bb, bids.get(bb, 0.0), ba, asks.get(ba, 0.0))
        if now != top:
            top = now
            last = i
        changed[i] = last
        if bb != -math.inf:
            bp[i], bq[i] = bb, now[1]
        if ba != math.inf:
            ap[i], aq[i] = ba, now[3]
    return Touch(np.frombuffer(bp, dtype=np.float64), np.frombuffer(bq, dtype=np.float64),
                 np.frombuffer(ap, dtype=np.float64), np.frombuffer(aq, dtype=np.float64),
                 np.frombuffer(changed, dtype=np.int64))


def cached_touch(events: EventArrays, key_parts: list[str], cache_dir: Path) -> Touch:
    """`touch_columns`, read from `cache_dir` when these inputs were replayed before."""
    key = hashlib.sha256("|".join(key_parts + [str(len(events)), f"v{TOUCH_VERSION}"]).encode()).hexdigest()[:32]
    file = cache_dir / f"touch-{key}.npz"
    if file.is_file():
        try:
            with np.load(file, allow_pickle=False) as npz:
                touch = Touch(npz["bp"], npz["bq"], npz["ap"], npz["aq"], npz["ch"])
            if len(touch.bid_px) == len(events):
                return touch
        except (OSError, ValueError, KeyError):
            pass
    touch = touch_columns(events)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as stream:
            np.savez(stream, bp=touch.bid_px, bq=touch.bid_qty, ap=touch.ask_px, aq=touch.ask_qty, ch=touch.changed_at)
        os.replace(tmp, file)
    except OSError:
        pass
    return touch
