"""Replay throughput on the Binance BTCUSDT L2 capture (../shared/data/l2_binance_raw, 8 minutes).

Prints, on one process:
- conversion time of the two raw files into the columnar cache (cold cache);
- replay throughput in price-level events per second through the whole loop (replay venue with
  its book and fill model + the full core: features, policies, maker, hedger, risk gate) at 100 ms
  and 10 ms steps, from the cache: with idle ticks skipped, as `lighter-bot replay` runs (ticks that
  provably do nothing are counted, not run; same result), and with every tick run;
- the whole `lighter-bot replay` command's wall time, cold (empty cache) and warm, and its peak RSS;
- the same on a capture twice as long (the issue's "and the same for a replay twice as long"): no
  longer capture exists, so it is the real one followed by a time-shifted copy of itself, its update
  ids continuing the depth sequence (benchmarks/double_capture.py; `--skip-double` leaves it out).

    PYTHONPATH=. python benchmarks/replay_throughput.py [--data-dir ../shared/data] [--repeat 3] [--skip-double]

With hftbacktest installed (`pip install -e '.[bench]'`), the same run then measures it on the same
files at the same steps (benchmarks/hftbacktest_peer.py) and prints our throughput as a ratio of
its: this machine is noisy, so only figures from one run are compared.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.replay import load_data, open_venue  # noqa: E402
from adapters.replay.cache import load  # noqa: E402
from lighter_bot import load_config  # noqa: E402
from rules.loader import load_policy_set  # noqa: E402
from runtime.catalog import FEATURE_NAMES  # noqa: E402
from runtime.market import market_spec  # noqa: E402
from runtime.service.loop import SimulatedClock, run_trader  # noqa: E402
from runtime.service.replay import apply_profile  # noqa: E402
from runtime.trader import Trader  # noqa: E402

FILES = ("l2_binance_raw/BTCUSDT_binance-usdm_raw_20240718.ndjson.gz",
         "l2_binance_raw/BTCUSDT_binance-usdm_raw_20240719.ndjson.gz")


def replay_once(paths, cache: Path, step: float, config, skip_idle: bool = True) -> tuple[float, int, int]:
    data = load_data(paths, cache_dir=cache)
    policies = load_policy_set([REPO / "policies"], FEATURE_NAMES)
    venue = open_venue(data, market_spec(config.market), config.venue.replay)
    trader_box = []

    async def main():
        await venue.start()
        trader = Trader(config, venue.market, policies, venue_name="replay", start_ts=data.start_ts,
                        supports_modify=True)
        trader_box.append(trader)
        await run_trader(trader, venue, SimulatedClock(data.start_ts, yield_to_loop=False),
                         tick_interval_s=step,
                         duration_s=data.end_ts - data.start_ts,
                         next_venue_event=venue.next_event_ts if skip_idle else None)

    started = time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - started
    return wall, data.levels, trader_box[0].orders.fills_total


# The command reports its own peak from /proc (VmHWM: the high-water mark of the memory it mapped
# after exec). ru_maxrss would not do: on Linux it keeps the forking process's resident size across
# exec, so a child of this benchmark (190 MB, 330 MB once hftbacktest is loaded) reported that.
_COMMAND = ("import atexit, sys\n"
            "def _peak():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            sys.stderr.write('VmHWM ' + line.split()[1] + '\\n')\n"
            "atexit.register(_peak)\n"
            "from lighter_bot import main\n"
            "main()\n")


def command(paths, cache: Path) -> tuple[float, int]:
    """Wall time and peak RSS (MB) of one `replay` command."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    args = [sys.executable, "-c", _COMMAND, "replay", "--data", *map(str, paths),
            "--profile", str(REPO / "profiles" / "market_1.yaml"), "--policies", str(REPO / "policies"),
            "--cache", str(cache), "--step", "0.1"]
    started = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"replay command failed:\n{done.stderr}")
    peak_kb = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("VmHWM ")]
    return wall, peak_kb[-1] // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-double", action="store_true",
                        help="leave out the command on the capture twice as long (double_capture.py)")
    args = parser.parse_args()
    paths = [args.data_dir / f for f in FILES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {missing[0]}: pass --data-dir (the folder of ../shared/data)")
    config, _ = apply_profile(load_config(None), REPO / "profiles" / "market_1.yaml", type(load_config(None)))
    config = config.model_copy()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        convert = []
        for i in range(args.repeat):
            fresh = Path(tmp) / f"conv{i}"
            started = time.perf_counter()
            for path in paths:
                load(path, cache_dir=fresh)
            convert.append(time.perf_counter() - started)
        print(f"conversion (2 raw files, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB gz): "
              f"median {statistics.median(convert):.2f} s of {args.repeat}")
        for path in paths:
            load(path, cache_dir=cache)
        ours: dict[float, float] = {}
        for step in (0.1, 0.01):
            for label, skip in (("idle ticks skipped (as `replay` runs)", True), ("every tick run", False)):
                runs = [replay_once(paths, cache, step, config, skip) for _ in range(args.repeat)]
                walls = sorted(r[0] for r in runs)
                levels, fills = runs[0][1], runs[0][2]
                print(f"replay at {step * 1000:g} ms steps, {label}: {levels} price-level events, {fills} fills; "
                      f"median {statistics.median(walls):.2f} s = {levels / statistics.median(walls) / 1e6:.2f} M level "
                      f"events/s (best {levels / walls[0] / 1e6:.2f} M)")
                if skip:
                    ours[step] = levels / statistics.median(walls)
        print(f"in-process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
        peer(paths, levels, ours, args.repeat)
        cold, warm, peaks = command_figures(paths, Path(tmp), args.repeat, "cmd")
        print(f"`lighter-bot replay` (100 ms steps, BTC profile) wall time: cold median {statistics.median(cold):.2f} s, "
              f"warm median {statistics.median(warm):.2f} s; peak RSS of the command {max(peaks.values())} MB")
        if not args.skip_double:
            double_figures(paths, Path(tmp), args.repeat)


def command_figures(paths, tmp: Path, repeat: int, tag: str) -> tuple[list[float], list[float], dict[str, int]]:
    """Wall times of `repeat` cold (fresh cache) and warm runs of the command, and the peak RSS (MB)
    of each kind of run."""
    cold: list[float] = []
    warm: list[float] = []
    peaks = {"cold": 0, "warm": 0}
    for i in range(repeat):
        fresh = tmp / f"{tag}{i}"
        for kind, runs in (("cold", cold), ("warm", warm)):
            wall, peak = command(paths, fresh)
            runs.append(wall)
            peaks[kind] = max(peaks[kind], peak)
    return cold, warm, peaks


def double_figures(paths, tmp: Path, repeat: int) -> None:
    """The command on the capture twice as long: the real files, then a copy of them shifted by the
    capture's duration (double_capture.py)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from double_capture import double_capture
    doubled = double_capture(paths, tmp / "double")
    cold, warm, peaks = command_figures(doubled, tmp, repeat, "double")
    datasets = [load(path, cache_dir=tmp / "double0")[0] for path in doubled]     # the first cold run's cache
    span = max(d.end_ts for d in datasets) - min(d.start_ts for d in datasets)
    print(f"`lighter-bot replay` on a capture twice as long ({span / 60:.1f} min: the real capture followed by a "
          f"time-shifted copy of itself, {sum(d.levels for d in datasets)} price-level events, "
          f"{sum(len(d.gaps) for d in datasets)} gaps) wall time: cold median {statistics.median(cold):.2f} s, "
          f"warm median {statistics.median(warm):.2f} s; peak RSS of the command {max(peaks.values())} MB "
          f"(cold {peaks['cold']}, warm {peaks['warm']})")


def peer(paths, levels: int, ours: dict[float, float], repeat: int) -> None:
    """hftbacktest on the same files and steps, in this run; our throughput as a ratio of its."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import hftbacktest_peer
    if not hftbacktest_peer.available():
        print("hftbacktest: not installed (pip install -e '.[bench]'); no peer ratio")
        return
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):        # its converter prints its corrections
        result = hftbacktest_peer.measure(paths, levels, steps=tuple(ours), repeat=repeat)
    print(f"hftbacktest {hftbacktest_peer.version()}: conversion {result['convert_s']:.2f} s, numba JIT "
          f"{result['jit_s']:.1f} s (once per process)")
    for step, r in result["steps"].items():
        print(f"hftbacktest at {step * 1000:g} ms steps: {r['fills']} fills; median {r['wall_s']:.3f} s = "
              f"{r['level_events_per_s'] / 1e6:.2f} M level events/s; replay / hftbacktest = "
              f"{ours[step] / r['level_events_per_s']:.2f}")


if __name__ == "__main__":
    main()
