"""Trading quality, measured: what the shipped guards do to edge on the simulated paper market.

    python benchmarks/trading_quality.py [--seeds 8] [--minutes 30] [--jobs 2]

Runs `lighter-bot run --simulated --duration S --summary FILE` (the CLI as an operator runs
it, in subprocesses so two cores are used) for each market seed twice: with the shipped
policies, and with every guard disabled (an empty policy folder, which needs
`runtime.allow_empty_policies: true`). Everything else is the repo's config.yaml, so the
paper venue is the shipped one (latency, queue position). Prints, per variant, the mean and
the standard deviation over seeds of realized and mark-to-market PnL (quote), fills,
max |inventory| (units) and the share of time quoted on both sides.

Same seeds, same market for both variants: the difference between the rows is the guards.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
METRICS = (("realized_pnl", "realized PnL", "{:+.3f}"), ("mtm_pnl", "MTM PnL", "{:+.3f}"),
           ("fills", "fills", "{:.1f}"), ("max_abs_inventory", "max |inv|", "{:.3f}"),
           ("quoted_both_sides_frac", "quoted both", "{:.3f}"))


def run_one(workdir: Path, variant: str, seed: int, seconds: float) -> dict:
    """One simulated run; returns the numbers of its summary this benchmark reports."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["venue"]["paper"]["seed"] = seed
    config["runtime"]["decision_log"] = str(workdir / f"{variant}-{seed}.jsonl")
    policies = REPO / "policies"
    if variant == "no guards":
        config["runtime"]["allow_empty_policies"] = True
        policies = workdir / "empty"
        policies.mkdir(exist_ok=True)
    config_path = workdir / f"{variant}-{seed}.yaml".replace(" ", "_")
    config_path.write_text(yaml.safe_dump(config))
    summary_path = workdir / f"{variant}-{seed}.json".replace(" ", "_")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", "from lighter_bot import main; main()", "run", "--simulated",
                    "--duration", str(seconds), "--config", str(config_path), "--policies", str(policies),
                    "--summary", str(summary_path)],
                   cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = json.loads(summary_path.read_text())
    return {"realized_pnl": summary["realized_pnl"], "mtm_pnl": summary["mtm_pnl"],
            "fills": summary["fills"]["total"], "max_abs_inventory": summary["max_abs_inventory"],
            "quoted_both_sides_frac": summary["quoted_both_sides_frac"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    variants = ("shipped policies", "no guards")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        work = Path(tmp)
        jobs = {(v, s): pool.submit(run_one, work, v, s, args.minutes * 60) for v in variants for s in seeds}
        results = {key: job.result() for key, job in jobs.items()}
    elapsed = time.perf_counter() - started
    paper = yaml.safe_load((REPO / "config.yaml").read_text())["venue"]["paper"]
    print(f"{args.seeds} seeds x {args.minutes:g} min, paper market from config.yaml (latency {paper['latency_s']} s"
          f" + {paper['response_latency_s']} s, queue position {'on' if paper['queue_position'] else 'off'},"
          f" {paper['queue_behind_touch_units']} units behind the touch); mean ± stdev over seeds")
    header = f"{'variant':<18}" + "".join(f"{label:>20}" for _, label, _ in METRICS)
    print(header)
    print("-" * len(header))
    for variant in variants:
        cells = []
        for key, _, fmt in METRICS:
            values = [results[(variant, s)][key] for s in seeds]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{fmt.format(statistics.mean(values))} ± {fmt.format(spread).lstrip('+')}")
        print(f"{variant:<18}" + "".join(f"{cell:>20}" for cell in cells))
    print(f"({len(results)} runs in {elapsed:.0f} s)")


if __name__ == "__main__":
    main()
