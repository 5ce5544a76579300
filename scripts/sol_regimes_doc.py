"""Regenerate docs/analysis/sol_regimes.md from a real run: replay the shared month of SOLUSDT perp
klines with the SOL profile and the shipped policies, then analyze that replay's ledger and rules
with the same klines (each suggestion checked by policy diff on the same data).

    python scripts/sol_regimes_doc.py [--from T --to T] [--klines FILE]

Run from the repository's root; the intermediate reports go under data/analysis/. The page lists
the exact commands it ran."""
import argparse
import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from lighter_bot import cli  # noqa: E402

SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "../shared/data"))
MONTH = SHARED / "klines_1m" / "SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--klines", type=Path, default=MONTH)
    p.add_argument("--from", dest="start")
    p.add_argument("--to", dest="end")
    p.add_argument("--step", default="1")
    p.add_argument("--doc", default="docs/analysis/sol_regimes.md")
    args = p.parse_args()
    if not args.klines.is_file():
        print(f"error: {args.klines}: no such kline file (set LIGHTER_BOT_SHARED_DATA or pass --klines)", file=sys.stderr)
        return 1
    window = [*(["--from", args.start] if args.start else []), *(["--to", args.end] if args.end else [])]
    replay = ["replay", "--data", str(args.klines), "--profile", "profiles/market_2.yaml", "--policies", "policies",
              "--step", args.step, *window, "--report", "data/analysis/sol_replay", "--no-plots"]
    print("lighter-bot " + shlex.join(replay), file=sys.stderr)
    if cli(replay) != 0:
        return 1
    analyze = ["analyze", "--ledger", "data/analysis/sol_replay/fills.jsonl", "--rules",
               "data/analysis/sol_replay/rules.jsonl", "--candles", str(args.klines), "--report", "data/analysis/sol",
               "--data", str(args.klines), "--profile", "profiles/market_2.yaml", "--policies", "policies",
               "--step", args.step, *window, "--doc", args.doc, "--doc-command", "lighter-bot " + shlex.join(replay)]
    print("lighter-bot " + shlex.join(analyze), file=sys.stderr)
    return cli(analyze)


raise SystemExit(main())
