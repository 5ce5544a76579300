"""PNG plots of a replay (`--report DIR`): price with our quotes and fills, inventory, cumulative
mark-to-market PnL, and when each rule was firing. matplotlib is optional (`pip install
lighter-bot[plots]`); without it the report says the plots were skipped."""
from __future__ import annotations

import sys
from pathlib import Path


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def can_plot() -> bool:
    """Whether a report can draw its plots; if not, say so once on stderr (every report command)."""
    if available():
        return True
    print("plots skipped: matplotlib is not installed (pip install 'lighter-bot[plots]')", file=sys.stderr)
    return False


def write_plots(folder: Path, samples: list[tuple], fills: list[dict], firing: dict[str, list[tuple[float, float]]],
                title: str) -> list[Path]:
    """`samples`: (ts, mid, our bid or None, our ask or None, inventory, mtm PnL) per sampled tick;
    `firing`: per rule, its (start, end) intervals. Times are shown in minutes from the start."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not samples:
        return []
    t0 = samples[0][0]
    minutes = [(s[0] - t0) / 60 for s in samples]
    written = []

    def save(fig, name: str) -> None:
        path = folder / name
        fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        written.append(path)

    fig, ax = plt.subplots(figsize=(12, 5))
    ax.plot(minutes, [s[1] for s in samples], color="black", linewidth=0.8, label="mid")
    ax.plot(minutes, [s[2] if s[2] is not None else float("nan") for s in samples], color="tab:green",
            linewidth=0.6, drawstyle="steps-post", label="our bid")
    ax.plot(minutes, [s[3] if s[3] is not None else float("nan") for s in samples], color="tab:red",
            linewidth=0.6, drawstyle="steps-post", label="our ask")
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        mine = [f for f in fills if f["side"] == side]
        ax.scatter([(f["ts"] - t0) / 60 for f in mine], [f["price"] for f in mine], marker=marker, color=color,
                   s=25, zorder=3, label=f"{side} fills")
    ax.set(title=f"{title}: price, our quotes and fills", xlabel="minutes", ylabel="price")
    ax.legend(loc="best", fontsize="small")
    save(fig, "price.png")

    for index, name, label in ((4, "inventory.png", "inventory (base units)"),
                               (5, "pnl.png", "cumulative mark-to-market PnL (quote)")):
        fig, ax = plt.subplots(figsize=(12, 3))
        ax.plot(minutes, [s[index] for s in samples], linewidth=0.8, drawstyle="steps-post")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set(title=f"{title}: {label}", xlabel="minutes")
        save(fig, name)

    rules = sorted(firing)
    fig, ax = plt.subplots(figsize=(12, max(2.0, 0.3 * len(rules) + 1)))
    for row, rule in enumerate(rules):
        ax.broken_barh([((a - t0) / 60, max((b - a) / 60, 1e-3)) for a, b in firing[rule]], (row - 0.4, 0.8))
    ax.set_yticks(range(len(rules)), rules, fontsize="small")
    ax.set_xlim(0, minutes[-1] or 1)
    ax.set(title=f"{title}: rule activity", xlabel="minutes")
    save(fig, "rules.png")
    return written
