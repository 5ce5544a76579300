"""The analysis as one function of its inputs: what the command and the notebook both call.

`analyze(ledger, candles, ...)` slices the ledger, joins the candle features, buckets the PnL,
relates it to inventory, guards, hedger taker fills and excursions, and screens threshold
changes. No file is touched here: reading inputs is inputs.py/candles.py, writing is cli.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.service.regimes import buckets as bk
from runtime.service.regimes.candles import Candles, check_covers
from runtime.service.regimes.features import FeatureWindows, MinuteFeatures, minute_features
from runtime.service.regimes.inputs import LedgerSeries, RuleLog
from runtime.service.regimes.slices import DEFAULT_SLICE_S, SliceTable, build_slices
from runtime.service.regimes.suggest import Suggestion, search

MEASURES = ("mtm", "realized")
# A rule firing in more than this share of the slices is named: a guard that never lets go
# (stuck) or a rule that is always on (then it explains nothing about regimes).
STUCK_SHARE = 0.5


@dataclass(frozen=True)
class Options:
    slice_s: float = DEFAULT_SLICE_S
    measure: str = "mtm"               # which PnL the buckets judge and the suggestions screen
    excursion_units: float = 0.1       # |inventory| at or above this is an excursion (half the SOL soft cap)
    windows: FeatureWindows = field(default_factory=FeatureWindows)
    buckets: bk.BucketSpec = field(default_factory=bk.BucketSpec)
    start_ts: float | None = None
    end_ts: float | None = None


@dataclass(frozen=True)
class Analysis:
    options: Options
    minutes: MinuteFeatures
    table: SliceTable
    vol_edges: tuple[float, float]
    vol_label: np.ndarray
    trend_label: np.ndarray
    stats: dict[str, list[bk.BucketStats]]           # measure -> buckets
    by_trend: dict[str, dict[str, dict]]             # measure -> trend label -> {count, mean}
    inventory: dict[str, dict]                       # measure -> correlations
    guards: dict[str, dict] | None                   # rule -> engagement figures; None: no rules log
    flags: dict[str, dict]                           # hedge taker fills, excursions: with / without
    suggestions: list[Suggestion]
    window: tuple[float, float]
    ledger: LedgerSeries
    candles: Candles
    rules: RuleLog | None

    @property
    def window_span(self) -> float:
        return max(1.0, self.window[1] - self.window[0])

    def pnl(self, measure: str | None = None) -> np.ndarray:
        return self.table[f"{measure or self.options.measure}_pnl"]

    def negative_buckets(self, measure: str | None = None) -> list[bk.BucketStats]:
        return [s for s in self.stats[measure or self.options.measure] if s.consistently_negative]


def analysis_window(ledger: LedgerSeries, rules: RuleLog | None, options: Options) -> tuple[float, float]:
    """What to slice: --from/--to, else the replay's run (rules log), else the ledger's first..last record."""
    start = options.start_ts if options.start_ts is not None else (
        rules.start_ts if rules and rules.start_ts is not None else float(ledger.ts[0]))
    end = options.end_ts if options.end_ts is not None else (
        rules.end_ts if rules and rules.end_ts is not None else float(ledger.ts[-1]))
    return start, max(end, start + 1.0)


def analyze(ledger: LedgerSeries, candles: Candles, rules: RuleLog | None = None, options: Options = Options(),
            current_params: dict[str, float] | None = None) -> Analysis:
    if options.measure not in MEASURES:
        raise ValueError(f"measure: expected one of {', '.join(MEASURES)}, got {options.measure!r}")
    start, end = analysis_window(ledger, rules, options)
    check_covers(candles, start, end, "the ledger" if rules is None else "the replay")
    # The regime features need their look-back before the first slice: keep the bars from then on.
    lookback = 60.0 * (max(options.windows.vol_window_min, options.windows.trend_window_min) + 1)
    minutes = minute_features(candles.window(start - lookback - options.slice_s, end + options.slice_s), options.windows)
    table = build_slices(ledger, minutes, start, end, options.slice_s, options.excursion_units,
                         rules.intervals if rules else None)
    edges = bk.vol_edges(table["vol_bps"])
    vol_label, trend_label = bk.labels(table["vol_bps"], table["trend_bps"], edges, options.buckets.trend_flat_bps)
    stats, by_trend, inventory = {}, {}, {}
    for measure in MEASURES:
        pnl = table[f"{measure}_pnl"]
        stats[measure] = bk.bucket_stats(pnl, vol_label, trend_label, options.buckets)
        by_trend[measure] = bk.marginal_means(pnl, trend_label, bk.TREND_LABELS)
        inventory[measure] = bk.inventory_relation(pnl, table["inventory_start"], table["slice_return_bps"],
                                                   table["price_start"])
    pnl = table[f"{options.measure}_pnl"]
    flags = {name: _with_without(pnl, mask) for name, mask in (
        ("hedge_taker_fills", table["hedge_taker_fills"] > 0), ("excursion", table["excursion"]))}
    guards = None
    if table.guards is not None:
        guards = {rule: {**_with_without(pnl, seconds > 0), "seconds": float(seconds.sum()),
                         "stuck": bool(np.mean(seconds > 0) > STUCK_SHARE)}
                  for rule, seconds in table.guards.items()}
    suggestions = search(table.columns, pnl, current_params or {})
    return Analysis(options=options, minutes=minutes, table=table, vol_edges=edges, vol_label=vol_label,
                    trend_label=trend_label, stats=stats, by_trend=by_trend, inventory=inventory, guards=guards,
                    flags=flags, suggestions=suggestions, window=(start, end), ledger=ledger, candles=candles,
                    rules=rules)


def _with_without(pnl: np.ndarray, mask: np.ndarray) -> dict:
    """Slices with the mark, and the mean PnL with and without it."""
    mask = np.asarray(mask, dtype=bool)
    return {"slices": int(mask.sum()),
            "mean_with": float(pnl[mask].mean()) if mask.any() else None,
            "mean_without": float(pnl[~mask].mean()) if (~mask).any() else None,
            "total_with": float(pnl[mask].sum())}
