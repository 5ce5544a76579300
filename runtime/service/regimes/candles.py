"""1-minute OHLCV bars: the market side of the regime analysis.

Two sources give the same `Candles`: a kline CSV (`ts_ms,open,high,low,close,volume`, bar open
time in epoch milliseconds, the shared Binance SOLUSDT files and the replay's `klines-csv`), read
here; or Lighter's `/api/v1/candles`, fetched by the live adapter (adapters/lighter/candles.py)
and handed in by the composition root as rows. Bars are checked as they are read (time strictly
increasing, high and low containing open and close, positive prices), so a broken file is one
located message, never a wrong analysis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

BAR_S = 60.0
HEADER = ("ts_ms", "open", "high", "low", "close", "volume")


class CandleError(Exception):
    """Candles that cannot be read or do not fit the analysis; the message names file, line and field."""


@dataclass(frozen=True)
class Candles:
    """Bars in time order; `ts` is each bar's open time in epoch seconds."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def start_ts(self) -> float:
        return float(self.ts[0])

    @property
    def end_ts(self) -> float:
        """When the last bar closes."""
        return float(self.ts[-1]) + BAR_S

    def window(self, start_ts: float, end_ts: float) -> "Candles":
        """The bars opening in [start_ts, end_ts)."""
        keep = (self.ts >= start_ts) & (self.ts < end_ts)
        return Candles(*(getattr(self, f)[keep] for f in ("ts", "open", "high", "low", "close", "volume")),
                       source=self.source)


def from_rows(rows: Iterable[tuple[float, float, float, float, float, float]], source: str) -> Candles:
    """Candles from (ts_s, open, high, low, close, volume) rows, checked like a file's (row numbers from 1)."""
    rows = list(rows)
    for number, row in enumerate(rows, 1):
        _check_bar(source, number, row, rows[number - 2][0] if number > 1 else None)
    arr = np.array(rows, dtype=float).reshape(-1, 6)
    if not len(arr):
        raise CandleError(f"{source}: no candles")
    return Candles(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5], source)


def _check_bar(source: str, number: int, row, previous_ts: float | None) -> None:
    ts, o, h, low, c, v = row
    if not all(math.isfinite(x) for x in row):
        raise CandleError(f"{source}:{number}: a value is not a finite number: {row}")
    if min(o, h, low, c) <= 0 or v < 0:
        raise CandleError(f"{source}:{number}: expected positive prices and a volume >= 0, got {row[1:]}")
    if h < max(o, c) or low > min(o, c):
        raise CandleError(f"{source}:{number}: bad bar: high {h:g} / low {low:g} do not contain open {o:g} "
                          f"and close {c:g}")
    if previous_ts is not None and ts <= previous_ts:
        raise CandleError(f"{source}:{number}: time goes backwards or repeats ({ts:.0f} after {previous_ts:.0f})")


def read_kline_csv(path: Path) -> Candles:
    """A kline CSV file (header `ts_ms,open,high,low,close,volume`)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CandleError(f"{path}: cannot read the candles: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CandleError(f"{path}: not a text file (expected a kline CSV: {','.join(HEADER)})") from None
    lines = text.splitlines()
    if not lines or tuple(c.strip().lower() for c in lines[0].split(",")) != HEADER:
        first = lines[0][:80] if lines else ""
        raise CandleError(f"{path}:1: expected the header {','.join(HEADER)} (a 1-minute kline CSV), got {first!r}")
    rows: list[tuple[float, ...]] = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(HEADER):
            raise CandleError(f"{path}:{number}: expected {len(HEADER)} fields ({','.join(HEADER)}), got {len(cells)}")
        values = []
        for name, cell in zip(HEADER, cells):
            try:
                values.append(float(cell))
            except ValueError:
                raise CandleError(f"{path}:{number}: {name}: expected a number, got {cell.strip()!r}") from None
        row = (values[0] / 1000.0, *values[1:])
        _check_bar(f"{path}", number, row, rows[-1][0] if rows else None)
        rows.append(row)
    if not rows:
        raise CandleError(f"{path}: no bars after the header")
    return from_rows(rows, path.name)


def write_kline_csv(path: Path, candles: Candles) -> None:
    """The same layout the reader takes (fetched candles are kept under data/analysis/ this way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(HEADER)]
    for row in zip(candles.ts, candles.open, candles.high, candles.low, candles.close, candles.volume):
        lines.append(f"{int(round(row[0] * 1000))}," + ",".join(f"{x:.10g}" for x in row[1:]))
    path.write_text("\n".join(lines) + "\n")


def check_covers(candles: Candles, start_ts: float, end_ts: float, what: str) -> None:
    """Refuse candles that do not cover [start_ts, end_ts]: a slice without prices has no features."""
    if candles.start_ts > start_ts + BAR_S or candles.end_ts < end_ts - BAR_S:
        raise CandleError(f"{candles.source}: the candles cover {iso(candles.start_ts)} .. {iso(candles.end_ts)} "
                          f"but {what} runs {iso(start_ts)} .. {iso(end_ts)}; give candles for the whole range")


def iso(ts: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
