"""The fills ledger: every fill and funding payment, append-only JSON lines, on disk before it counts.

The core hands its `fill` and `funding` trace records to this sink (teed beside the decision
trace); the ledger adds what an analyst needs beside them (market, the mid at the fill, the
policy-set version) and keeps them pending in memory. `flush()` runs at the end of every tick
(runtime/service/cli.py), so a fill waits at most until the end of the tick that booked it
(`runtime.tick_interval_s`, 0.25 s by default, plus the fsync) before it is written, flushed and
fsynced in one batch.

- Rotation: a batch that would take the live file past `rotate_mb` goes on in a new file, line
  by line, so nothing is lost or split. Each new file opens with a `checkpoint` record (the FIFO
  lots and realized PnL of everything written before it), so a restart rebuilds PnL from the
  files kept even after the oldest are dropped. Rotated files are kept while they were written
  within `window_hours` (the seed's 6 h window), never more than `max_files`.
- A torn last line (a crash in the middle of a write) is skipped by every reader with a warning
  naming file:line, and the writer starts its next record on a fresh line, never glued to it.
- A write that fails (full disk, permissions) is undone (the file truncated back), the batch
  stays pending in memory, `failure` names the reason (the service holds the risk gate in
  REDUCING and /health answers 503), and every later flush retries until it succeeds.

Secrets never reach this file: only the fields listed in `_FILL_FIELDS` are copied.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.pnl import FifoPosition

log = logging.getLogger("lighter_bot.ledger")

LEDGER_VERSION = 1
# Trade ids carried in each checkpoint, so a venue replaying recent fills after a restart is a duplicate.
CHECKPOINT_TRADE_IDS = 2000
_FILL_FIELDS = ("ts", "side", "price", "size", "fee", "liquidity", "trade_id", "client_id", "purpose", "seq",
                "decision")
_FUNDING_FIELDS = ("ts", "amount", "rate", "seq")


class LedgerError(Exception):
    """A ledger file cannot be read (missing, unreadable); the message names the path."""


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def ledger_files(path: Path) -> list[Path]:
    """The ledger's files, oldest first: path.N ... path.1, then path itself (if it is a file)."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1:]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.is_file():          # a regular file only: a device (/dev/full) has nothing to read
        files.append(path)
    return files


@dataclass
class Problem:
    """A line a reader skipped: where, and why."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def read_records(path: Path, problems: list[Problem] | None = None) -> Iterator[tuple[Path, int, dict]]:
    """Every record of the ledger at `path` (rotated files first), with file and line.

    A line that is not a JSON object is skipped and appended to `problems` (a torn last line is
    named as such); it is never joined with the next line."""
    for file in ledger_files(path):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise LedgerError(f"{file}: cannot read: {exc.strerror or exc}") from None
        lines = data.split(b"\n")
        torn_tail = not data.endswith(b"\n") and data != b""
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            last = number == len(lines)
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or not isinstance(record.get("type"), str):
                    raise ValueError("not a ledger record (expected a JSON object with a type)")
            except (ValueError, UnicodeDecodeError) as exc:
                reason = ("torn last line (a write cut short by a crash), skipped" if last and torn_tail
                          else f"{exc}, skipped")
                if problems is not None:
                    problems.append(Problem(file, number, reason))
                continue
            yield file, number, record


@dataclass
class LedgerState:
    """What a ledger says about one market: the FIFO position, realized PnL, what it has seen."""

    fifo: FifoPosition = field(default_factory=FifoPosition)
    trade_ids: list[str] = field(default_factory=list)
    funding_seqs: list[int] = field(default_factory=list)
    fills: int = 0
    fundings: int = 0
    last_ts: float = 0.0
    _seen: set[str] = field(default_factory=set)

    def apply(self, record: dict) -> None:
        """Fold one ledger record in (fills de-duplicated by trade id, funding by seq)."""
        kind = record["type"]
        if kind == "checkpoint":
            self.fifo.restore([tuple(lot) for lot in record["lots"]], float(record["realized_quote"]))
            for trade_id in record.get("trade_ids", []):
                if trade_id not in self._seen:
                    self._seen.add(trade_id)
                    self.trade_ids.append(trade_id)
            self.funding_seqs = list(dict.fromkeys(self.funding_seqs + list(record.get("funding_seqs", []))))
        elif kind == "fill":
            trade_id = record.get("trade_id") or ""
            if trade_id:
                if trade_id in self._seen:
                    return
                self._seen.add(trade_id)
                self.trade_ids.append(trade_id)
            self.fifo.apply(record["side"], float(record["price"]), float(record["size"]), float(record.get("fee", 0)))
            self.fills += 1
            self.last_ts = max(self.last_ts, float(record["ts"]))
            self._agree(record)
        elif kind == "funding":
            seq = int(record.get("seq") or 0)
            if seq:
                if seq in self.funding_seqs:
                    return
                self.funding_seqs.append(seq)
            self.fifo.add_realized(float(record["amount"]))
            self.fundings += 1
            self.last_ts = max(self.last_ts, float(record["ts"]))
            self._agree(record)
        elif kind == "position":
            self._agree(record)

    def _agree(self, record: dict) -> None:
        """The live book's state right after this record wins over the replay where they differ:
        a venue correction, or a fill the venue's snapshot had already counted ("covered")."""
        units, entry_price, realized = (record.get(k) for k in ("position_units", "entry_price", "realized_quote"))
        if units is None or realized is None:
            return      # written without the book (an import, a replay): the replay is the record
        if abs(float(units) - self.fifo.units) > 1e-9:
            self.fifo.restore([(float(units), float(entry_price or 0.0))], float(realized))
        elif abs(float(realized) - self.fifo.realized_total) > 1e-9:
            self.fifo.restore(self.fifo.lots, float(realized))

    def checkpoint(self, ts: float, market: str, market_id: int, venue: str | None = None) -> dict:
        return {"type": "checkpoint", "v": LEDGER_VERSION, "ts": ts, "market": market, "market_id": market_id,
                **({"venue": venue} if venue else {}),
                "realized_quote": self.fifo.realized_total, "lots": [list(lot) for lot in self.fifo.lots],
                "trade_ids": self.trade_ids[-CHECKPOINT_TRADE_IDS:], "funding_seqs": self.funding_seqs[-1000:]}


