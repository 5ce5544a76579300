"""The analysis's PNGs: PnL by bucket (heat map), PnL against inventory, cumulative PnL with the
guards shaded. matplotlib is the `[plots]` extra; without it the report says the plots were skipped.
Small figures at 100 dpi, no timestamp in the metadata: the same analysis gives the same bytes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.service.regimes.buckets import TREND_LABELS, VOL_LABELS, BucketStats
from runtime.service.regimes.slices import SliceTable

SHADED_GUARDS = (("trend_guard.down", "tab:red"), ("volatility_pause.pause", "tab:purple"),
                 ("pnl_guard.guard", "tab:orange"))


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    _pyplot().close(fig)
    return path


def bucket_heatmap(path: Path, stats: list[BucketStats], measure: str) -> Path:
    plt = _pyplot()
    grid = np.full((len(VOL_LABELS), len(TREND_LABELS)), np.nan)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for s in stats:
        i, j = VOL_LABELS.index(s.vol), TREND_LABELS.index(s.trend)
        grid[i, j] = s.mean if s.mean is not None else np.nan
    limit = np.nanmax(np.abs(grid)) if np.any(~np.isnan(grid)) else 1.0
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit or -1, vmax=limit or 1, origin="lower")
    for s in stats:
        i, j = VOL_LABELS.index(s.vol), TREND_LABELS.index(s.trend)
        mark = " *" if s.consistently_negative else ""
        text = f"{s.mean:+.4f}{mark}\nn={s.count}" if s.mean is not None else "n=0"
        ax.text(j, i, text, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(TREND_LABELS)), TREND_LABELS)
    ax.set_yticks(range(len(VOL_LABELS)), VOL_LABELS)
    ax.set_xlabel("trend")
    ax.set_ylabel("realized volatility")
    ax.set_title(f"mean {measure} PnL per slice (* CI < 0)", fontsize=10)
    fig.colorbar(image, ax=ax, label="quote")
    return _save(fig, path)


def pnl_vs_inventory(path: Path, table: SliceTable, pnl: np.ndarray, measure: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    trend = table["trend_bps"]
    points = ax.scatter(table["inventory_start"], pnl, c=np.nan_to_num(trend), cmap="coolwarm_r", s=10,
                        vmin=-30, vmax=30)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("inventory at the slice's start (base units)")
    ax.set_ylabel(f"{measure} PnL of the slice (quote)")
    fig.colorbar(points, ax=ax, label="trend (bps)")
    return _save(fig, path)


def cumulative(path: Path, table: SliceTable) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    hours = (table["end_ts"] - table["start_ts"][0]) / 3600.0
    ax.plot(hours, np.cumsum(table["mtm_pnl"]), label="mark-to-market", lw=1)
    ax.plot(hours, np.cumsum(table["realized_pnl"]), label="realized", lw=1)
    if table.guards is not None:
        width = table.slice_s / 3600.0
        for rule, colour in SHADED_GUARDS:
            seconds = table.guards.get(rule)
            if seconds is None:
                continue
            for first, last in _runs(seconds > 0):
                ax.axvspan(hours[first] - width, hours[last], color=colour, alpha=0.15, lw=0)
            ax.plot([], [], color=colour, alpha=0.4, lw=6, label=f"{rule} firing")
    ax.set_xlabel("hours from the first slice")
    ax.set_ylabel("cumulative PnL (quote)")
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last] indices of each run of True (one shaded span per run, not one per slice)."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def write_all(folder: Path, table: SliceTable, stats: list[BucketStats], pnl: np.ndarray, measure: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [bucket_heatmap(folder / "buckets.png", stats, measure),
            pnl_vs_inventory(folder / "pnl_vs_inventory.png", table, pnl, measure),
            cumulative(folder / "cumulative_pnl.png", table)]
