"""The decision trace: one JSON line per change of what the policies decided.

Each line names the policy-set version, the firing rules (since when, at which
file:line, on which feature values), the current states and the merged effects.
Orders and fills are written to the same file with the `decision` sequence number
that caused them, so `grep '"decision": 42'` shows an order next to its reasons.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import IO, Any

from runtime.events import Fill
from runtime.intents import PlaceOrder

log = logging.getLogger("lighter_bot.decisions")


def _clean(value: Any) -> Any:
    """JSON has no inf/nan; write them as strings rather than produce an unreadable line."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# Rotated files kept next to the live one (decisions.jsonl.1 ... .N), oldest dropped.
KEEP_ROTATED = 5


class DecisionLog:
    """Append-only JSON-lines writer, flushed per line so a crash loses nothing written.

    Rotated at `max_bytes` (the seed's ledger used 5 MB), keeping KEEP_ROTATED old files,
    so a bot left running for weeks cannot fill its disk with traces.
    """

    def __init__(self, path: Path | str | None, max_bytes: int = 5 * 1024 * 1024):
        self.path = Path(path) if path else None
        self.max_bytes = max_bytes
        self._file: IO[str] | None = None
        self._size = 0
        if self.path is not None:
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

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            line = json.dumps(_clean(record), separators=(",", ":")) + "\n"
            if self._size + len(line) > self.max_bytes and self._size > 0:
                self._rotate()
            self._file.write(line)
            self._size += len(line)

    def decision(self, trace: dict[str, Any], shadow: bool = False) -> None:
        record = {"type": "shadow_decision" if shadow else "decision", **trace}
        self._write(record)
        if not shadow:
            rules = ", ".join(a["rule"] for a in trace["active"]) or "none"
            states = ", ".join(f"{k}={v['state']}" for k, v in trace["states"].items())
            log.info("decision %d [%s]: firing %s%s; effects %s", trace["seq"], trace["policy_version"], rules,
                     f"; states {states}" if states else "", trace["effects"] or "neutral")

    def order(self, intent: PlaceOrder, now: float) -> None:
        self._write({"type": "order", "ts": now, "client_id": intent.client_id, "side": intent.side,
                     "price": intent.price, "size": intent.size, "tif": intent.tif, "purpose": intent.purpose,
                     "decision": intent.decision})

    def fill(self, fill: Fill, purpose: str) -> None:
        self._write({"type": "fill", "ts": fill.ts, "client_id": fill.client_id, "side": fill.side,
                     "price": fill.price, "size": fill.size, "liquidity": fill.liquidity, "fee": fill.fee,
                     "purpose": purpose, "trade_id": fill.trade_id})
        log.info("fill %s %.4f @ %.4f (%s, %s)", fill.side, fill.size, fill.price, fill.liquidity, purpose)

    def event(self, kind: str, **fields: Any) -> None:
        self._write({"type": kind, **fields})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
