"""hftbacktest on the same Binance BTCUSDT L2 capture, as the peer of `replay_throughput.py`.

The replay's throughput means little on a noisy 2-core machine without a peer measured in the
same process run, so this runs hftbacktest (the `[bench]` extra) on the files the replay reads:

- conversion with hftbacktest's own `binancefutures.convert` of each raw file (its diffs and
  trades; it skips the REST snapshot and book tickers), plus the REST snapshot line as the
  initial snapshot (`DEPTH_SNAPSHOT_EVENT`);
- a one-level market maker in numba, the shape of hftbacktest's own examples: every step it
  elapses the step, reads the touch, and keeps one post-only bid and one ask `HALF_SPREAD_TICKS`
  from the mid, canceling and replacing an order whose price moved; risk-averse queue model,
  50 ms constant order latency (the replay's default), maker/taker fees. Its no-partial-fill
  exchange: with `partial_fill_exchange()` hftbacktest 2.4.4 stops this capture at 00:02:44
  with error code 14 (a resting order is enough to trigger it);
- throughput counted in the same unit as the replay: the file's price-level events after the
  snapshot (`Dataset.levels` of our reader), divided by the backtest loop's wall time. The
  numba JIT is timed apart (a first run on a tiny window), as hftbacktest pays it once per
  process.

    PYTHONPATH=. python benchmarks/hftbacktest_peer.py [--data-dir ../shared/data] [--repeat 3]

`replay_throughput.py` calls `measure()` when hftbacktest is installed and prints the ratio.
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FILES = ("l2_binance_raw/BTCUSDT_binance-usdm_raw_20240718.ndjson.gz",
         "l2_binance_raw/BTCUSDT_binance-usdm_raw_20240719.ndjson.gz")
TICK, LOT = 0.1, 0.001              # BTCUSDT perpetual on Binance
HALF_SPREAD_TICKS = 5
ORDER_QTY = 0.002
LATENCY_NS = 50_000_000


def available() -> bool:
    try:
        import hftbacktest  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str:
    import hftbacktest
    return hftbacktest.__version__


def _snapshot(path: Path) -> np.ndarray:
    """The REST depth snapshot line of the capture as hftbacktest snapshot events."""
    from hftbacktest import BUY_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, LOCAL_EVENT, SELL_EVENT
    from hftbacktest.types import event_dtype
    with gzip.open(path, "rt") as fh:
        for line in fh:
            stamp, body = line.split(" ", 1)
            if '"lastUpdateId"' in body[:40]:
                snap = json.loads(body)
                break
        else:
            raise SystemExit(f"{path}: no REST depth snapshot line")
    ts = int(snap["T"]) * 1_000_000
    rows = [(DEPTH_SNAPSHOT_EVENT | EXCH_EVENT | LOCAL_EVENT | side, ts, int(stamp), float(px), float(qty), 0, 0, 0)
            for side, levels in ((BUY_EVENT, snap["bids"]), (SELL_EVENT, snap["asks"])) for px, qty in levels]
    return np.array(rows, dtype=event_dtype)


def convert(paths: list[Path]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(initial snapshot, one event array per file) in hftbacktest's format, with its own converter.
    The files stay separate arrays, as hftbacktest takes consecutive files: each is corrected for
    its own feed latency, so their concatenation is not in local-time order."""
    from hftbacktest.data.utils import binancefutures
    parts = [binancefutures.convert(str(p), combined_stream=True, buffer_size=2_000_000) for p in paths]
    return _snapshot(paths[0]), parts


