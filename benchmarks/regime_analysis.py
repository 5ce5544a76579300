"""`lighter-bot analyze` on a month: how long each stage takes (no replay: the suggestions' policy
diff replays are the replay's cost, see replay_throughput.py).

The candles are the shared month of SOLUSDT perp klines (43,200 bars) when present, else a
synthetic month; the ledger is a synthetic one over the same month (`--fills` alternating buys and
sells 0.072 SOL at the bar's close, a hedger taker fill every tenth, a seeded walk of times), so
the figure does not depend on how few fills a kline replay makes.

    python benchmarks/regime_analysis.py [--fills 5000] [--repeat 3]

Prints the median and range of each stage over `--repeat` runs (wall seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.service.regimes import plots, report  # noqa: E402
from runtime.service.regimes.candles import from_rows, read_kline_csv  # noqa: E402
from runtime.service.regimes.inputs import read_ledger  # noqa: E402
from runtime.service.regimes.pipeline import analyze  # noqa: E402

SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"))
MONTH = SHARED / "klines_1m" / "SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv"


def synthetic_month(seed: int = 1):
    rng = random.Random(seed)
    price, rows = 150.0, []
    for i in range(43_200):
        close = price * (1 + rng.gauss(0, 6e-4))
        rows.append((1_746_372_780 + 60 * i, price, max(price, close) * 1.0002, min(price, close) * 0.9998, close, 100.0))
        price = close
    return from_rows(rows, "synthetic month")


def write_ledger(path: Path, candles, fills: int, seed: int = 2) -> None:
    rng = random.Random(seed)
    minutes = sorted(rng.sample(range(len(candles)), fills))
    lines = []
    for n, m in enumerate(minutes):
        hedge = n % 10 == 9
        lines.append(json.dumps({"type": "fill", "ts": float(candles.ts[m]) + 30.0, "side": "buy" if n % 2 == 0 else "sell",
                                 "price": float(candles.close[m]), "size": 0.072, "fee": 0.0,
                                 "liquidity": "taker" if hedge else "maker", "purpose": "hedge" if hedge else "quote",
                                 "trade_id": f"b{n}"}))
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fills", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(args.repeat):
            t = time.perf_counter()
            candles = read_kline_csv(MONTH) if MONTH.exists() else synthetic_month()
            stages.setdefault("read candles", []).append(time.perf_counter() - t)
            write_ledger(folder / "fills.jsonl", candles, args.fills)
            t = time.perf_counter()
            ledger = read_ledger([folder / "fills.jsonl"])
            stages.setdefault("read ledger", []).append(time.perf_counter() - t)
            t = time.perf_counter()
            a = analyze(ledger, candles, None, current_params={"trend_guard.down_trigger_bps": -6.0,
                                                                "trend_guard.up_trigger_bps": 12.0,
                                                                "volatility_pause.pause_vol_bps": 30.0})
            stages.setdefault("analyze (features, slices, buckets, screen)", []).append(time.perf_counter() - t)
            t = time.perf_counter()
            report.write_datasets(folder / "out", a)
            (folder / "out" / "report.md").write_text(report.render(a, {}, []))
            stages.setdefault("datasets + report.md", []).append(time.perf_counter() - t)
            t = time.perf_counter()
            plots.write_all(folder / "out", a.table, a.stats["mtm"], a.pnl(), "mtm")
            stages.setdefault("plots", []).append(time.perf_counter() - t)
    print(f"candles: {'shared ' + MONTH.name if MONTH.exists() else 'synthetic month'} ({len(candles)} bars); "
          f"ledger: {args.fills} synthetic fills; {len(a.table)} slices; {args.repeat} runs")
    for name, times in stages.items():
        print(f"  {name:46} median {statistics.median(times):6.3f} s  (range {min(times):.3f} .. {max(times):.3f})")
    total = [sum(v[i] for v in stages.values()) for i in range(args.repeat)]
    print(f"  {'total':46} median {statistics.median(total):6.3f} s  (range {min(total):.3f} .. {max(total):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
