"""Replay of recorded market data through the unchanged core (`lighter-bot replay`).

The composition root hands the CLI this package's `load_data`, `convert` and `open_venue`;
the CLI never imports it. Errors in the data are `DataError`s with located messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from adapters.replay.cache import default_cache_dir, load
from adapters.replay.columns import BBO, DEPTH, KLINE, TRADE, Dataset, EventArrays
from adapters.replay.config import ReplayConfig
from adapters.replay.readers import FORMATS, DataError
from adapters.replay.touch import cached_touch
from adapters.replay.venue import ReplayVenue, data_mode
from runtime.market import MarketSpec

__all__ = ["DataError", "FORMATS", "ReplayConfig", "ReplayData", "ReplayVenue", "convert", "load_data", "open_venue"]


@dataclass
class ReplayData:
    datasets: list[Dataset]
    events: EventArrays
    cached: list[bool]
    cache_dir: Path | None = None
    window: tuple[float | None, float | None] = (None, None)

    @property
    def start_ts(self) -> float:
        return float(self.events.ts[0])

    @property
    def end_ts(self) -> float:
        return float(self.events.ts[-1])

    @property
    def levels(self) -> int:
        kinds = self.events.kind
        return int(np.count_nonzero((kinds == DEPTH) | (kinds == BBO)))

    @property
    def mode(self) -> str:
        return data_mode(self.events)

    def price_range(self) -> tuple[float, float]:
        ev = self.events
        priced = ev.px[(ev.kind == DEPTH) & (ev.qty > 0) | (ev.kind == BBO) | (ev.kind == TRADE) | (ev.kind == KLINE)]
        if not len(priced):
            raise DataError("the data has no prices")
        # Full-depth snapshots hold far-away levels (Binance's book has bids at 1000 USDT): use
        # the prints and the touch where there are any.
        prints = ev.px[(ev.kind == TRADE) | (ev.kind == KLINE) | (ev.kind == BBO)]
        use = prints if len(prints) else priced
        return float(use.min()), float(use.max())

    def describe(self) -> dict[str, Any]:
        return {
            "files": [{"name": Path(d.path).name, "sha256": d.sha256, "format": d.format, "events": len(d.events),
                       "price_level_events": d.levels,
                       "start_ts": round(d.start_ts, 3), "end_ts": round(d.end_ts, 3)}
                      for d in self.datasets],
            "mode": self.mode,
            "start_ts": round(self.start_ts, 3),
            "end_ts": round(self.end_ts, 3),
            "events": len(self.events),
            "price_level_events": self.levels,
            "gaps": [g.as_dict() | {"file": Path(d.path).name} for d in self.datasets for g in d.gaps],
        }


def load_data(paths: Sequence[Path], fmt: str | None = None, cache_dir: Path | None = None,
              start: float | None = None, end: float | None = None) -> ReplayData:
    """Every file's events (converted once, then from the cache), merged in time order and cut
    to [start, end] (epoch seconds)."""
    loaded = [load(Path(p), fmt, cache_dir) for p in paths]
    datasets = [d for d, _ in loaded]
    events = EventArrays.concat([d.events for d in datasets]).window(start, end)
    if not len(events):
        raise DataError(f"{', '.join(map(str, paths))}: no events between --from and --to")
    return ReplayData(datasets, events, [hit for _, hit in loaded], cache_dir, (start, end))


def convert(paths: Sequence[Path], fmt: str | None = None, cache_dir: Path | None = None) -> list[str]:
    """Convert files into the cache; one line per file saying what it holds."""
    lines = []
    for path in paths:
        dataset, hit = load(Path(path), fmt, cache_dir)
        lines.append(f"{path}: {dataset.format}, {len(dataset.events)} events ({dataset.levels} price-level), "
                     f"{len(dataset.gaps)} gaps, {'already cached' if hit else 'converted'} "
                     f"[{dataset.sha256[:16]}] in {cache_dir or default_cache_dir()}")
        for gap in dataset.gaps[:20]:
            lines.append(f"  gap at {gap.where}: {gap.why}" + (f" ({gap.seconds:.0f} s)" if gap.seconds else ""))
        if len(dataset.gaps) > 20:
            lines.append(f"  ... and {len(dataset.gaps) - 20} more gaps")
    return lines


def open_venue(data: ReplayData, market: MarketSpec, config: ReplayConfig, fast: bool = True) -> ReplayVenue:
    """The venue over `data`; for full depth its touch columns come from the cache when these
    files and this window were replayed before."""
    touch = None
    if fast and data.mode == "l2":
        touch = cached_touch(data.events, [d.sha256 for d in data.datasets] + [repr(data.window)],
                             data.cache_dir or default_cache_dir())
    return ReplayVenue(market, data.events, config, touch=touch, fast=fast)
