"""The feature store and the seed's volatility guard on real SOL data from ../shared/data.

These are the checks a trader would make before trusting a threshold: on the
2025-10-10 liquidation cascade the volatility pause must engage, and on an
ordinary month of SOL perp bars it must stay off almost all the time. The data is
not part of the repository; without it these tests skip and say why.
"""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from rules.engine import PolicyEngine
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from lighter_bot import BotConfig as Config
from runtime.events import BookTop
from runtime.features import FeatureStore

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
CASCADE = DATA / "trades" / "SOLUSD_gemini-spot_trades_2025-10-10.csv"
PERP_BARS = DATA / "klines_1m" / "SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real market data not available: {path} (it lives in ../shared/data, outside the repo)")
    return path


def rows(path: Path):
    with path.open() as f:
        yield from csv.DictReader(f)


def replay(prices: list[tuple[float, float]], step_s: float):
    """Feed (ts, price) as a one-tick book and tick the volatility policy every `step_s`."""
    store = FeatureStore(Config())
    engine = PolicyEngine(load_policy_set([REPO / "policies" / "volatility_pause.yaml"], FEATURE_NAMES))
    i, now, end = 0, prices[0][0], prices[-1][0]
    paused_s = 0.0
    pauses = 0
    was_paused = False
    peak_vol = 0.0
    while now <= end:
        while i < len(prices) and prices[i][0] <= now:
            ts, price = prices[i]
            store.apply(BookTop(ts, price - 0.001, 1.0, price + 0.001, 1.0))
            i += 1
        store.advance(now)
        engine.evaluate(store.values, now)
        paused = "volatility_pause.pause" in engine.firing()
        paused_s += step_s if paused else 0.0
        pauses += paused and not was_paused
        was_paused = paused
        peak_vol = max(peak_vol, store.values["vol_bps"])
        now += step_s
    return paused_s / (end - prices[0][0]), pauses, peak_vol


def test_volatility_pause_engages_in_the_october_10_cascade():
    prices = [(int(r["ts_ms"]) / 1000, float(r["price"])) for r in rows(need(CASCADE))]
    paused_frac, pauses, peak_vol = replay(prices, 1.0)
    assert peak_vol > 30.0          # the seed's pause threshold is reached on the crash day
    assert pauses >= 1
    assert paused_frac < 0.5        # ...but it is a guard for bursts, not a day-long switch-off


def test_volatility_pause_stays_quiet_on_an_ordinary_month():
    prices = [(int(r["ts_ms"]) / 1000, float(r["close"])) for r in rows(need(PERP_BARS))]
    paused_frac, _, _ = replay(prices, 60.0)
    assert paused_frac < 0.05


def test_one_minute_sigma_matches_the_data_readme():
    """sigma_1m_bps over 1-minute bars is |1m log return|; its median is documented as 5.53 bps."""
    store = FeatureStore(Config())
    sigmas = []
    prev_ts = None
    for r in rows(need(PERP_BARS)):
        ts, close = int(r["ts_ms"]) / 1000, float(r["close"])
        store.apply(BookTop(ts, close, 1.0, close, 1.0))
        store.advance(ts)
        if prev_ts is not None and ts - prev_ts == 60:
            sigmas.append(store.values["sigma_1m_bps"])
        prev_ts = ts
    assert statistics.median(sigmas[1:]) == pytest.approx(5.53, abs=0.05)
    assert all(math.isfinite(s) for s in sigmas)


def test_the_bot_keeps_trading_through_a_day_of_sol_bars(tmp_path, capsys):
    # The replay that found the hedger's dead zone: on 2025-05-04 a 0.052 SOL position (under
    # the 0.069 venue minimum) could not be hedged, the volatility pause (which resumes only
    # once |inventory| < 0.05) never lifted, and the bot made no fill from 22:30 to the end.
    import json

    from lighter_bot import cli
    report = tmp_path / "report"
    code = cli(["replay", "--data", str(need(PERP_BARS)), "--profile", str(REPO / "profiles" / "market_2.yaml"),
                "--policies", str(REPO / "policies"), "--to", "2025-05-05T12:00:00Z", "--step", "1",
                "--report", str(report), "--no-plots", "--cache", str(tmp_path / "cache")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((report / "summary.json").read_text())
    window = summary["rules"]["edge_first.no_chase"]["active_s"]            # fires the whole run
    assert summary["rules"]["volatility_pause.pause"]["active_s"] < 0.25 * window
    fills = [json.loads(line) for line in (report / "fills.jsonl").read_text().splitlines()]
    assert sum(f["ts"] >= 1746410400 for f in fills) >= 5                    # after 2025-05-05T02:00Z
