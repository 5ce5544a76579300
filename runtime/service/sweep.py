"""`lighter-bot replay --sweep NAME=START:STOP:STEP`: the same data replayed for each value.

One or two parameters (policy params or config keys, sweep_spec.py); each (combination, data
file) pair is a task (sweep_worker.py) run in this process, in local worker processes or on
Ray (sweep_exec.py). The report (sweep_stats.py): a row per combination (realized and
mark-to-market PnL, max |inventory|, fills, paused time), the best by the stated objective
within an inventory bound, edge and noise warnings, and rules coverage per value and overall.
`sweep.json` and `sweep.md` are byte-identical wherever and however fast the sweep ran: rows in
value order, no wall-clock figure (timings go to stderr).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rules.errors import InputError
from rules.loader import read_policy_texts
from runtime.service import logs
from runtime.service import replay as replay_cli
from runtime.service import sweep_exec
from runtime.service.summary import write_report_pair
from runtime.service.sweep_spec import MAX_COMBINATIONS, combinations, parse_range, resolve
from runtime.service.sweep_stats import OBJECTIVES, aggregate, coverage, edge_warnings, noise_check, rank
from runtime.service.sweep_worker import DataSpec, PartsFactory, SweepTask

EXIT_OK, EXIT_PROBLEMS = 0, 1
SLICE_KEYS = ("slices_realized", "slices_mtm")


def add_arguments(replay: argparse.ArgumentParser) -> None:
    """The sweep's flags, on `lighter-bot replay`."""
    group = replay.add_argument_group("sweep (replay the same data for each value of one or two parameters)")
    group.add_argument("--sweep", action="append", type=parse_range, metavar="NAME=START:STOP:STEP",
                       help="a policy param (trend_guard.down_trigger_bps) or config key (maker.spread_bps) from "
                            "START to STOP by STEP; STOP is included when it lands on the grid; twice for a grid "
                            f"(at most {MAX_COMBINATIONS} combinations). Several --data files are replayed each "
                            "on its own (one task per value and file) and added up")
    group.add_argument("--objective", choices=sorted(OBJECTIVES), default="realized_pnl",
                       help="what the best value maximises (default: realized_pnl), among values within --max-inventory")
    group.add_argument("--max-inventory", type=_positive, metavar="UNITS",
                       help="a value whose max |inventory| exceeds this cannot be best (default: risk.max_position_units)")
    group.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help="local worker processes (default 1: in this process); with --ray auto, the CPUs of a "
                            "local Ray instance it starts")
    group.add_argument("--ray", metavar="ADDRESS",
                       help="run the tasks on Ray (pip install -e '.[cluster]'): a cluster address (host:6379, "
                            "ray://host:10001), or `auto`: a cluster already running on this machine, else a local "
                            "instance started for the sweep and shut down after")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _workers(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"expected a number of processes 1..256, got {text!r}")
    return int(text)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


# -- the command ------------------------------------------------------------------------------

