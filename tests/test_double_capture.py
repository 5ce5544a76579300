"""benchmarks/double_capture.py: the "twice as long" capture of the replay benchmark is a stream the
reader accepts whole (no sequence gap, also across the seam), with every event again, later.

Runs on the committed Binance raw fixture (the head of the real capture, with its snapshot), and
on the real capture's first file when the shared data is present (skipped, saying so, otherwise).
"""
from __future__ import annotations

import gzip
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adapters.replay.cache import load
from adapters.replay.columns import CLEAR, GAP, TRADE
from adapters.replay.readers import read
from adapters.replay.touch import touch_columns

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import double_capture  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "replay" / "btcusdt_binance-usdm_raw_head.ndjson.gz"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))
SHARED_FIRST = SHARED / "l2_binance_raw" / "BTCUSDT_binance-usdm_raw_20240718.ndjson.gz"


def _source(which: str) -> Path:
    if which == "fixture":
        return FIXTURE
    if not SHARED_FIRST.is_file():
        pytest.skip(f"shared data absent: {SHARED_FIRST} (set LIGHTER_BOT_SHARED_DATA)")
    return SHARED_FIRST


def _diff_levels(path: Path) -> int:
    """Levels in every depth diff of the file (before the snapshot too: the copy keeps them)."""
    total = 0
    for line in gzip.decompress(path.read_bytes()).splitlines():
        doc = json.loads(line.split(b" ", 1)[1])
        if "lastUpdateId" not in doc and "pu" in doc["data"]:
            total += len(doc["data"]["b"]) + len(doc["data"]["a"])
    return total


@pytest.mark.parametrize("which", ["fixture", "shared"])
def test_the_doubled_capture_continues_the_stream_without_a_gap(which, tmp_path):
    source = _source(which)
    original_file, copy_file = double_capture.double_capture([source], tmp_path / "double")
    assert original_file.read_bytes() == source.read_bytes()
    assert copy_file.read_bytes()[:2] == b"\x1f\x8b"

    original, _ = load(original_file, cache_dir=tmp_path / "cache")
    copy, _ = load(copy_file, cache_dir=tmp_path / "cache")
    assert (copy.format, original.gaps, copy.gaps) == ("binance-depth", [], [])

    # The reader checks `pu` against the previous `u` within a file: read as one file, the copy
    # must continue the original's sequence (a copy whose ids were not shifted breaks it).
    raw = gzip.decompress(original_file.read_bytes()) + gzip.decompress(copy_file.read_bytes())
    joined, gaps = read(tmp_path / "joined", raw, "binance-depth")
    assert gaps == [] and GAP not in joined.kind
    assert len(joined) == len(original.events) + len(copy.events)
    shift = double_capture.shift_for([source])
    unshifted = b"".join(double_capture.shifted_line(line, replace(shift, update_id=0)) + b"\n"
                         for line in gzip.decompress(source.read_bytes()).splitlines()[20:40])
    assert read(tmp_path / "broken", raw + unshifted, "binance-depth")[1], "an unshifted copy must be a gap"

    # Every event again: each trade, each level of each diff, plus the levels that rebase the book.
    o, c = original.events, copy.events
    assert np.count_nonzero(c.kind == TRADE) == np.count_nonzero(o.kind == TRADE) > 0
    assert CLEAR not in c.kind                                 # no snapshot in the copy
    rebase = len(shift.rebase_bids) + len(shift.rebase_asks)
    assert copy.levels == _diff_levels(source) + rebase
    assert np.array_equal(c.px[c.kind == TRADE], o.px[o.kind == TRADE])

    # Later: every copied time after the original's last, shifted by the capture's duration plus
    # one diff interval (so the first copied event is that interval after the last original one).
    assert c.ts.min() > o.ts.max()
    assert 0 < c.ts.min() - o.ts.max() <= 0.5
    assert np.allclose(c.ts[c.kind == TRADE] - o.ts[o.kind == TRADE], shift.ms / 1000.0)
    stamps = [int(line.split(b" ", 1)[0]) for line in raw.splitlines()]
    assert stamps == sorted(stamps)                            # receive stamps still in order

    # With the rebase levels, the copy's touch at every print is the original's (the book is not
    # left crossed by the end-of-capture levels).
    merged = type(o)(*(np.concatenate([getattr(o, f), getattr(c, f)]) for f in ("ts", "kind", "px", "qty", "aux")))
    touch = touch_columns(merged)
    first, second = np.nonzero(o.kind == TRADE)[0], len(o) + np.nonzero(c.kind == TRADE)[0]
    for column in (touch.bid_px, touch.bid_qty, touch.ask_px, touch.ask_qty):
        assert np.array_equal(column[first], column[second], equal_nan=True)


def test_the_copy_is_the_same_bytes_each_time(tmp_path):
    one = double_capture.double_capture([FIXTURE], tmp_path / "a")[-1].read_bytes()
    two = double_capture.double_capture([FIXTURE], tmp_path / "b")[-1].read_bytes()
    assert one == two
