"""`lighter-bot policy diff A B --data FILE...`: what an edit to the policies would have done.

A and B are policy folders, or git revisions of `policies/` (`HEAD~1`, `main`; `WORKTREE` is
the working tree's `policies/`). The same data is replayed twice, each run deterministic and
independent (not shadow mode: a changed quote changes the fills, and the fills feed back into
inventory and PnL). The report: the policy-level diff (what the reload log shows), the ticks
where the applied effects differ (each run records every tick's merged effects), the rules
that fire more or less, the change in PnL, fees, fills, inventory, time quoted and time paused,
and the rules that never fired in either run (coverage). Terminal table, `diff.json`
(deterministic: no wall-clock figure, no temporary path), `diff.png`.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rules.engine import PolicyEngine
from rules.errors import PolicyError, Problem
from rules.loader import POLICY_SUFFIXES, load_texts, read_policy_texts
from runtime.catalog import FEATURE_NAMES
from runtime.market import market_spec
from runtime.service import logs
from runtime.service import replay as replay_cli
from runtime.service.reload import describe_changes
from runtime.service.summary import write_report_pair

EXIT_OK, EXIT_PROBLEMS = 0, 1
WORKTREE = "WORKTREE"
FIRST_TIMES = 5


def add_parser(policy_sub) -> None:
    diff = policy_sub.add_parser("diff", help="replay the same data under two policy sets (folders or git "
                                              "revisions of policies/) and report what changed")
    diff.add_argument("a", metavar="A", help="policy folder, or a git revision of policies/ (HEAD~1, main, WORKTREE)")
    diff.add_argument("b", metavar="B", help="the same for the edited set")
    diff.add_argument("--data", type=Path, nargs="+", required=True, metavar="FILE", help="recorded data files")
    diff.add_argument("--format", help="force the format of every --data file")
    diff.add_argument("--config", type=Path, help="config file (default: ./config.yaml if present)")
    diff.add_argument("--profile", type=Path, help="market profile laid over the config (profiles/*.yaml)")
    diff.add_argument("--report", type=Path, metavar="DIR", help="write diff.json (and diff.png) here")
    diff.add_argument("--from", dest="start", type=replay_cli._when, metavar="T", help="start (ISO time or epoch s)")
    diff.add_argument("--to", dest="end", type=replay_cli._when, metavar="T", help="end (ISO time or epoch s)")
    diff.add_argument("--step", type=replay_cli._step, metavar="S", help="tick interval in seconds")
    diff.add_argument("--no-plots", action="store_true", help="do not draw diff.png")
    diff.add_argument("--cache", type=Path, metavar="DIR", help="columnar cache folder")


# -- the two policy sets ----------------------------------------------------------------------

def _git(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *argv], capture_output=True, text=True, check=False)


def policy_texts(spec: str, label: str) -> list[tuple[Path | str, str]]:
    """The (name, text) of every policy file of `spec`: a folder, WORKTREE, or a git revision.
    Files read from a revision are named `REV:policies/FILE`, so a problem is located there."""
    if spec == WORKTREE:
        top = _git("rev-parse", "--show-toplevel")
        if top.returncode != 0:
            raise PolicyError([Problem(label, 0, 0, "", f"{WORKTREE}: not inside a git repository")])
        spec = str(Path(top.stdout.strip()) / "policies")
    path = Path(spec)
    if path.is_dir():
        texts = read_policy_texts([path])
        if not texts:
            raise PolicyError([Problem(path, 0, 0, "", f"{label}: no policy files (*.yaml) in this folder")])
        return texts
    if path.exists():
        raise PolicyError([Problem(path, 0, 0, "", f"{label}: not a folder (expected a policy folder or a git "
                                                   "revision)")])
    rev = _git("rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}") if not spec.startswith("-") else None
    if rev is None or rev.returncode != 0:
        raise PolicyError([Problem(spec, 0, 0, "", f"{label}: no such policy folder, and not a git revision here")])
    # `policies/` of the repository's top level (as for WORKTREE), from any folder inside it
    listing = _git("ls-tree", "--full-tree", "--name-only", spec, "policies/")
    names = sorted(Path(n).name for n in listing.stdout.splitlines() if Path(n).suffix in POLICY_SUFFIXES
                   and not Path(n).name.startswith("."))
    if not names:
        raise PolicyError([Problem(f"{spec}:policies/", 0, 0, "", f"{label}: no policy files (*.yaml) at "
                                                                          "this revision")])
    texts: list[tuple[Path | str, str]] = []
    for name in names:
        shown = _git("show", f"{spec}:policies/{name}")
        if shown.returncode != 0:
            raise PolicyError([Problem(f"{spec}:policies/{name}", 0, 0, "", shown.stderr.strip())])
        texts.append((f"{spec}:policies/{name}", shown.stdout))
    return texts


# -- one run ----------------------------------------------------------------------------------

class TickLog:
    """Every tick of one run: its time, the applied (merged) effects, MTM PnL and inventory."""

    def __init__(self):
        self.ts: list[float] = []
        self.effects: list[tuple] = []
        self.mtm: list[float] = []
        self.inventory: list[float] = []

    def __call__(self, now: float, trader) -> None:
        values = trader.features.values
        self.ts.append(now)
        self.effects.append(trader.effects)
        self.mtm.append(values["realized_pnl_total"] + values["unrealized_pnl"])
        self.inventory.append(values["inventory_units"])


def _run(config, data, backend, policies, step: float):
    venue = backend.open_venue(data, market_spec(config.market), config.venue.replay)
    ticks = TickLog()
    recorder = replay_cli.run_replay(config, data, venue, policies, step, [], observers=(ticks,))
    summary = recorder.summary()
    summary["quoted_s"] = round(recorder.had_both_s, 3)
    return summary, ticks


# -- comparing --------------------------------------------------------------------------------

def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def differing_ticks(a: TickLog, b: TickLog, step: float) -> dict[str, Any]:
    """Where the applied effects differ: count, first times, stretches, the effects involved."""
    n = max(len(a.ts), len(b.ts))
    fields = Counter()
    stretches: list[tuple[int, int]] = []       # [first, last] tick indices
    differing = 0
    for i in range(n):
        ea = a.effects[i] if i < len(a.effects) else None
        eb = b.effects[i] if i < len(b.effects) else None
        if ea == eb:
            continue
        differing += 1
        if ea is not None and eb is not None:
            for name, x, y in zip(ea._fields, ea, eb):
                if x != y:
                    fields[name] += 1
        if stretches and stretches[-1][1] == i - 1:
            stretches[-1] = (stretches[-1][0], i)
        else:
            stretches.append((i, i))
    times = a.ts if len(a.ts) >= len(b.ts) else b.ts
    longest = max(stretches, key=lambda s: (s[1] - s[0], -s[0])) if stretches else None

    def span(s):
        return {"from": _iso(times[s[0]]), "to": _iso(times[s[1]]), "ticks": s[1] - s[0] + 1,
                "seconds": round(times[s[1]] - times[s[0]] + step, 3)}
    return {
        "ticks": n,
        "differing_ticks": differing,
        "differing_seconds": round(differing * step, 3),
        "first_times": [_iso(times[s[0]]) for s in stretches[:FIRST_TIMES]],
        "stretches": len(stretches),
        "longest_stretch": span(longest) if longest else None,
        "effects": dict(sorted(fields.items())),
        "_spans": [(times[s[0]], times[s[1]] + step) for s in stretches],
    }


def _num(x: float) -> float:
    if isinstance(x, int):
        return x
    return round(x, 9) + 0.0        # no -0.0 in the report


METRICS = (  # key in diff.json, label, how to read it from a run summary
    ("realized_pnl", "realized PnL", lambda s: s["realized_pnl"]),
    ("mtm_pnl", "mark-to-market PnL", lambda s: s["mtm_pnl"]),
    ("fees", "fees", lambda s: s["fees"]),
    ("fills", "fills", lambda s: s["fills"]["total"]),
    ("max_abs_inventory", "max |inventory|", lambda s: s["max_abs_inventory"]),
    ("quoted_s", "time quoted both sides (s)", lambda s: s["quoted_s"]),
    ("paused_s", "time paused (s)", lambda s: round(sum(s["paused_seconds"].values()), 3)),
)


def compare(sa: dict, sb: dict, ta: TickLog, tb: TickLog, step: float, edited: set[str]) -> dict[str, Any]:
    """`edited`: the rules whose definition differs between A and B (the others that fire
    differently do so through feedback: other fills, other inventory)."""
    metrics = {}
    for key, _, read in METRICS:
        a, b = read(sa), read(sb)
        metrics[key] = {"a": _num(a), "b": _num(b), "delta": _num(b - a)}
    rules = {}
    for rule in sorted(sa["rules"].keys() | sb["rules"].keys()):
        ra = sa["rules"].get(rule, {"fired": 0, "active_s": 0.0})
        rb = sb["rules"].get(rule, {"fired": 0, "active_s": 0.0})
        if ra != rb:
            rules[rule] = {"fired": {"a": ra["fired"], "b": rb["fired"], "delta": rb["fired"] - ra["fired"]},
                           "active_s": {"a": ra["active_s"], "b": rb["active_s"],
                                        "delta": _num(round(rb["active_s"] - ra["active_s"], 3))},
                           "edited": rule in edited}
    paused = {}
    for policy in sorted(sa["paused_seconds"].keys() | sb["paused_seconds"].keys()):
        a, b = sa["paused_seconds"].get(policy, 0.0), sb["paused_seconds"].get(policy, 0.0)
        if a != b:
            paused[policy] = {"a": a, "b": b, "delta": _num(round(b - a, 3))}
    return {"ticks": differing_ticks(ta, tb, step), "metrics": metrics, "rules": rules, "paused_by_policy": paused,
            "never_fired": sorted(set(sa["never_fired"]) & set(sb["never_fired"])),
            "never_fired_only_in_a": sorted(set(sa["never_fired"]) - set(sb["never_fired"])),
            "never_fired_only_in_b": sorted(set(sb["never_fired"]) - set(sa["never_fired"])),
            "never_entered": sorted(set(sa["never_entered"]) & set(sb["never_entered"]))}


def diff_sets(config, data, backend, a: tuple[str, Any], b: tuple[str, Any], step: float, baseline=None):
    """Replay `data` under the sets A and B (each a (spec, compiled set) pair) and compare them:
    (the diff.json document, A's (summary, tick log), B's tick log, the differing spans). `baseline`, A's (summary,
    tick log) from an earlier call, spares replaying A again (`lighter-bot analyze` checks several
    edits against the same A)."""
    (spec_a, policies_a), (spec_b, policies_b) = a, b
    summary_a, ticks_a = baseline or _run(config, data, backend, policies_a, step)
    summary_b, ticks_b = _run(config, data, backend, policies_b, step)
    swap = PolicyEngine(policies_a).swap(policies_b)
    changes = describe_changes(policies_a, policies_b, swap)
    report = compare(summary_a, summary_b, ticks_a, ticks_b, step, set(swap.changed + swap.added + swap.removed))
    spans = report["ticks"].pop("_spans")
    out = {
        "a": {"spec": spec_a, "version": policies_a.version, "rules": len(policies_a.rules)},
        "b": {"spec": spec_b, "version": policies_b.version, "rules": len(policies_b.rules)},
        "policy_changes": changes,
        "data": {"files": [f["name"] for f in data.describe()["files"]], "start": _iso(data.start_ts),
                 "end": _iso(data.end_ts)},
        "step_s": step,
        **report,
    }
    out["no_difference"] = (report["ticks"]["differing_ticks"] == 0 and not report["rules"]
                            and all(m["delta"] == 0 for m in report["metrics"].values()))
    return out, (summary_a, ticks_a), ticks_b, spans


# -- the command ------------------------------------------------------------------------------

def diff(args: argparse.Namespace, config, backend, config_model) -> int:
    logs.configure("WARNING", logging.StreamHandler(sys.stderr))
    started = time.perf_counter()
    texts_a = policy_texts(args.a, "A")
    texts_b = policy_texts(args.b, "B")
    policies_a = load_texts(texts_a, FEATURE_NAMES)
    policies_b = load_texts(texts_b, FEATURE_NAMES)
    try:
        config, data = replay_cli.load_market_data(args, config, backend, config_model)
    except (backend.DataError, replay_cli.ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    step = args.step or config.runtime.tick_interval_s
    out, (_, ticks_a), ticks_b, spans = diff_sets(config, data, backend, (args.a, policies_a), (args.b, policies_b),
                                                  step)
    text = render(out)
    print(text)
    if args.report is not None:
        from runtime.service import replay_plots
        write_report_pair(args.report, "diff", out, text)
        if not args.no_plots and replay_plots.can_plot():
            write_plot(args.report / "diff.png", ticks_a, ticks_b, spans, args.a, args.b)
    print(f"replayed {len(ticks_a.ts)} + {len(ticks_b.ts)} ticks in {time.perf_counter() - started:.2f} s",
          file=sys.stderr)
    return EXIT_OK


def _signed(x: float) -> str:
    return "0" if x == 0 else f"{x:+.6g}"


def render(d: dict) -> str:
    t = d["ticks"]
    lines = [f"policy diff  A = {d['a']['spec']} ({d['a']['version'][:12]}, {d['a']['rules']} rules)  "
             f"B = {d['b']['spec']} ({d['b']['version'][:12]}, {d['b']['rules']} rules)",
             f"data: {', '.join(d['data']['files'])}  {d['data']['start']} .. {d['data']['end']}, step {d['step_s']:g} s",
             "", "policy changes:"]
    lines += [f"  {c}" for c in d["policy_changes"]] or ["  (none)"]
    lines.append("")
    if d["no_difference"]:
        lines.append(f"no difference: identical effects on every one of {t['ticks']} ticks; every delta is zero")
    else:
        lines.append(f"effects differ on {t['differing_ticks']} of {t['ticks']} ticks ({t['differing_seconds']:g} s) "
                     f"in {t['stretches']} stretches")
        if t["longest_stretch"]:
            ls = t["longest_stretch"]
            lines.append(f"  longest: {ls['from']} .. {ls['to']} ({ls['ticks']} ticks, {ls['seconds']:g} s)")
            lines.append(f"  first: {', '.join(t['first_times'])}")
            lines.append("  effects: " + ", ".join(f"{k} ({n} ticks)" for k, n in t["effects"].items()))
    lines += ["", f"  {'':28} {'A':>14} {'B':>14} {'B - A':>14}"]
    for key, label, _ in METRICS:
        m = d["metrics"][key]
        lines.append(f"  {label:28} {m['a']:>14.6g} {m['b']:>14.6g} {_signed(m['delta']):>14}")
    if d["rules"]:
        lines += ["", f"  {'rule':36} {'fired A':>8} {'fired B':>8} {'delta':>6} {'active s A':>11} "
                      f"{'active s B':>11} {'delta':>9}"]
        for rule, r in d["rules"].items():
            f, a = r["fired"], r["active_s"]
            name = rule + (" *" if r["edited"] else "")
            lines.append(f"  {name:36} {f['a']:>8} {f['b']:>8} {_signed(f['delta']):>6} {a['a']:>11g} {a['b']:>11g} "
                         f"{_signed(a['delta']):>9}")
        lines.append("  (* edited rule; the others fire differently through feedback: other fills, inventory)")
    lines += ["", "rules coverage: never fired in either run: " + (", ".join(d["never_fired"]) or "-")]
    lines.append("  states never entered in either run: " + (", ".join(d["never_entered"]) or "-"))
    if d["never_fired_only_in_a"]:
        lines.append("  never fired under A only: " + ", ".join(d["never_fired_only_in_a"]))
    if d["never_fired_only_in_b"]:
        lines.append("  never fired under B only: " + ", ".join(d["never_fired_only_in_b"]))
    return "\n".join(lines)


def write_plot(path: Path, a: TickLog, b: TickLog, spans, label_a: str, label_b: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t0 = a.ts[0] if a.ts else 0.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for axis, field, title in ((top, "mtm", "cumulative mark-to-market PnL"), (bottom, "inventory", "inventory")):
        axis.plot([(t - t0) / 60 for t in a.ts], getattr(a, field), label=f"A {label_a}", lw=1)
        axis.plot([(t - t0) / 60 for t in b.ts], getattr(b, field), label=f"B {label_b}", lw=1, ls="--")
        for start, end in spans:
            axis.axvspan((start - t0) / 60, (end - t0) / 60, color="orange", alpha=0.2, lw=0)
        axis.set_ylabel(title)
        axis.legend(loc="best", fontsize="small")
    bottom.set_xlabel("minutes from start (shaded: effects differ)")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
