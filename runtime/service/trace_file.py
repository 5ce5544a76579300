"""The decision trace on disk: JSON lines, written once per tick, rotated at a size limit.

`write` only keeps the record; `flush` serializes what was kept and writes it in one
go. The driver loop (runtime/service/loop.py) flushes after each tick's intents went to
the venue, so the trace's JSON encoding and file I/O stay off the events -> intents
path, and at shutdown; `close` flushes what is left. A process killed outright loses at
most the records of the tick in progress; an error in the loop still flushes them.

Rotated at `max_bytes` (the seed's ledger used 5 MB), keeping KEEP_ROTATED old files,
so a bot left running for weeks cannot fill its disk with traces.

A trace that cannot be written (a full disk, a revoked permission) never stops trading:
the failure is counted (`write_errors_total`, exported as a metric) and logged once a
minute, the records wait in memory (at most MAX_PENDING, oldest dropped and counted) and
go out with the next write that succeeds. A line torn by a crash or a failed write is
ended before the next record, never glued to it.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("lighter_bot.trace")

# Rotated files kept next to the live one (decisions.jsonl.1 ... .N), oldest dropped.
KEEP_ROTATED = 5
# Records kept while the file cannot be written; beyond, the oldest are dropped (and counted).
MAX_PENDING = 100_000
ERROR_LOG_EVERY_S = 60.0

_encode = json.JSONEncoder(separators=(",", ":")).encode
# The same encoding, refusing inf/nan instead of writing them (then the record is cleaned first).
_encode_finite = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _clean(value: Any) -> Any:
    """JSON has no inf/nan; write them as strings rather than produce an unreadable line."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JsonlFileSink:
    """A `runtime.trace.TraceSink` appending one JSON line per record. Records are kept in
    memory until `flush()` (once per tick, by the service's loop) or `close()`."""

    def __init__(self, path: Path | str, max_bytes: int = 5 * 1024 * 1024):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._file: IO[str] | None = None
        self._size = 0
        self._pending: list[dict[str, Any]] = []
        self._torn = False              # the last write may have stopped mid-line
        self.write_errors_total = 0
        self.dropped_total = 0
        self._error_logged_at = -math.inf
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self._file = self.path.open("a", buffering=1)
        self._size = self._file.tell()
        if self._size and not self._ends_with_newline():
            log.warning("%s: the last line was torn (a crash mid-write); it is ended before this run's records",
                        self.path)
            self._torn = True

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) == b"\n"

    def _rotate(self) -> None:
        self._file.close()
        for i in range(KEEP_ROTATED - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def write(self, record: dict[str, Any]) -> None:
        """Keep `record` for the next flush (records are built fresh and not changed afterwards)."""
        if self._file is not None:
            self._pending.append(record)

    def flush(self) -> None:
        """Write every kept record as a JSON line; never raises (see the module doc)."""
        pending = self._pending
        if not pending or self._file is None:
            return
        try:
            self._write_lines(pending)
        except OSError as exc:
            self.write_errors_total += 1
            self._torn = True
            if len(pending) > MAX_PENDING:
                self.dropped_total += len(pending) - MAX_PENDING
                del pending[:len(pending) - MAX_PENDING]
            now = time.monotonic()
            if now - self._error_logged_at >= ERROR_LOG_EVERY_S:
                self._error_logged_at = now
                log.error("%s: cannot write the decision trace (%s); trading goes on, %d records wait in memory "
                          "(%d write failures, %d records dropped so far)", self.path, exc.strerror or exc,
                          len(pending), self.write_errors_total, self.dropped_total)
            return
        self._pending = []

    def _write_lines(self, pending: list[dict[str, Any]]) -> None:
        """Every record as a JSON line, rotating between lines at the size limit."""
        if self._torn:
            self._file.write("\n")
            self._file.flush()
            self._size += 1
            self._torn = False
        lines: list[str] = []
        size, limit = self._size, self.max_bytes
        for record in pending:
            try:
                line = _encode_finite(record) + "\n"
            except ValueError:
                line = _encode(_clean(record)) + "\n"
            if size + len(line) > limit and size > 0:
                self._file.write("".join(lines))
                lines.clear()
                self._rotate()
                size = self._size
            lines.append(line)
            size += len(line)
        self._file.write("".join(lines))
        self._file.flush()
        self._size = size

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
