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
    (["sol_lighter-candles_1m_pages.json"], SOL),
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
@pytest.mark.parametrize("files,profile", CASES, ids=[c[0][0].split("_head")[0].split(".")[0] for c in CASES])
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


CLOCK_RULES = """
policy: clock_rules
params:
  stale_s: 0.35
rules:
  - name: stale_book
    when: book_age_s > stale_s
    keep_for: 0.5s
    then: {spread_add_bps: 3}
  - name: warm_up
    when: uptime_s < 2 or last_fill_age_s < 2
    then: {size_mult: 0.9}
  - name: late
    when: uptime_s >= 4 and not active("warm_up")
    for: 1.5s
    cooldown: 3s
    until: uptime_s >= 5.7
    keep_for: 0.7s
    then: {bid_spread_add_bps: 1}
"""


@pytest.mark.parametrize("step", [0.01, 0.1])
@pytest.mark.parametrize("files,profile", [CASES[0], CASES[5]], ids=["binance-l2", "sol-trades"])
def test_rules_on_ages_and_uptime_fire_at_the_same_ticks_when_idle_ticks_are_skipped(tmp_path, capsys, files,
                                                                                      profile, step):
    """Rules that read features rising with the clock (ages, uptime) cross their thresholds between
    events: the skipped stretches end in time for them."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in (REPO / "policies").glob("*.yaml"):
        (policies / path.name).write_text(path.read_text())
    (policies / "clock_rules.yaml").write_text(CLOCK_RULES)
    paths = [FIXTURES / f for f in files]
    data = load_data(paths, cache_dir=tmp_path / "cache")
    outputs = []
    for flag in ([], ["--no-skip-idle"]):
        out = tmp_path / f"report{len(flag)}"
        code = cli(["replay", "--data", *map(str, paths), "--profile", str(profile), "--policies", str(policies),
                    "--report", str(out), "--cache", str(tmp_path / "cache"), "--no-plots", "--step", str(step),
                    "--to", str(data.start_ts + 200), *flag])
        assert code == 0, capsys.readouterr().err
        outputs.append(((out / "summary.json").read_bytes(), (out / "fills.jsonl").read_bytes()))
    assert outputs[0] == outputs[1]
    rules = json.loads(outputs[0][0])["rules"]
    assert rules["clock_rules.late"]["fired"] > 2 and rules["clock_rules.warm_up"]["fired"] > 0


# -- what "nothing can change" means for the feature store ----------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 40.0), st.sampled_from(["book", "fill_buy", "fill_sell", "none"]),
                          st.floats(-30.0, 30.0)), min_size=1, max_size=30),
       st.floats(0.0, 1.0))
def test_between_ticks_the_feature_store_changes_only_by_the_clock_until_its_next_change(steps, fraction):
    """After `advance(now)`, advancing to any time before `next_change(now)` moves only the features
    it names as rising, each by exactly the time elapsed; everything else stays as it was (what
    lets a replay skip the ticks in between)."""
    import copy

    from lighter_bot import BotConfig
    from runtime.events import BookTop, Fill
    from runtime.features import FeatureStore

    # Short windows, so that random gaps reach past markouts, PnL windows and slices.
    store = FeatureStore(BotConfig.model_validate({"features": {"pnl_slice_s": 20.0, "edge_window_s": 60.0,
                                                                "markout_horizon_s": 3.0}}))
    now, mid, n = 1000.0, 100.0, 0
    for dt, kind, move_bps in steps:
        now += dt
        if kind == "book":
            mid *= 1 + move_bps * 1e-4
            store.apply(BookTop(now, mid - 0.01, 1.0, mid + 0.01, 1.0))
        elif kind.startswith("fill") and store.ready:
            n += 1
            store.apply(Fill(now, n, kind[5:], mid * (1 + move_bps * 1e-4), 0.01, "maker", 0.0, f"t{n}"))
        store.advance(now)
        at, rising = store.next_change(now)
        assert at >= now
        later = now + (min(at, now + 120.0) - now) * fraction
        if later >= at:
            continue
        moved = copy.deepcopy(store)
        moved.advance(later)
        for name, value in store.values.items():
            if name in rising:
                assert moved.values[name] == pytest.approx(value + (later - now), abs=1e-6), name
            else:
                after = moved.values[name]
                assert after == value or (value != value and after != after), name