def _strategy():
    from hftbacktest import GTX, LIMIT
    from numba import njit

    @njit
    def run(hbt, step_ns, half_spread_ticks, qty):
        tick = hbt.depth(0).tick_size
        next_id = 1
        bid_id = 0
        ask_id = 0
        bid_px = 0.0
        ask_px = 0.0
        steps = 0
        while True:
            code = hbt.elapse(step_ns)
            if code != 0:
                return steps, code
            steps += 1
            hbt.clear_inactive_orders(0)
            depth = hbt.depth(0)
            if depth.best_bid_tick <= 0 or depth.best_ask_tick <= 0 or depth.best_bid_tick >= depth.best_ask_tick:
                continue
            mid_ticks = (depth.best_bid_tick + depth.best_ask_tick) / 2.0
            want_bid = np.floor(mid_ticks - half_spread_ticks) * tick
            want_ask = np.ceil(mid_ticks + half_spread_ticks) * tick
            orders = hbt.orders(0)
            if bid_id != 0 and not orders.__contains__(bid_id):
                bid_id = 0
            if ask_id != 0 and not orders.__contains__(ask_id):
                ask_id = 0
            # hftbacktest refuses a cancel while a request on the order is in flight: wait for it.
            if bid_id != 0 and abs(bid_px - want_bid) >= tick and orders.get(bid_id).cancellable:
                hbt.cancel(0, bid_id, False)
                bid_id = 0
            if ask_id != 0 and abs(ask_px - want_ask) >= tick and orders.get(ask_id).cancellable:
                hbt.cancel(0, ask_id, False)
                ask_id = 0
            if bid_id == 0:
                bid_id = next_id
                next_id += 1
                bid_px = want_bid
                hbt.submit_buy_order(0, bid_id, bid_px, qty, GTX, LIMIT, False)
            if ask_id == 0:
                ask_id = next_id
                next_id += 1
                ask_px = want_ask
                hbt.submit_sell_order(0, ask_id, ask_px, qty, GTX, LIMIT, False)
    return run


def _backtest(snapshot: np.ndarray, events: list[np.ndarray]):
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    asset = (BacktestAsset().data(list(events)).initial_snapshot(snapshot).linear_asset(1.0)
             .constant_order_latency(LATENCY_NS, LATENCY_NS).risk_adverse_queue_model().no_partial_fill_exchange()
             .trading_value_fee_model(0.0002, 0.0005).tick_size(TICK).lot_size(LOT).last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def measure(paths: list[Path], levels: int, steps=(0.1, 0.01), repeat: int = 3) -> dict:
    """Conversion seconds, JIT seconds, and per step the median wall time and level events/s."""
    conv = []
    for _ in range(repeat):
        started = time.perf_counter()
        snapshot, events = convert(paths)
        conv.append(time.perf_counter() - started)
    run = _strategy()
    started = time.perf_counter()
    hbt = _backtest(snapshot, [events[0][:1000]])
    run(hbt, 100_000_000, HALF_SPREAD_TICKS, ORDER_QTY)
    hbt.close()
    jit = time.perf_counter() - started
    out = {"convert_s": statistics.median(conv), "jit_s": jit, "events": sum(map(len, events)), "steps": {},
           "span_s": (events[-1]["local_ts"].max() - events[0]["local_ts"].min()) / 1e9}
    for step in steps:
        walls = []
        for _ in range(repeat):
            hbt = _backtest(snapshot, events)
            started = time.perf_counter()
            ticks, code = run(hbt, int(round(step * 1e9)), HALF_SPREAD_TICKS, ORDER_QTY)
            if code != 1:
                raise SystemExit(f"hftbacktest stopped with code {code} after {ticks} steps")
            walls.append(time.perf_counter() - started)
            values = hbt.state_values(0)
            fills, position = values.num_trades, hbt.position(0)
            hbt.close()
        wall = statistics.median(walls)
        out["steps"][step] = {"wall_s": wall, "ticks": ticks, "level_events_per_s": levels / wall,
                              "best_per_s": levels / min(walls), "fills": fills, "position": position}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not available():
        raise SystemExit("hftbacktest is not installed: pip install -e '.[bench]'")
    paths = [args.data_dir / f for f in FILES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"missing {missing[0]}: pass --data-dir (the folder of ../shared/data)")
    import sys
    sys.path.insert(0, str(REPO))
    from adapters.replay import load_data
    levels = load_data(paths, cache_dir=None).levels
    result = measure(paths, levels, repeat=args.repeat)
    print(f"hftbacktest: conversion {result['convert_s']:.2f} s ({result['events']} rows), numba JIT {result['jit_s']:.1f} s")
    for step, r in result["steps"].items():
        print(f"hftbacktest at {step * 1000:g} ms steps: {r['ticks']} steps, {r['fills']} fills, median {r['wall_s']:.3f} s = "
              f"{r['level_events_per_s'] / 1e6:.2f} M level events/s (best {r['best_per_s'] / 1e6:.2f} M)")


if __name__ == "__main__":
    main()
