"""PnL slices joined with what the market and the guards were doing.

A slice is a fixed stretch of time (5 minutes by default, the seed's `pnl_slice_s`), aligned on
multiples of its length in epoch time so slices of different runs line up. Per slice:

- `realized_pnl`: FIFO realized PnL booked in the slice (fees deducted, funding included), what
  the bot's PnL guard reads; `mtm_pnl`: the change of cash plus inventory marked at the candle
  close at each edge, which also counts the inventory's move while it is held (the PnL the seed
  found tracking inventory);
- inventory at the start and end, the largest |inventory| in the slice and whether it reached
  `excursion_units` (an inventory excursion);
- fills (maker, taker) and hedger taker fills (the hedger crossing the spread);
- the regime at the slice's end (realized volatility and momentum over their windows, features.py)
  and the slice's own price move; the guard analogues' extremes over the slice's bars;
- with a rules log: seconds each rule was firing inside the slice (a guard engagement).

Every function here is pure: arrays in, arrays out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.service.regimes.candles import BAR_S
from runtime.service.regimes.features import MinuteFeatures
from runtime.service.regimes.inputs import LedgerSeries

DEFAULT_SLICE_S = 300.0


@dataclass(frozen=True)
class SliceTable:
    """Column arrays, one row per slice; `guards` is None when no rules log was given."""

    columns: dict[str, np.ndarray]
    guards: dict[str, np.ndarray] | None        # rule -> seconds firing in each slice
    slice_s: float
    excursion_units: float

    def __len__(self) -> int:
        return len(self.columns["start_ts"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def guard_engaged(self, rules: list[str] | None = None) -> np.ndarray | None:
        """Per slice: was any of `rules` (default: every rule) firing at some point in it?"""
        if self.guards is None:
            return None
        chosen = [self.guards[r] for r in (rules if rules is not None else self.guards) if r in self.guards]
        if not chosen:
            return np.zeros(len(self), dtype=bool)
        return np.any(np.array(chosen) > 0, axis=0)


def slice_edges(start_ts: float, end_ts: float, slice_s: float = DEFAULT_SLICE_S) -> np.ndarray:
    """Edges of the slices covering [start_ts, end_ts): multiples of slice_s in epoch time."""
    first = np.floor(start_ts / slice_s) * slice_s
    count = max(1, int(np.ceil((end_ts - first) / slice_s - 1e-9)))
    return first + slice_s * np.arange(count + 1)


def _step_values(ts: np.ndarray, values: np.ndarray, at: np.ndarray, before: float) -> np.ndarray:
    """The value of a step series (value after each record at ts) just before each time in `at`."""
    index = np.searchsorted(ts, at, side="left") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], before)


def build_slices(ledger: LedgerSeries, minutes: MinuteFeatures, start_ts: float, end_ts: float,
                 slice_s: float = DEFAULT_SLICE_S, excursion_units: float = 0.1,
                 intervals: dict[str, list[tuple[float, float]]] | None = None) -> SliceTable:
    edges = slice_edges(start_ts, end_ts, slice_s)
    starts, ends = edges[:-1], edges[1:]
    n = len(starts)
    realized = _step_values(ledger.ts, ledger.realized, edges, ledger.start_realized)
    units = _step_values(ledger.ts, ledger.units, edges, ledger.start_units)
    cash = _step_values(ledger.ts, ledger.cash, edges, 0.0)
    bar_close_ts = minutes.ts + BAR_S
    mark_index = np.searchsorted(bar_close_ts, edges, side="right") - 1
    # The price at an edge: the close of the last bar closed by then; before the first close, the
    # first bar's open (the first slice starts on a multiple of slice_s, up to a slice before the data).
    mark = np.where(mark_index >= 0, minutes.close[np.clip(mark_index, 0, None)], minutes.open[0])
    equity = cash + units * mark
    slot = np.searchsorted(edges, ledger.ts, side="right") - 1      # the slice of each record
    inside = (slot >= 0) & (slot < n)
    fills = ledger.kind == "fill"

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(slot[inside & mask], minlength=n)[:n]
    max_abs_inventory = np.abs(np.vstack([units[:-1], units[1:]])).max(axis=0)
    np.maximum.at(max_abs_inventory, slot[inside], np.abs(ledger.units[inside]))
    volume = np.bincount(slot[inside & fills], weights=(ledger.price * ledger.size)[inside & fills], minlength=n)[:n]
    feature_index = np.clip(mark_index[1:], 0, None)     # the regime known at each slice's end
    columns = {
        "start_ts": starts, "end_ts": ends,
        "realized_pnl": np.diff(realized), "mtm_pnl": np.diff(equity),
        "inventory_start": units[:-1], "inventory_end": units[1:], "max_abs_inventory": max_abs_inventory,
        "excursion": max_abs_inventory >= excursion_units - 1e-12,
        "fills": count(fills), "maker_fills": count(fills & (ledger.liquidity == "maker")),
        "taker_fills": count(fills & (ledger.liquidity == "taker")),
        "hedge_taker_fills": count(fills & (ledger.liquidity == "taker") & (ledger.purpose == "hedge")),
        "volume_quote": volume,
        "price_start": mark[:-1], "price_end": mark[1:],
        "slice_return_bps": (mark[1:] / mark[:-1] - 1.0) * 1e4,
        "vol_bps": np.where(mark_index[1:] >= 0, minutes.vol_bps[feature_index], np.nan),
        "trend_bps": np.where(mark_index[1:] >= 0, minutes.trend_bps[feature_index], np.nan),
    }
    columns.update(_guard_analogues(minutes, edges))
    guards = None if intervals is None else {rule: _overlap_seconds(spans, starts, ends)
                                             for rule, spans in sorted(intervals.items())}
    return SliceTable(columns, guards, slice_s, excursion_units)


def _guard_analogues(minutes: MinuteFeatures, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Extremes over the bars closing inside each slice (and the bar before it: a guard already
    firing at the slice's start counts)."""
    n = len(edges) - 1
    out = {name: np.full(n, np.nan) for name in ("min_guard_trend_bps", "max_guard_trend_bps", "max_guard_vol_bps")}
    closes = minutes.ts + BAR_S
    lo = np.clip(np.searchsorted(closes, edges[:-1], side="left") - 1, 0, None)
    hi = np.searchsorted(closes, edges[1:], side="right")
    for i in range(n):
        if hi[i] <= lo[i]:
            continue
        trend = minutes.guard_trend_bps[lo[i]:hi[i]]
        vol = minutes.guard_vol_bps[lo[i]:hi[i]]
        if np.any(~np.isnan(trend)):
            out["min_guard_trend_bps"][i] = np.nanmin(trend)
            out["max_guard_trend_bps"][i] = np.nanmax(trend)
        if np.any(~np.isnan(vol)):
            out["max_guard_vol_bps"][i] = np.nanmax(vol)
    return out


def _overlap_seconds(spans: list[tuple[float, float]], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Seconds of `spans` inside each [start, end); a zero-length span (one tick) counts as a moment, 1e-3 s."""
    out = np.zeros(len(starts))
    for a, b in spans:
        b = max(b, a + 1e-3)
        first = max(0, int(np.searchsorted(ends, a, side="right")))
        last = int(np.searchsorted(starts, b, side="left"))
        for i in range(first, last):
            out[i] += max(0.0, min(b, ends[i]) - max(a, starts[i]))
    return np.round(out, 3)
