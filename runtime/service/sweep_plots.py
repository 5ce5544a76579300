"""sweep.png: each figure of the sweep table against the swept parameter (one parameter: lines,
best value marked; two: a heat map per figure). matplotlib is optional (`[plots]` extra)."""
from __future__ import annotations

from pathlib import Path

FIGURES = (("realized_pnl", "realized PnL"), ("mtm_pnl", "mark-to-market PnL"), ("max_abs_inventory", "max |inventory|"),
           ("fills", "fills"), ("paused_s", "paused s"))


def write_plot(path: Path, report: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = report["params"]
    rows = report["rows"]
    best = report["best"]["values"] if report["best"] else None
    fig, axes = plt.subplots(1, len(FIGURES), figsize=(4 * len(FIGURES), 3.6))
    if len(params) == 1:
        name = params[0]["name"]
        xs = [r["values"][name] for r in rows]
        for axis, (key, label) in zip(axes, FIGURES):
            axis.plot(xs, [r[key] for r in rows], marker="o", lw=1)
            if best is not None:
                axis.axvline(best[name], color="green", ls="--", lw=1)
            if key == "max_abs_inventory":
                axis.axhline(report["objective"]["max_abs_inventory"], color="red", ls=":", lw=1)
            axis.set_title(label, fontsize="small")
            axis.set_xlabel(name, fontsize="small")
    else:
        (a, b) = params
        grid = {(r["values"][a["name"]], r["values"][b["name"]]): r for r in rows}
        for axis, (key, label) in zip(axes, FIGURES):
            cells = [[grid[(x, y)][key] for x in a["values"]] for y in b["values"]]
            image = axis.imshow(cells, origin="lower", aspect="auto", cmap="viridis")
            axis.set_xticks(range(len(a["values"])), [f"{x:g}" for x in a["values"]], fontsize="x-small", rotation=90)
            axis.set_yticks(range(len(b["values"])), [f"{y:g}" for y in b["values"]], fontsize="x-small")
            if best is not None:
                axis.plot(a["values"].index(best[a["name"]]), b["values"].index(best[b["name"]]), "r*", ms=12)
            fig.colorbar(image, ax=axis)
            axis.set_title(label, fontsize="small")
            axis.set_xlabel(a["name"], fontsize="small")
            axis.set_ylabel(b["name"], fontsize="small")
    fig.suptitle(f"{report['market']} sweep: {report['objective']['text']} (best marked)", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
