"""What the bot did: the fills ledger and, for a replay, when each rule was firing.

The ledger is the live one (`data/metrics/fills.jsonl`, rotated files included) or a replay
report's `fills.jsonl` (the same fill records without the book fields). Records are folded
through the ledger's own `LedgerState` (FIFO realized PnL, fees deducted, funding, checkpoints,
fills de-duplicated by trade id), so a slice's realized PnL is exactly what the bot booked.
Unlike the live bot, which skips a bad line and keeps trading, the analysis refuses one: a
wrong line would silently bend every figure after it. Only a torn last line (a crash mid-write)
is skipped, and said so.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.service.ledger import LedgerError, LedgerState, Problem, ledger_files, read_records


class InputError(Exception):
    """A ledger or rules file the analysis cannot use; the message names file, line and field."""


@dataclass(frozen=True)
class LedgerSeries:
    """One row per fill or funding record, in time order, with the book right after it."""

    ts: np.ndarray               # epoch seconds
    kind: np.ndarray             # "fill" / "funding"
    side: np.ndarray             # "buy" / "sell" ("" for funding)
    liquidity: np.ndarray        # "maker" / "taker"
    purpose: np.ndarray          # "quote" / "hedge"
    price: np.ndarray
    size: np.ndarray
    realized: np.ndarray         # cumulative FIFO realized PnL after the record (quote, fees deducted)
    units: np.ndarray            # position after the record (base units)
    cash: np.ndarray             # cumulative cash flow (sells - buys - fees + funding); marks give MTM PnL
    sources: tuple[str, ...]
    skipped: tuple[str, ...] = ()        # torn last lines, named
    start_realized: float = 0.0          # realized PnL and position before the first record
    start_units: float = 0.0             # (a rotated ledger's checkpoint)

    def __len__(self) -> int:
        return len(self.ts)


_FILL_NEEDS = {"ts": float, "side": str, "price": float, "size": float}


def read_ledger(paths: list[Path], market_id: int | None = None) -> LedgerSeries:
    """The fills of `paths` (several: one ledger in pieces), merged in time order."""
    records: list[tuple[float, int, str, int, dict]] = []
    skipped: list[str] = []
    markets: set[int] = set()
    for order, path in enumerate(paths):
        if not ledger_files(path):
            raise InputError(f"{path}: no such ledger file")
        problems: list[Problem] = []
        try:
            for file, line, record in read_records(path, problems):
                kind = record["type"]
                if kind not in ("fill", "funding", "checkpoint"):
                    continue
                if record.get("market_id") is not None:
                    markets.add(record["market_id"])
                    if market_id is not None and record["market_id"] != market_id:
                        continue
                _check_record(file, line, record)
                records.append((float(record["ts"]), order, str(file), line, record))
        except LedgerError as exc:
            raise InputError(str(exc)) from None
        for problem in problems:
            if "torn last line" in problem.reason:
                skipped.append(str(problem))
            else:
                raise InputError(f"{problem.path}:{problem.line}: {problem.reason.removesuffix(', skipped')}; "
                                 "expected one JSON ledger record per line")
    if market_id is None and len(markets) > 1:
        raise InputError(f"{', '.join(map(str, paths))}: the ledger holds markets {sorted(markets)}; "
                         "pick one with --market-id")
    records.sort(key=lambda r: (r[0], r[1], r[3]))
    state = LedgerState()
    rows = []
    started = False
    start_realized = start_units = cash = 0.0
    for ts, _, file, line, record in records:
        if record["type"] == "checkpoint":
            state.apply(record)
            if not started:
                start_realized, start_units = state.fifo.realized_total, state.fifo.units
            continue
        before = state.fills + state.fundings
        try:
            state.apply(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{file}:{line}: {record['type']} record: bad field {exc}") from None
        if state.fills + state.fundings == before:
            continue        # a duplicate trade id or funding seq: counted once, as the live ledger does
        started = True
        fill = record["type"] == "fill"
        if fill:
            signed = float(record["size"]) * (1.0 if record["side"] == "buy" else -1.0)
            cash += -signed * float(record["price"]) - float(record.get("fee") or 0.0)
        else:
            cash += float(record["amount"])
        rows.append((ts, record["type"], record.get("side", "") if fill else "",
                     record.get("liquidity") or "", record.get("purpose") or "",
                     float(record.get("price", 0.0)) if fill else 0.0, float(record.get("size", 0.0)) if fill else 0.0,
                     state.fifo.realized_total, state.fifo.units, cash))
    if not rows:
        raise InputError(f"{', '.join(map(str, paths))}: no fill records"
                         + (f" for market {market_id}" if market_id is not None else ""))
    cols = list(zip(*rows))
    return LedgerSeries(ts=np.array(cols[0], float), kind=np.array(cols[1]), side=np.array(cols[2]),
                        liquidity=np.array(cols[3]), purpose=np.array(cols[4]), price=np.array(cols[5], float),
                        size=np.array(cols[6], float), realized=np.array(cols[7], float),
                        units=np.array(cols[8], float), cash=np.array(cols[9], float),
                        sources=tuple(map(str, paths)), skipped=tuple(skipped),
                        start_realized=start_realized, start_units=start_units)


def _check_record(file: Path, line: int, record: dict) -> None:
    if record["type"] != "fill":
        if not isinstance(record.get("ts"), (int, float)):
            raise InputError(f"{file}:{line}: {record['type']} record: ts: expected epoch seconds, "
                             f"got {record.get('ts')!r}")
        if record["type"] == "funding" and not isinstance(record.get("amount"), (int, float)):
            raise InputError(f"{file}:{line}: funding record: amount: expected a number, got {record.get('amount')!r}")
        return
    for name, kind in _FILL_NEEDS.items():
        value = record.get(name)
        ok = isinstance(value, str) if kind is str else (isinstance(value, (int, float)) and not isinstance(value, bool)
                                                         and math.isfinite(value))
        if not ok:
            raise InputError(f"{file}:{line}: fill record: {name}: expected "
                             f"{'a string' if kind is str else 'a number'}, got {value!r}")
    if record["side"] not in ("buy", "sell"):
        raise InputError(f"{file}:{line}: fill record: side: expected buy or sell, got {record['side']!r}")
    if not (record["price"] > 0 and record["size"] > 0):
        raise InputError(f"{file}:{line}: fill record: price and size must be positive, got "
                         f"{record['price']!r} and {record['size']!r}")


@dataclass(frozen=True)
class RuleLog:
    """When each rule was firing (a replay's `rules.jsonl`), and the run's time range."""

    intervals: dict[str, list[tuple[float, float]]]
    start_ts: float | None = None
    end_ts: float | None = None
    source: str = ""
    policies: dict = field(default_factory=dict)


def read_rules(path: Path) -> RuleLog:
    """`rules.jsonl` as `lighter-bot replay --report` writes it: a `run` line, then `firing` lines."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    intervals: dict[str, list[tuple[float, float]]] = {}
    run: dict = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc}); expected a `run` or `firing` record") from None
        kind = record.get("type") if isinstance(record, dict) else None
        if kind == "run":
            run = record
        elif kind == "firing":
            rule, start, end = record.get("rule"), record.get("from"), record.get("to")
            if not isinstance(rule, str) or not all(isinstance(x, (int, float)) for x in (start, end)) or end < start:
                raise InputError(f"{path}:{number}: firing record: expected rule (a name), from <= to (epoch "
                                 f"seconds), got {raw[:120]!r}")
            intervals.setdefault(rule, []).append((float(start), float(end)))
        else:
            raise InputError(f"{path}:{number}: expected a record of type run or firing, got {raw[:80]!r}")
    return RuleLog(intervals, run.get("start_ts"), run.get("end_ts"), str(path), run.get("policies", {}))
