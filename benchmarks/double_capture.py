"""A Binance raw L2 capture twice as long as the real one: the real files, then a time-shifted copy.

The issue's memory target is "peak RSS under 250 MB and the same for a replay twice as long", and
no longer real capture exists. `double_capture` writes into a folder the real files unchanged, then
one more file (gzip, `<recv_ns> <json>` lines like the originals) holding every line of them again
except the REST snapshot: depth diffs, trades and book tickers, in their order, with

- every time shifted by the capture's duration plus one diff interval (the median gap between two
  depth diffs): the leading receive stamp (ns) and the `E` / `T` fields (ms), so the copy's first
  event comes one interval after the original's last;
- every update id (`U`, `u`, `pu`; a book ticker's `u`) shifted so that the copy's first diff's
  `pu` is the original's last `u`: the depth sequence continues without a break;
- trade ids (`t`) shifted so that they continue after the original's last one (the reader does not
  check them; shifted for consistency).

Prices and sizes are the recorded ones, with one addition. The copy continues the book the
original left behind (the capture has one snapshot; a continuation file has none), and it starts
where the original started, not where it ended: BTC fell from 63944 to 63867 over the 8 minutes,
so the end book's asks from 63867.5 up would sit under the copy's bids, a book crossed on 67% of
the copy's rows. The copy's first depth diff therefore first carries the levels that turn the
original's final book back into its snapshot (every level the snapshot lacks deleted, every
snapshot level at its size; `rebase_book=False` leaves them out). From the diff that spans the
snapshot's `lastUpdateId` on, the copy's book is the original's (the touch at every copied print is
the original's; tests/test_double_capture.py). On the BTC capture that is 11,375 more level events:
814,821 in all, 2.02 x the original's 402,587. A synthetic stream for measuring time and memory, not
market data.

    PYTHONPATH=. python benchmarks/double_capture.py OUT_DIR FILE...   # prints the written paths
"""
from __future__ import annotations

import gzip
import json
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence


@dataclass
class Shift:
    ms: int             # added to `E` / `T`
    ns: int             # added to the receive stamp (ms * 1e6)
    update_id: int      # added to `U` / `u` / `pu`
    trade_id: int       # added to `t`
    # Levels the copy's first diff carries before its own, [px, qty] as recorded text (see
    # `double_capture`): they turn the book the original ends with back into its snapshot.
    rebase_bids: list[list[str]] = field(default_factory=list)
    rebase_asks: list[list[str]] = field(default_factory=list)


def _lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _split(line: bytes) -> tuple[int, dict]:
    stamp, body = line.split(b" ", 1)
    return int(stamp), json.loads(body)


def _is_snapshot(doc: dict) -> bool:
    return "lastUpdateId" in doc


def _rebase(end: dict[float, list[str]], snap: dict[float, list[str]]) -> list[list[str]]:
    """Levels that turn the `end` side into the `snap` side: deletions, then changed sizes."""
    gone = [[text[0], "0"] for px, text in sorted(end.items()) if px not in snap]
    changed = [text for px, text in sorted(snap.items()) if end.get(px, [None, None])[1] != text[1]]
    return gone + changed


