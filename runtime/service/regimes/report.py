"""The analysis in words and files: `report.md` (and the generated docs page), slices CSV/JSON, buckets JSON.

The markdown states its inputs (which were available: a live ledger has no rules log), the bucket
edges and the test for "consistently negative", names the losing buckets, and lists each proposed
threshold with what its `policy diff` replay said. Nothing in the files depends on the wall clock.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from runtime.service.regimes.buckets import BucketStats
from runtime.service.regimes.candles import iso
from runtime.service.regimes.pipeline import Analysis

SEED_FINDINGS = ("the seed found PnL against inventory correlated at about -1.0, and down-trend 5-minute windows "
                 "averaging -13 quote against +16 in up-trends")


def _num(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if math.isnan(x) else round(x, 9) + 0.0
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def slices_rows(a: Analysis) -> list[dict]:
    t = a.table
    names = list(t.columns)
    rows = []
    for i in range(len(t)):
        row = {name: _num(t.columns[name][i]) for name in names}
        row["start"], row["end"] = iso(t["start_ts"][i]), iso(t["end_ts"][i])
        row["vol_bucket"], row["trend_bucket"] = a.vol_label[i], a.trend_label[i]
        if t.guards is not None:
            for rule, seconds in t.guards.items():
                row[f"guard:{rule}_s"] = _num(seconds[i])
        rows.append(row)
    return rows


def slices_csv(a: Analysis) -> str:
    rows = slices_rows(a)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue()
    if a.table.guards is None:
        text = "# guard columns: not available (no --rules file: a fills ledger alone does not record rules)\n" + text
    return text


def buckets_document(a: Analysis, verdicts=()) -> dict:
    o = a.options
    return {
        "window": {"start": iso(a.window[0]), "end": iso(a.window[1]), "slice_s": o.slice_s, "slices": len(a.table)},
        "measure": o.measure,
        "edges": {"vol_bps_terciles": [_num(e) for e in a.vol_edges], "trend_flat_bps": o.buckets.trend_flat_bps,
                  "vol_window_min": o.windows.vol_window_min, "trend_window_min": o.windows.trend_window_min},
        "consistently_negative_rule": f"at least {o.buckets.min_count} slices and the upper bound of the "
                                      f"{o.buckets.level:.0%} bootstrap CI of the mean < 0 "
                                      f"({o.buckets.resamples} resamples, seed {o.buckets.seed})",
        "buckets": {m: [{k: _num(v) for k, v in s.to_dict().items()} for s in stats] for m, stats in a.stats.items()},
        "by_trend": a.by_trend, "inventory": {m: {k: _num(v) for k, v in d.items()} for m, d in a.inventory.items()},
        "flags": {k: {kk: _num(vv) for kk, vv in v.items()} for k, v in a.flags.items()},
        "guards": None if a.guards is None else {r: {k: _num(v) for k, v in d.items()} for r, d in a.guards.items()},
        "suggestions": [s.to_dict() for s in a.suggestions],
        "verdicts": [v.to_dict() for v in verdicts],
    }


def _q(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:+.{digits}f}"


def _bucket_rows(stats: list[BucketStats]) -> list[str]:
    lines = ["| volatility | trend | slices | mean | 95 % CI | losing share | total |", "|---|---|---:|---:|---|---:|---:|"]
    for s in stats:
        ci = f"{_q(s.ci_low)} .. {_q(s.ci_high)}" if s.ci_low is not None else "-"
        star = " **consistently negative**" if s.consistently_negative else ""
        share = f"{s.negative_share:.0%}" if s.negative_share is not None else "-"
        lines.append(f"| {s.vol} | {s.trend}{star} | {s.count} | {_q(s.mean)} | {ci} | {share} | {_q(s.total)} |")
    return lines


def findings(a: Analysis, verdicts=()) -> list[str]:
    """The headline bullets, each read off the figures below it (nothing here is written by hand)."""
    m = a.options.measure
    out = []
    negative = a.negative_buckets()
    out.append("- consistently negative buckets (" + m + "): " + (", ".join(
        f"{s.vol} volatility / {s.trend}-trend ({s.count} slices, mean {_q(s.mean)}, CI {_q(s.ci_low)} .. "
        f"{_q(s.ci_high)})" for s in negative) or "none"))
    trend = a.by_trend[m]
    out.append(f"- down-trend slices averaged {_q(trend['down']['mean'])} against {_q(trend['up']['mean'])} in "
               f"up-trends ({m} PnL, quote per slice)")
    inv = a.inventory[m]
    out.append(f"- slice PnL against the inventory's carry: correlation {_q(inv['pnl_vs_carry'], 2)}; against the "
               f"inventory itself {_q(inv['pnl_vs_inventory'], 2)}")
    t = a.table
    traded = int(((t["fills"] > 0)).sum())
    last = float(a.ledger.ts[a.ledger.kind == "fill"][-1]) if (a.ledger.kind == "fill").any() else None
    if last is not None:
        out.append(f"- the bot was filled in {traded} of {len(t)} slices; its last fill was at {iso(last)} "
                   f"(with {(a.window[1] - last) / a.window_span:.0%} of the window still to run), leaving inventory "
                   f"{float(a.ledger.units[-1]):+g}")
    if a.rules is not None:
        for rule, spans in sorted(a.rules.intervals.items()):
            start, end = spans[-1]
            if end >= a.window[1] - 1.0 and (end - start) > 0.5 * a.window_span:
                out.append(f"- {rule} was firing from {iso(start)} to the end of the run "
                           f"({(end - start) / a.window_span:.0%} of the window)")
    if a.guards is not None:
        stuck = [(r, g) for r, g in a.guards.items() if g["stuck"]]
        if stuck:
            out.append("- engaged in more than half the slices: " + ", ".join(
                f"{r} ({g['slices'] / len(a.table):.0%})" for r, g in stuck))
    recommended = [v for v in verdicts if v.recommended]
    if verdicts:
        out.append("- threshold changes the replay confirms: " + (", ".join(
            f"{v.suggestion.key} {v.suggestion.current:g} -> {v.suggestion.proposed:g} (mark-to-market "
            f"{_q(v.mtm_delta)})" for v in recommended) or "none (every screened change lost or changed nothing "
                                                            "in the replay)"))
    elif a.suggestions:
        out.append(f"- threshold changes screened, not replayed (no --data): {len(a.suggestions)}")
    else:
        out.append("- no threshold change screened better than the current settings")
    return out


def render(a: Analysis, inputs: dict[str, str], plots: list[str], verdicts=(), commands: list[str] = (),
           title: str = "SOL regime analysis", caveats: list[str] = ()) -> str:
    """`inputs`: what each input was ("ledger", "candles", "rules", "replay"); `plots`: PNG paths
    relative to the markdown; `commands`: the command lines that produced it (for the docs page)."""
    o, t = a.options, a.table
    m = o.measure
    pnl = a.pnl()
    losing = int(np.count_nonzero(pnl < 0))
    lines = [f"# {title}", ""]
    if commands:
        lines += ["Produced by:", "", "```sh", *commands, "```", ""]
    lines += ["## Findings", ""] + findings(a, verdicts) + [""]
    if caveats:
        lines += ["## Caveats", ""] + [f"- {c}" for c in caveats] + [""]
    lines += ["## Inputs", ""]
    lines += [f"- {name}: {text}" for name, text in inputs.items()]
    lines += [f"- window: {iso(a.window[0])} .. {iso(a.window[1])}, {len(t)} slices of {o.slice_s:g} s",
              f"- fills: {int(t['fills'].sum())} ({int(t['maker_fills'].sum())} maker, {int(t['taker_fills'].sum())} "
              f"taker, of which {int(t['hedge_taker_fills'].sum())} hedger taker fills)"]
    if a.ledger.skipped:
        lines += [f"- skipped: {s}" for s in a.ledger.skipped]
    lines += ["", "## PnL per slice", "",
              f"Two measures per slice: *realized* (FIFO, fees deducted, what the PnL guard reads) and *mark-to-market* "
              f"(cash plus inventory marked at the candle close: it also counts the inventory's drift). The buckets "
              f"and the suggestions judge **{'mark-to-market' if m == 'mtm' else 'realized'}** PnL (`--pnl {m}`).", "",
              f"- realized: total {_q(float(t['realized_pnl'].sum()))}; mark-to-market: total "
              f"{_q(float(t['mtm_pnl'].sum()))} (quote)",
              f"- losing slices ({m}): {losing} of {len(t)}; winning: {int(np.count_nonzero(pnl > 0))}; flat: "
              f"{int(np.count_nonzero(pnl == 0))}",
              f"- slices without regime features (their look-back reaches before the candles): "
              f"{int(np.count_nonzero((a.vol_label == '') | (a.trend_label == '')))} (in no bucket)",
              ""]
    lines += ["## PnL by volatility x trend", "",
              f"Volatility: sigma of 1-minute log returns over the last {o.windows.vol_window_min} minutes at the "
              f"slice's end, in bps per 1-minute step, split at its terciles over these slices "
              f"({a.vol_edges[0]:.2f} and {a.vol_edges[1]:.2f} bps). Trend: close-to-close change over the last "
              f"{o.windows.trend_window_min} minutes; down below -{o.buckets.trend_flat_bps:g} bps, up above "
              f"+{o.buckets.trend_flat_bps:g} bps. *Consistently negative*: at least {o.buckets.min_count} slices and "
              f"the upper bound of the {o.buckets.level:.0%} bootstrap confidence interval of the mean below zero "
              f"({o.buckets.resamples} resamples, seed {o.buckets.seed}).", ""]
    for measure in (m, "realized" if m == "mtm" else "mtm"):
        lines += [f"### {'mark-to-market' if measure == 'mtm' else 'realized'} PnL", ""]
        lines += _bucket_rows(a.stats[measure])
        negative = a.negative_buckets(measure)
        lines += ["", "Consistently negative: " + (", ".join(f"{s.vol} volatility / {s.trend}-trend "
                                                             f"({s.count} slices, mean {_q(s.mean)})" for s in negative)
                                                  or "none (no bucket's interval lies below zero)"), ""]
    trend = a.by_trend[m]
    inv = a.inventory[m]
    lines += ["## Trend and inventory", "",
              f"- mean {m} PnL per slice: down-trend {_q(trend['down']['mean'])} ({trend['down']['count']} slices), "
              f"flat {_q(trend['flat']['mean'])} ({trend['flat']['count']}), up-trend {_q(trend['up']['mean'])} "
              f"({trend['up']['count']})",
              f"- correlation of slice PnL with the inventory held at its start: {_q(inv['pnl_vs_inventory'], 2)}; "
              f"with the carry (that inventory times the slice's price move): {_q(inv['pnl_vs_carry'], 2)} "
              f"({_q(inv['pnl_vs_carry_when_holding'], 2)} over the {inv['slices_holding']} slices holding inventory)",
              f"- for comparison, {SEED_FINDINGS}.", ""]
    lines += ["## Guards, hedger, inventory", ""]
    for name, label in (("hedge_taker_fills", "slices with hedger taker fills"),
                        ("excursion", f"inventory excursions (|inventory| >= {o.excursion_units:g})")):
        f = a.flags[name]
        lines.append(f"- {label}: {f['slices']}; mean PnL with {_q(f['mean_with'])}, without {_q(f['mean_without'])}")
    if a.guards is None:
        lines += ["- guard engagements: not available (no `--rules` file; a fills ledger does not record which "
                  "rules fired: pass a replay report's rules.jsonl)"]
    else:
        lines += ["", "| rule | slices engaged | mean PnL engaged | mean PnL not engaged | seconds firing |",
                  "|---|---:|---:|---:|---:|"]
        for rule, g in a.guards.items():
            stuck = " (engaged in more than half the slices)" if g["stuck"] else ""
            lines.append(f"| {rule}{stuck} | {g['slices']} | {_q(g['mean_with'])} | {_q(g['mean_without'])} | "
                         f"{g['seconds']:.0f} |")
    lines += ["", "## Suggested thresholds", "",
              "Screened on the slices' 1-minute guard analogues (the lowest 1-minute change for the down-trend "
              "trigger, the highest for the up-trend one, the highest 45 s-half-life EWMA volatility for the "
              "pause), then each replayed with `policy diff` against the policies on the same data. Recommended only "
              "when that replay's mark-to-market PnL improves.", ""]
    verdict_by_key = {v.suggestion.key: v for v in verdicts}
    if not a.suggestions:
        lines.append("No threshold change: no candidate value covered the losing slices better than the current "
                     "settings without covering as many winning ones.")
    for s in a.suggestions:
        v = verdict_by_key.get(s.key)
        if v is None:
            lines.append(f"- {s.sentence()}. Not checked by a replay (no `--data`): not a recommendation.")
        else:
            word = "**recommended**" if v.recommended else "not recommended"
            lines.append(f"- {s.sentence()}. `policy diff` on the same data: mark-to-market PnL {_q(v.mtm_delta)}, "
                         f"realized {_q(v.realized_delta)}, fills {v.diff['metrics']['fills']['delta']:+d}, effects "
                         f"differ on {v.diff['ticks']['differing_ticks']} ticks: {word}"
                         + (f" (`{v.folder}`)" if v.folder else ""))
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def write_datasets(folder: Path, a: Analysis, verdicts=()) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    (folder / "slices.csv").write_text(slices_csv(a))
    (folder / "slices.json").write_text(json.dumps(slices_rows(a), indent=1, sort_keys=True) + "\n")
    (folder / "buckets.json").write_text(json.dumps(buckets_document(a, verdicts), indent=2, sort_keys=True,
                                                    default=_num) + "\n")
    written += [folder / "slices.csv", folder / "slices.json", folder / "buckets.json"]
    return written
