"""The decision trace on disk: JSON lines, flushed per line, rotated at a size limit.

Rotated at `max_bytes` (the seed's ledger used 5 MB), keeping KEEP_ROTATED old files,
so a bot left running for weeks cannot fill its disk with traces.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

# Rotated files kept next to the live one (decisions.jsonl.1 ... .N), oldest dropped.
KEEP_ROTATED = 5


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
    """A `runtime.trace.TraceSink` appending one JSON line per record, flushed per line so a
    crash loses nothing written."""

    def __init__(self, path: Path | str, max_bytes: int = 5 * 1024 * 1024):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._file: IO[str] | None = None
        self._size = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self._file = self.path.open("a", buffering=1)
        self._size = self._file.tell()

    def _rotate(self) -> None:
        self._file.close()
        for i in range(KEEP_ROTATED - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._open()

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(_clean(record), separators=(",", ":")) + "\n"
        if self._size + len(line) > self.max_bytes and self._size > 0:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