def shift_for(paths: Sequence[Path]) -> Shift:
    """The shift that makes the copy continue the capture in `paths` (times and ids), and the levels
    that bring its final book back to its snapshot. The book follows the reader's sync rules
    (readers.py `_binance_depth`): diffs before the snapshot and older than it are dropped."""
    last_ms = first_ms = None
    first_pu = last_u = first_t = last_t = None
    diff_times: list[int] = []
    book: tuple[dict[float, list[str]], dict[float, list[str]]] = ({}, {})
    snap_book: tuple[dict[float, list[str]], dict[float, list[str]]] | None = None
    snapshot_id = synced = None
    for path in paths:
        for line in _lines(path):
            _, doc = _split(line)
            data = doc if _is_snapshot(doc) else doc["data"]
            times = [data[k] for k in ("E", "T") if k in data]
            last_ms = max([last_ms, *times]) if last_ms is not None else max(times)
            if _is_snapshot(doc):
                if snap_book is None:
                    snap_book = ({float(p): [p, q] for p, q in data["bids"]}, {float(p): [p, q] for p, q in data["asks"]})
                snapshot_id, synced = data["lastUpdateId"], False
                book = ({float(p): [p, q] for p, q in data["bids"]}, {float(p): [p, q] for p, q in data["asks"]})
                continue
            first_ms = min([first_ms, *times]) if first_ms is not None else min(times)
            if "pu" in data:                                    # a depth diff
                first_pu = data["pu"] if first_pu is None else first_pu
                last_u = data["u"]
                diff_times.append(data["T"])
                if snapshot_id is not None and (synced or data["u"] >= snapshot_id):
                    synced = True
                    for side, levels in ((0, data["b"]), (1, data["a"])):
                        for p, q in levels:
                            if float(q) > 0:
                                book[side][float(p)] = [p, q]
                            else:
                                book[side].pop(float(p), None)
            elif "t" in data:                                   # a trade
                first_t = data["t"] if first_t is None else first_t
                last_t = data["t"]
    if first_ms is None or first_pu is None or last_u is None:
        raise ValueError(f"{', '.join(map(str, paths))}: no depth diffs to copy")
    steps = [b - a for a, b in zip(diff_times, diff_times[1:]) if b > a]
    interval = int(statistics.median(steps)) if steps else 1
    ms = last_ms - first_ms + interval
    shift = Shift(ms=ms, ns=ms * 1_000_000, update_id=last_u - first_pu,
                  trade_id=(last_t - first_t + 1) if first_t is not None else 0)
    if snap_book is not None:
        shift.rebase_bids = _rebase(book[0], snap_book[0])
        shift.rebase_asks = _rebase(book[1], snap_book[1])
    return shift


def shifted_line(line: bytes, shift: Shift, rebase: bool = False) -> bytes | None:
    """The line moved by `shift`; None for the REST snapshot (not copied). `rebase`: a depth diff
    carries `shift`'s rebase levels before its own."""
    stamp, doc = _split(line)
    if _is_snapshot(doc):
        return None
    data = doc["data"]
    for key in ("E", "T"):
        if key in data:
            data[key] += shift.ms
    if "pu" in data:                                            # depth diff
        for key in ("U", "u", "pu"):
            data[key] += shift.update_id
        if rebase:
            data["b"] = shift.rebase_bids + data["b"]
            data["a"] = shift.rebase_asks + data["a"]
    elif "t" in data:                                           # trade
        data["t"] += shift.trade_id
    elif "u" in data:                                           # book ticker
        data["u"] += shift.update_id
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%d %s" % (stamp + shift.ns, body)


def double_capture(paths: Sequence[Path], out_dir: Path, rebase_book: bool = True) -> list[Path]:
    """The real files copied into `out_dir`, then the shifted copy of them; the three paths.
    `rebase_book`: the copy's first depth diff first carries the levels that turn the original's
    final book back into its snapshot (see the module's docstring)."""
    paths = [Path(p) for p in paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        target = out_dir / path.name
        shutil.copyfile(path, target)
        written.append(target)
    shift = shift_for(paths)
    copy = out_dir / (paths[-1].name.split(".", 1)[0] + "_shifted_copy.ndjson.gz")
    # mtime=0: the same inputs give the same bytes (the replay cache is keyed by content).
    with open(copy, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
        rebase = rebase_book
        for path in paths:
            for line in _lines(path):
                moved = shifted_line(line, shift, rebase=rebase and b'"pu":' in line)
                if moved is not None:
                    rebase = rebase and b'"pu":' not in line
                    out.write(moved + b"\n")
    written.append(copy)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.rsplit("\n\n", 1)[-1].strip())
    for written_path in double_capture([Path(p) for p in sys.argv[2:]], Path(sys.argv[1])):
        print(written_path)
