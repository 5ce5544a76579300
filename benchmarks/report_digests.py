"""Digests of `lighter-bot replay --report` outputs, to show a speed-up changed no result.

Runs the replay command (in a child process, on the code under `--code`, default this checkout)
on every replay fixture and on the shared Binance BTCUSDT L2 capture, at 10 ms and 100 ms steps,
and prints the sha256 of each run's summary.json and fills.jsonl. Record the digests of one
revision, then check another against them:

    python benchmarks/report_digests.py --code ../main --save /tmp/main-digests.json
    python benchmarks/report_digests.py --check /tmp/main-digests.json      # exit 1 on any difference

The fixtures and profiles are this checkout's in both runs, so only the code differs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "replay"
BTC, SOL = REPO / "profiles" / "market_1.yaml", REPO / "profiles" / "market_2.yaml"

CASES: dict[str, tuple[list[Path], Path]] = {
    "binance-l2-fixture": ([FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz",
                            FIXTURES / "btcusdt_binance-usdm_raw_continuation.ndjson.gz"], BTC),
    "lighter-l2-fixture": ([FIXTURES / "btc_lighter-perp_ws_capture_head.json.gz"], BTC),
    "binance-bbo-fixture": ([FIXTURES / "btcusdt_binance-usdm_bbo_head.csv",
                             FIXTURES / "btcusdt_binance-usdm_trades_head.csv"], BTC),
    "lighter-trades-fixture": ([FIXTURES / "btc_lighter-perp_trades_ws_head.csv"], BTC),
    "binance-dump-fixture": ([FIXTURES / "btcusdt_binance-dump_layout_head.csv"], BTC),
    "gemini-trades-fixture": ([FIXTURES / "solusd_gemini-spot_trades_head.csv"], SOL),
    "tardis-fixture": ([FIXTURES / "solusd_gemini-spot_tardis_layout_head.csv"], SOL),
    "binance-klines-fixture": ([FIXTURES / "solusdt_binance-usdm-perp_1m_head.csv"], SOL),
    "lighter-klines-fixture": ([FIXTURES / "sol_lighter-candles_1m_pages.json"], SOL),
}
SHARED_L2 = ("l2_binance_raw/BTCUSDT_binance-usdm_raw_20240718.ndjson.gz",
             "l2_binance_raw/BTCUSDT_binance-usdm_raw_20240719.ndjson.gz")


def digests(code: Path, files: list[Path], profile: Path, step: float, tmp: Path) -> dict[str, str]:
    report = tmp / "report"
    args = [sys.executable, "-c", "from lighter_bot import main; main()", "replay", "--data", *map(str, files),
            "--profile", str(profile), "--policies", str(REPO / "policies"), "--report", str(report),
            "--cache", str(tmp / "cache"), "--no-plots", "--step", str(step)]
    run = subprocess.run(args, env=dict(os.environ, PYTHONPATH=str(code)), capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"replay failed on {files[0].name} at {step} s:\n{run.stderr}")
    return {name: hashlib.sha256((report / name).read_bytes()).hexdigest() for name in ("summary.json", "fills.jsonl")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose code runs (default: this one)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("LIGHTER_BOT_SHARED_DATA",
                                                                             REPO.parent / "shared" / "data")))
    parser.add_argument("--save", type=Path, help="write the digests here")
    parser.add_argument("--check", type=Path, help="compare with digests saved by --save; exit 1 on a difference")
    args = parser.parse_args()
    if not (args.code / "lighter_bot.py").is_file():
        raise SystemExit(f"--code {args.code}: not a lighter-bot checkout (no lighter_bot.py there)")
    want = None
    if args.check:
        try:
            want = json.loads(args.check.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--check {args.check}: expected digests written by --save ({exc})")
    cases = dict(CASES)
    shared = [args.data_dir / f for f in SHARED_L2]
    if all(p.is_file() for p in shared):
        cases["binance-l2-shared"] = (shared, BTC)
    else:
        print(f"(shared capture not found under {args.data_dir}: fixtures only)")
    got: dict[str, dict[str, str]] = {}
    for name, (files, profile) in cases.items():
        for step in (0.01, 0.1):
            with tempfile.TemporaryDirectory() as tmp:
                key = f"{name}@{step:g}s"
                got[key] = digests(args.code.resolve(), files, profile, step, Path(tmp))
                print(key, got[key]["summary.json"][:16], got[key]["fills.jsonl"][:16], flush=True)
    if args.save:
        args.save.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    if want is not None:
        differ = [k for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        for key in differ:
            print(f"DIFFERS: {key}: expected {want.get(key)}, got {got.get(key)}")
        print(f"{len(got) - len(differ)} of {len(got)} runs identical to {args.check}")
        raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