def rebuild(path: Path, market_id: int | None, problems: list[Problem] | None = None,
            venue: str | None = None) -> LedgerState:
    """The state the ledger at `path` records for `market_id` on `venue` (None: every record).

    A paper rehearsal and the live bot on the same market may share a ledger file; a live restart
    must not inherit the rehearsal's position and PnL, so records are told apart by venue (records
    written before the field existed count for every venue)."""
    state = LedgerState()
    for _, _, record in read_records(path, problems):
        if market_id is not None and record.get("market_id") != market_id:
            continue
        if venue is not None and record.get("venue", venue) != venue:
            continue
        try:
            state.apply(record)
        except (KeyError, TypeError, ValueError) as exc:
            if problems is not None:
                problems.append(Problem(path, 0, f"record {record.get('type')}: bad field {exc}, skipped"))
    return state


class FillsLedger:
    """A `runtime.trace.TraceSink` keeping fill and funding records; `flush()` puts them on disk."""

    def __init__(self, path: Path | str, *, market: str, market_id: int, rotate_bytes: int = 5 * 1024 * 1024,
                 window_s: float = 6 * 3600.0, max_files: int = 200,
                 wall_clock: Callable[[], float] = time.time, venue: str | None = None):
        self.path = Path(path)
        self.market, self.market_id, self.venue = market, market_id, venue
        self.rotate_bytes, self.window_s, self.max_files = rotate_bytes, window_s, max_files
        self._wall = wall_clock
        self.mid: Callable[[], float] = lambda: 0.0
        self.policy_version: Callable[[], str] = lambda: ""
        self.book: Callable[[], tuple[float, float, float]] | None = None
        self.pending: deque[dict] = deque()
        self.failure = ""                 # why the last flush failed ("" while writes succeed)
        self.written_total = 0            # records on disk (this process)
        self.failures_total = 0
        self.rotations_total = 0
        self.fills_by: dict[tuple[str, str], int] = {}     # (side, liquidity) -> fills recorded
        self.write_seconds: list[float] = []               # durations of flushes since last taken
        self._fd: int | None = None
        self._size = 0
        self.problems: list[Problem] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.state = rebuild(self.path, market_id, self.problems, venue)
        for problem in self.problems:
            log.warning("fills ledger: %s", problem)
        try:
            self._open()
        except OSError as exc:      # e.g. permissions: the bot starts reduce-only and keeps trying
            self._fail(exc)

    def bind(self, mid: Callable[[], float], policy_version: Callable[[], str],
             book: Callable[[], tuple[float, float, float]] | None = None) -> None:
        """Where the ledger reads the mid at a fill, the live policy version and the position book
        ((units, average entry, realized PnL) right after the record's event) -- the Trader's."""
        self.mid, self.policy_version, self.book = mid, policy_version, book

    def _book_fields(self, entry: dict) -> None:
        if self.book is not None:
            units, entry_price, realized = self.book()
            entry["position_units"] = _finite(units)
            entry["entry_price"] = _finite(entry_price)
            entry["realized_quote"] = _finite(realized)

    # -- as a trace sink ---------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> None:
        kind = record.get("type")
        if kind == "fill":
            entry = {"type": "fill", "v": LEDGER_VERSION, "market": self.market, "market_id": self.market_id,
                     **({"venue": self.venue} if self.venue else {})}
            entry.update((k, _finite(record.get(k))) for k in _FILL_FIELDS)
            entry["mid"] = _finite(self.mid())
            entry["policy_version"] = self.policy_version()
            self._book_fields(entry)
            key = (str(record.get("side")), str(record.get("liquidity")))
            self.fills_by[key] = self.fills_by.get(key, 0) + 1
        elif kind == "funding":
            entry = {"type": "funding", "v": LEDGER_VERSION, "market": self.market, "market_id": self.market_id,
                     **({"venue": self.venue} if self.venue else {})}
            entry.update((k, _finite(record.get(k))) for k in _FUNDING_FIELDS)
            self._book_fields(entry)
        elif kind == "position_corrected" and self.book is not None:
            # The venue's truth replaced our position (runtime/position.py): recorded so a rebuild
            # ends where the live book did.
            entry = {"type": "position", "v": LEDGER_VERSION, "market": self.market, "market_id": self.market_id,
                     **({"venue": self.venue} if self.venue else {}),
                     "ts": _finite(record.get("ts")), "reason": record.get("reason"),
                     "venue_units": _finite(record.get("venue_units"))}
            self._book_fields(entry)
        else:
            return
        self.pending.append(entry)

    # -- on disk -----------------------------------------------------------------------------------
    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._size == 0 and len(ledger_files(self.path)) > 1:
            # A fresh file after a rotation (or a crash right after one) opens with what came before.
            line = json.dumps(self.state.checkpoint(self._wall(), self.market, self.market_id, self.venue),
                              separators=(",", ":")) + "\n"
            self._write_all(line.encode())
            return
        if self._size and not self._ends_with_newline():
            # A torn line from a crash: the next record starts on a fresh line (readers skip the tear).
            log.warning("fills ledger: %s ends with a torn line; it is skipped, and appending starts on a new line",
                        self.path)
            self._write_all(b"\n")

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def flush(self) -> bool:
        """Write, flush and fsync every pending record; True when nothing is left pending.
        After a failure, every call retries (reopening the file) even with nothing pending."""
        if not self.pending and not self.failure:
            return True
        started = time.perf_counter()
        try:
            if self._fd is None:
                self._open()
            self._write_batch()
        except OSError as exc:
            self._fail(exc)
            return False
        finally:
            self.write_seconds.append(time.perf_counter() - started)
        if self.failure:
            log.warning("fills ledger writable again: %s; every held record written", self.path)
            self.failure = ""
        return True

    def _write_batch(self) -> None:
        chunk: list[bytes] = []
        chunk_records: list[dict] = []
        size = self._size
        for record in list(self.pending):
            line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
            if size + len(line) > self.rotate_bytes and size > 0:
                self._commit(chunk, chunk_records)
                chunk, chunk_records = [], []
                self._rotate()
                size = self._size
            chunk.append(line)
            chunk_records.append(record)
            size += len(line)
        self._commit(chunk, chunk_records)

    def _commit(self, lines: list[bytes], records: list[dict]) -> None:
        """Put `lines` on disk (all or, after an error, none) and only then count them written."""
        if not lines:
            return
        before = self._size
        try:
            self._write_all(b"".join(lines))
            os.fsync(self._fd)
        except OSError:
            self._size = before
            try:
                os.ftruncate(self._fd, before)     # no half-written record left behind to glue onto
            except OSError:
                pass
            raise
        for record in records:
            self.state.apply(record)
            self.pending.popleft()
        self.written_total += len(records)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = None
        files = ledger_files(self.path)[:-1]        # rotated ones, oldest first
        for number in range(len(files), 0, -1):
            src = self.path.with_name(f"{self.path.name}.{number}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self.rotations_total += 1
        self._prune()
        self._open()            # a new file, opened by a checkpoint

    def _prune(self) -> None:
        """Drop rotated files written before the window, and any beyond `max_files`."""
        horizon = self._wall() - self.window_s
        rotated = ledger_files(self.path)
        rotated = [p for p in rotated if p != self.path]     # oldest first
        for index, file in enumerate(rotated):
            beyond_count = len(rotated) - index >= self.max_files
            try:
                old = file.stat().st_mtime < horizon
            except OSError:
                continue
            if old or beyond_count:
                file.unlink(missing_ok=True)

    def _fail(self, exc: OSError) -> None:
        reason = f"fills ledger {self.path} cannot be written: {exc.strerror or exc}"
        if reason != self.failure:
            log.error("%s; holding %d records in memory, trading reduce-only until it can", reason,
                      len(self.pending))
        self.failure = reason
        self.failures_total += 1
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None       # reopened on the next try (the file may have been replaced)

    def take_write_seconds(self) -> list[float]:
        out, self.write_seconds = self.write_seconds, []
        return out

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
