"""Skipping idle ticks changes nothing but the time a replay takes: `replay` with and without
`--no-skip-idle` writes byte-identical summary.json and fills.jsonl, for every input kind, at
10 ms and 100 ms steps, and on a window of the shared BTC L2 capture."""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from adapters.replay import ReplayConfig, load_data, open_venue
from lighter_bot import cli
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.market import MarketSpec
from runtime.service.loop import SimulatedClock, run_trader
from runtime.service.replay import ReplayRecorder
from runtime.trader import Trader

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "replay"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))
BTC, SOL = REPO / "profiles" / "market_1.yaml", REPO / "profiles" / "market_2.yaml"
# At 10 ms a long fixture is cut to its first minutes, so that ticking every step stays quick.
WINDOW_S = {0.01: 150.0, 0.1: 900.0}

CASES = [
    (["btcusdt_binance-usdm_raw_head.ndjson.gz", "btcusdt_binance-usdm_raw_continuation.ndjson.gz"], BTC),
    (["btc_lighter-perp_ws_capture_head.json.gz"], BTC),
    (["btcusdt_binance-usdm_bbo_head.csv", "btcusdt_binance-usdm_trades_head.csv"], BTC),
    (["btc_lighter-perp_trades_ws_head.csv"], BTC),
    (["btcusdt_binance-dump_layout_head.csv"], BTC),
    (["solusd_gemini-spot_trades_head.csv"], SOL),
    (["solusd_gemini-spot_tardis_layout_head.csv"], SOL),
    (["solusdt_binance-usdm-perp_1m_head.csv"], SOL),
]


def report(tmp_path: Path, capsys, files: list[Path], profile: Path, step: float, skip: bool) -> tuple[bytes, bytes]:
    data = load_data(files, cache_dir=tmp_path / "cache")
    out = tmp_path / ("skip" if skip else "every")
    args = ["replay", "--data", *map(str, files), "--profile", str(profile), "--policies", str(REPO / "policies"),
            "--report", str(out), "--cache", str(tmp_path / "cache"), "--no-plots", "--step", str(step),
            "--to", str(data.start_ts + WINDOW_S[step])]
    code = cli(args + ([] if skip else ["--no-skip-idle"]))
    err = capsys.readouterr().err
    assert code == 0, err
    return (out / "summary.json").read_bytes(), (out / "fills.jsonl").read_bytes()


@pytest.mark.parametrize("step", [0.01, 0.1])
@pytest.mark.parametrize("files,profile", CASES, ids=[c[0][0].split("_head")[0] for c in CASES])
def test_skipping_idle_ticks_gives_the_same_report_as_ticking_every_step(tmp_path, capsys, files, profile, step):
    paths = [FIXTURES / f for f in files]
    skipped = report(tmp_path, capsys, paths, profile, step, skip=True)
    every = report(tmp_path, capsys, paths, profile, step, skip=False)
    assert skipped[0] == every[0]
    assert skipped[1] == every[1]
    assert json.loads(skipped[0])["ticks"] > 0


@pytest.mark.parametrize("step", [0.01, 0.1])
def test_skipping_idle_ticks_on_the_shared_btc_capture(tmp_path, capsys, step):
    files = sorted((SHARED / "l2_binance_raw").glob("BTCUSDT_binance-usdm_raw_*.ndjson.gz"))
    if not files:
        pytest.skip(f"shared data absent: {SHARED / 'l2_binance_raw'} (set LIGHTER_BOT_SHARED_DATA)")
    skipped = report(tmp_path, capsys, files, BTC, step, skip=True)
    every = report(tmp_path, capsys, files, BTC, step, skip=False)
    assert skipped == every


def test_most_ticks_of_a_quiet_replay_are_skipped_and_the_rest_decide_the_same(tmp_path):
    """The skipping is real (a replay at 10 ms runs fewer ticks than it counts), and the ticks
    that do run see the same events and leave the same summary as ticking every step."""
    data = load_data([FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz",
                      FIXTURES / "btcusdt_binance-usdm_raw_continuation.ndjson.gz"], cache_dir=tmp_path)
    market = MarketSpec(market_id=1, symbol="BTC", price_decimals=1, size_decimals=5, min_base_units=0.0002,
                        min_quote=10.0)
    from lighter_bot import BotConfig
    from runtime.service.replay import apply_profile

    config, _ = apply_profile(BotConfig(), BTC, BotConfig)
    policies = load_policy_set([REPO / "policies"], FEATURE_NAMES)

    def run(skip: bool) -> tuple[int, int, dict]:
        venue = open_venue(data, market, ReplayConfig())
        box: list = []

        async def main() -> None:
            await venue.start()
            trader = Trader(config, venue.market, policies, venue_name="replay", start_ts=data.start_ts,
                            supports_modify=True)
            recorder = ReplayRecorder(trader, [])
            trader.trace.sink = recorder
            ran = [0]
            tick = trader.tick
            trader.tick = lambda now: ran.__setitem__(0, ran[0] + 1) or tick(now)
            result = await run_trader(trader, venue, SimulatedClock(data.start_ts), tick_interval_s=0.01,
                                      duration_s=data.end_ts - data.start_ts, after_tick=recorder.after_tick,
                                      next_venue_event=venue.next_event_ts if skip else None)
            box.append((result.ticks, ran[0], recorder.summary()))
        asyncio.run(main())
        return box[0]

    counted, ran, summary = run(True)
    counted_every, ran_every, summary_every = run(False)
    assert counted == counted_every == ran_every
    assert ran < counted * 0.75     # 12,112 of 18,060 ticks run: the capture is busy, with a gap
    assert summary == summary_every
