"""Per-minute candle features: what the market was doing, in the units the policies use.

Two families, kept apart because they answer different questions:

- Regime features (the buckets): `vol_bps`, the realized volatility, is the standard deviation of
  1-minute log returns over the last `vol_window_min` bars, in bps per 1-minute step (the unit of
  the bot's own `vol_bps`; multiply by sqrt(525600) for an annual figure); `trend_bps`, the
  momentum, is the close-to-close change over the last `trend_window_min` bars, in bps.
- Guard analogues (the suggestions): the bot's guards read `trend_bps` (mid change over
  `maker.trend.lookback_s`, 45 s) and `vol_bps` (EWMA sigma, half-life 45 s). From 1-minute bars
  the nearest figures are the last bar's close-to-close change (`guard_trend_bps`, a 60 s
  lookback) and an EWMA of squared 1-minute returns with the same 45 s half-life (`guard_vol_bps`).
  They are coarser than what the bot sees tick by tick: a threshold found on them is a candidate
  that `policy diff` then checks on the real features.

A return across a gap in the bars (a missing minute) is not a 1-minute return and counts as missing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.service.regimes.candles import BAR_S, Candles

BPS = 1e4


@dataclass(frozen=True)
class FeatureWindows:
    vol_window_min: int = 30          # realized volatility: sigma of the last 30 one-minute returns
    trend_window_min: int = 15        # momentum: change over the last 15 minutes
    guard_halflife_s: float = 45.0    # the bot's maker.volatility.halflife_s


@dataclass(frozen=True)
class MinuteFeatures:
    ts: np.ndarray                 # bar open time (s); each feature is known at the bar's close
    open: np.ndarray
    close: np.ndarray
    return_bps: np.ndarray         # 1-minute log return (nan across a gap)
    vol_bps: np.ndarray            # realized volatility, bps per 1-minute step
    trend_bps: np.ndarray          # momentum over trend_window_min, bps
    guard_trend_bps: np.ndarray    # analogue of the bot's trend_bps (last minute's change)
    guard_vol_bps: np.ndarray      # analogue of the bot's vol_bps (EWMA, 45 s half-life)
    windows: FeatureWindows

    def __len__(self) -> int:
        return len(self.ts)


def minute_features(candles: Candles, windows: FeatureWindows = FeatureWindows()) -> MinuteFeatures:
    close = candles.close
    n = len(close)
    returns = np.full(n, np.nan)
    if n > 1:
        consecutive = np.isclose(np.diff(candles.ts), BAR_S)
        returns[1:] = np.where(consecutive, np.log(close[1:] / close[:-1]), np.nan)
    vol = _rolling_std(returns, windows.vol_window_min) * BPS
    trend = np.full(n, np.nan)
    w = windows.trend_window_min
    if n > w:
        trend[w:] = (close[w:] / close[:-w] - 1.0) * BPS
    guard_trend = np.where(np.isnan(returns), np.nan, (np.exp(returns) - 1.0) * BPS)
    return MinuteFeatures(ts=candles.ts, open=candles.open, close=close, return_bps=returns * BPS, vol_bps=vol,
                          trend_bps=trend, guard_trend_bps=guard_trend,
                          guard_vol_bps=_ewma_sigma(returns, windows.guard_halflife_s) * BPS, windows=windows)


def _rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation (ddof 1) of the last `window` values, missing values left out; nan with
    fewer than half the window present."""
    out = np.full(len(x), np.nan)
    if len(x) < window:
        return out
    view = np.lib.stride_tricks.sliding_window_view(x, window)
    present = np.count_nonzero(~np.isnan(view), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(view, axis=1) / present
        var = np.nansum((view - mean[:, None]) ** 2, axis=1) / (present - 1)
    out[window - 1:] = np.where(present >= max(2, window // 2), np.sqrt(var), np.nan)
    return out


def _ewma_sigma(returns: np.ndarray, halflife_s: float) -> np.ndarray:
    """sqrt of an EWMA of squared 1-minute returns, one update per bar (a gap leaves it unchanged)."""
    decay = 0.5 ** (BAR_S / halflife_s)
    out = np.full(len(returns), np.nan)
    var = np.nan
    for i, r in enumerate(returns):
        if not np.isnan(r):
            var = r * r if np.isnan(var) else decay * var + (1.0 - decay) * r * r
        out[i] = np.sqrt(var)
    return out
