"""Wall time of one `lighter-bot replay --sweep` here, on local worker processes and on Ray.

The same sweep (10 values of maker.spread_bps, 4..13 bps) over SOL perp 1-minute klines
(../shared/data/klines_1m, from 2025-05-10T00:00Z for --hours, 1 s step), run as the command a
trader types, each in a fresh process (so Ray's start-up and the workers' imports are counted):

- `--workers 1` (every replay in the command's own process),
- `--workers 2` (two spawned processes),
- `--ray auto --workers 2` (a local Ray instance with 2 CPUs, started and shut down by the command).

Prints each wall time, the ratio to `--workers 1`, and whether the three sweep.json files are
byte-identical (they must be). The cache is filled once before timing.

    python benchmarks/sweep_wall_time.py [--data-dir ../shared/data] [--hours 12] [--repeat 2]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILE = "klines_1m/SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv"
START = "2025-05-10T00:00:00Z"
SWEEP = "maker.spread_bps=4:13:1"
MODES = (("workers 1", ("--workers", "1")), ("workers 2", ("--workers", "2")),
         ("ray local (2 CPUs)", ("--ray", "auto", "--workers", "2")))


def command(data: Path, hours: float, cache: Path, report: Path, extra: tuple[str, ...]) -> list[str]:
    end = (datetime.fromisoformat(START.replace("Z", "+00:00")) + timedelta(hours=hours)).isoformat()
    return [sys.executable, "-c", "from lighter_bot import main; main()", "replay", "--data", str(data),
            "--profile", str(REPO / "profiles" / "market_2.yaml"), "--policies", str(REPO / "policies"),
            "--from", START, "--to", end, "--step", "1", "--sweep", SWEEP, "--cache", str(cache),
            "--report", str(report), "--no-plots", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    data = args.data_dir / FILE
    if not data.is_file():
        raise SystemExit(f"{data} is absent: this benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        subprocess.run([sys.executable, "-c", "from lighter_bot import main; main()", "data", "convert", str(data),
                        "--cache", str(cache)], cwd=REPO, check=True, capture_output=True)
        print(f"sweep {SWEEP} (10 values) over {args.hours:g} h of {data.name} from {START}, step 1 s; "
              f"{args.repeat} runs each, fresh process per run")
        walls: dict[str, list[float]] = {}
        for run in range(args.repeat):
            for label, extra in MODES:
                report = Path(tmp) / f"{label.split()[0]}-{extra[-1]}-{run}"
                started = time.perf_counter()
                done = subprocess.run(command(data, args.hours, cache, report, extra), cwd=REPO, capture_output=True,
                                      text=True)
                walls.setdefault(label, []).append(time.perf_counter() - started)
                if done.returncode != 0:
                    raise SystemExit(f"{label}: exit {done.returncode}\n{done.stderr}")
        base = statistics.median(walls["workers 1"])
        for label, _ in MODES:
            values = walls[label]
            print(f"  {label:20} {min(values):7.2f}-{max(values):7.2f} s wall   x{base / statistics.median(values):.2f} "
                  "vs workers 1 (medians)")
        reports = sorted(Path(tmp).glob("*/sweep.json"))
        same = len({r.read_bytes() for r in reports}) == 1
        print(f"  sweep.json byte-identical across all {len(reports)} runs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
