"""Slice PnL by volatility x trend, with bootstrap confidence intervals; PnL against inventory.

Bucket edges (stated in every report): volatility by terciles of the slices' `vol_bps` (low, mid,
high: each holds a third of the slices, so every bucket has data whatever the market's level);
trend by a fixed symmetric threshold on `trend_bps` (down below -flat, up above +flat, flat
between), because "down" must mean the price fell, which terciles cannot promise.

A bucket is *consistently negative* when it has at least `min_count` slices and the upper bound
of its 95 % bootstrap confidence interval of the mean is below zero: not one bad stretch, but
losing slice after slice. The bootstrap resamples the bucket's slices with replacement
(`resamples` times, percentile interval) from a fixed seed, so the same data gives the same report.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

VOL_LABELS = ("low", "mid", "high")
TREND_LABELS = ("down", "flat", "up")


@dataclass(frozen=True)
class BucketSpec:
    trend_flat_bps: float = 10.0       # |momentum| within this is "flat"
    min_count: int = 5                 # fewer slices than this never count as consistently negative
    resamples: int = 2000
    seed: int = 7
    level: float = 0.95


@dataclass(frozen=True)
class BucketStats:
    vol: str
    trend: str
    count: int
    mean: float | None
    total: float
    ci_low: float | None
    ci_high: float | None
    negative_share: float | None
    consistently_negative: bool

    def to_dict(self) -> dict:
        return asdict(self)


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, seed: int = 7, level: float = 0.95
                 ) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean; None with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def vol_edges(vol_bps: np.ndarray) -> tuple[float, float]:
    """Tercile edges of the volatility (slices without a figure left out)."""
    known = vol_bps[~np.isnan(vol_bps)]
    if not len(known):
        return (np.nan, np.nan)
    low, high = np.quantile(known, [1 / 3, 2 / 3])
    return float(low), float(high)


def labels(vol_bps: np.ndarray, trend_bps: np.ndarray, edges: tuple[float, float], flat_bps: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each slice's volatility and trend label ("" where the feature is unknown)."""
    vol = np.full(len(vol_bps), "", dtype=object)
    ok = ~np.isnan(vol_bps)
    vol[ok] = np.array(VOL_LABELS, dtype=object)[np.searchsorted(edges, vol_bps[ok], side="right")]
    trend = np.full(len(trend_bps), "", dtype=object)
    ok = ~np.isnan(trend_bps)
    trend[ok] = np.where(trend_bps[ok] < -flat_bps, "down", np.where(trend_bps[ok] > flat_bps, "up", "flat"))
    return vol, trend


def bucket_stats(pnl: np.ndarray, vol_label: np.ndarray, trend_label: np.ndarray,
                 spec: BucketSpec = BucketSpec()) -> list[BucketStats]:
    """One entry per (volatility, trend) bucket, low volatility and down-trend first."""
    out = []
    for vol in VOL_LABELS:
        for trend in TREND_LABELS:
            values = pnl[(vol_label == vol) & (trend_label == trend)]
            ci = bootstrap_ci(values, spec.resamples, spec.seed, spec.level)
            out.append(BucketStats(
                vol=vol, trend=trend, count=int(len(values)),
                mean=float(values.mean()) if len(values) else None, total=float(values.sum()),
                ci_low=ci[0] if ci else None, ci_high=ci[1] if ci else None,
                negative_share=float(np.mean(values < 0)) if len(values) else None,
                consistently_negative=bool(ci is not None and len(values) >= spec.min_count and ci[1] < 0)))
    return out


def marginal_means(pnl: np.ndarray, label: np.ndarray, names: tuple[str, ...]) -> dict[str, dict]:
    """Mean PnL and count per label (e.g. per trend direction, all volatilities together)."""
    out = {}
    for name in names:
        values = pnl[label == name]
        out[name] = {"count": int(len(values)), "mean": float(values.mean()) if len(values) else None}
    return out


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson correlation over the pairs where both are known; None when either is constant."""
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def inventory_relation(pnl: np.ndarray, inventory_start: np.ndarray, slice_return_bps: np.ndarray,
                       price_start: np.ndarray) -> dict[str, float | None]:
    """How slice PnL moves with inventory: against the inventory held at the slice's start, and
    against the carry (that inventory times the slice's price move, in quote): a correlation
    near +1 with the carry means the PnL is the inventory's drift, not the spread earned."""
    carry = inventory_start * price_start * slice_return_bps / 1e4
    held = np.abs(inventory_start) > 0
    return {"pnl_vs_inventory": correlation(pnl, inventory_start),
            "pnl_vs_carry": correlation(pnl, carry),
            "pnl_vs_carry_when_holding": correlation(pnl[held], carry[held]),
            "slices_holding": int(np.count_nonzero(held))}