def sweep(args: argparse.Namespace, config, backend, config_model, parts_factory: PartsFactory) -> int:
    logs.configure("WARNING", logging.StreamHandler(sys.stderr))
    started = time.perf_counter()
    if args.expect is not None:
        print("error: --assert checks one replay's summary; it does not apply to --sweep", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        price_range = None
        if args.profile is not None:
            config, price_range = replay_cli.apply_profile(config, args.profile, config_model)
        data = []
        for path in args.data:   # one task per (value, file): each file loaded (and cached) on its own
            loaded = backend.load_data([path], args.format, args.cache, args.start, args.end)
            replay_cli.check_market_fits(config, *loaded.price_range(), price_range, args.profile)
            data.append(loaded)
    except (backend.DataError, replay_cli.ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    texts = read_policy_texts([args.policies or Path(config.runtime.policies_dir)])
    params = resolve(args.sweep, texts, config.model_dump())
    try:
        combos = combinations(params, texts, config, config_model)
    except InputError:
        print(f"error: a swept value is refused ({', '.join(p.name for p in params)}):", file=sys.stderr)
        raise
    step = args.step or config.runtime.tick_interval_s
    bound = args.max_inventory if args.max_inventory is not None else config.risk.max_position_units
    tasks = [SweepTask(c, f, combo.config, combo.policy_texts, step)
             for c, combo in enumerate(combos) for f in range(len(data))]
    prepared = time.perf_counter()
    bar = _Progress(len(tasks)) if sys.stderr.isatty() else None
    done = bar.advance if bar else (lambda: None)
    try:
        if args.ray:
            where = f"Ray ({args.ray})"
            results = sweep_exec.run_ray(tasks, args.ray, args.workers if args.workers > 1 else None, data,
                                         parts_factory, done)
        elif args.workers > 1:
            where = f"{args.workers} worker processes"
            spec = DataSpec(tuple(args.data), args.format, args.cache, args.start, args.end)
            results = sweep_exec.run_local(tasks, args.workers, parts_factory, spec, done)
        else:
            where = "this process"
            results = sweep_exec.run_here(tasks, data, parts_factory(), done)
    except sweep_exec.SweepRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if bar:
            bar.close()
    report = build_report(params, combos, aggregate(results, len(combos), len(data)), data, step, args.objective,
                          bound, config.market.symbol)
    text = render(report)
    print(text)
    if args.report is not None:
        from runtime.service import replay_plots
        write_report_pair(args.report, "sweep", report, text)
        if not args.no_plots and replay_plots.can_plot():
            from runtime.service import sweep_plots
            sweep_plots.write_plot(args.report / "sweep.png", report)
    wall = time.perf_counter() - started
    print(f"swept {len(combos)} values x {len(data)} files = {len(tasks)} replays on {where} in {wall:.2f} s "
          f"(preparing {prepared - started:.2f} s)", file=sys.stderr)
    return EXIT_OK


def build_report(params, combos, rows: list[dict], data: list, step: float, objective: str, bound: float,
                 symbol: str) -> dict[str, Any]:
    """sweep.json: everything the table, the warnings and the plot show; no wall-clock figure."""
    order = rank(rows, objective, bound)
    warnings = []
    best = runner_up = noise = None
    if order and len(order) > 1 and len({rows[i][objective] for i in order}) == 1:
        warnings.append(f"flat: every value within the bound gives the same {OBJECTIVES[objective]} "
                        f"({rows[order[0]][objective]:g}); this data does not tell the values apart")
    elif order:
        warnings += edge_warnings(combos[order[0]].values, [(p.name, p.values) for p in params])
    if order:
        best = order[0]
        if len(order) > 1:
            runner_up = order[1]
            noise, more = noise_check(rows[best], rows[runner_up], objective)
            warnings += more
    else:
        warnings.append(f"bound: no value keeps max |inventory| within {bound:g}; no best value")
    out_rows = []
    for combo, row in zip(combos, rows):
        shown = {k: v for k, v in row.items() if k not in SLICE_KEYS}
        shown["values"] = {p.name: v for p, v in zip(params, combo.values)}
        shown["policies_version"] = combo.policies_version
        shown["within_inventory_bound"] = row["max_abs_inventory"] <= bound
        out_rows.append(shown)

    def point(i):
        return None if i is None else {"values": out_rows[i]["values"], objective: rows[i][objective]}
    return {
        "params": [{"name": p.name, "kind": p.kind, "values": list(p.values)} for p in params],
        "market": symbol,
        "data": [{"file": Path(d.datasets[0].path).name, "sha256": d.datasets[0].sha256, "start": _iso(d.start_ts),
                  "end": _iso(d.end_ts)} for d in data],
        "step_s": step,
        "objective": {"metric": objective, "max_abs_inventory": bound,
                      "text": f"maximise {OBJECTIVES[objective]} among values whose max |inventory| <= {bound:g}"},
        "rows": out_rows,
        "best": point(best),
        "runner_up": point(runner_up),
        "noise": noise,
        "warnings": warnings,
        "coverage": coverage(rows),
    }


def _value_label(values: dict, names: list[str]) -> str:
    return ", ".join(f"{values[name]:g}" for name in names)       # in --sweep order (sweep.json sorts keys)


def render(r: dict) -> str:
    names = [p["name"] for p in r["params"]]
    lines = [f"sweep of {' x '.join(names)} on {r['market']}: {len(r['rows'])} values",
             "data: " + "; ".join(f"{d['file']} {d['start']} .. {d['end']}" for d in r["data"]) + f", step {r['step_s']:g} s",
             f"objective: {r['objective']['text']}", ""]
    head = " / ".join(names)
    width = max(len(head), 12)
    lines.append(f"  {head:>{width}} {'realized PnL':>13} {'MTM PnL':>13} {'max |inv|':>10} {'fills':>6} {'paused s':>9}")
    best = r["best"]["values"] if r["best"] else None
    for row in r["rows"]:
        mark = "<- best" if row["values"] == best else ("(over bound)" if not row["within_inventory_bound"] else "")
        lines.append(f"  {_value_label(row['values'], names):>{width}} {row['realized_pnl']:>13.6f} {row['mtm_pnl']:>13.6f} "
                     f"{row['max_abs_inventory']:>10g} {row['fills']:>6} {row['paused_s']:>9g}  {mark}".rstrip())
    lines.append("")
    if best is not None:
        lines.append(f"best: {', '.join(f'{k} = {v:g}' for k, v in best.items())} "
                     f"({OBJECTIVES[r['objective']['metric']]} {r['best'][r['objective']['metric']]:g})")
    if r["noise"]:
        n = r["noise"]
        lines.append(f"best minus runner-up: {n['difference']:+.6g}, {n['confidence']:.0%} block-bootstrap interval "
                     f"[{n['interval'][0]:+.6g}, {n['interval'][1]:+.6g}] ({n['slices']} slices, blocks of "
                     f"{n['block_slices']}, {n['resamples']} resamples, seed {n['seed']})")
    for warning in r["warnings"]:
        lines.append(f"WARNING {warning}")
    cov = r["coverage"]
    lines += ["", "rules coverage: never fired under any value: " + (", ".join(cov["never_fired"]) or "-"),
              "  states never entered under any value: " + (", ".join(cov["never_entered"]) or "-")]
    for row in r["rows"]:
        extra_rules = sorted(set(row["never_fired"]) - set(cov["never_fired"]))
        extra_states = sorted(set(row["never_entered"]) - set(cov["never_entered"]))
        if extra_rules or extra_states:
            lines.append(f"  at {_value_label(row['values'], names)} also never fired: {', '.join(extra_rules) or '-'}; "
                         f"never entered: {', '.join(extra_states) or '-'}")
    return "\n".join(lines)


class _Progress:
    """Replays done of the sweep's total, on a terminal."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("sweeping"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                  transient=True)
        self._task = self._progress.add_task("sweep", total=total)
        self._progress.start()

    def advance(self) -> None:
        self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()
