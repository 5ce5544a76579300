"""Shadow policies: evaluated on every tick next to the live set, measured, never traded.

The shadow set here is the repo's policies with one threshold changed: the volatility
pause at 10 bps instead of 30, in a market whose volatility reaches 10 but never 30.
The shadow pause fires, the disagreement metric moves, and the venue receives exactly
the intents of the same run without a shadow: the shadow never trades.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.paper.venue import PaperVenue
from live_harness import LiveBot, copy_policies, edit, folder_version, wait_for
from paper_harness import POLICIES, config_with
from rules.loader import load_policy_set
from runtime.service.app import serve
from runtime.catalog import FEATURE_NAMES
from lighter_bot import cli as cli_main
from lighter_bot import BotConfig as Config
from runtime.events import Event, Fill
from runtime.intents import Intent
from runtime.service.loop import SimulatedClock
from runtime.market import market_spec
from runtime.service.status_board import StatusBoard
from runtime.service.telemetry import TelemetryServer
from runtime.trader import Trader

PAUSE_30 = "pause_vol_bps: 30 "
PAUSE_10 = "pause_vol_bps: 10 "
SECONDS = 240
# A calm market with 14 bps/min of diffusion: the EWMA volatility climbs past 10 bps and stays
# far below 30, so only the shadow's pause can fire.
CALM = config_with(**{"venue.paper": {
    "script": [{"regime": "calm", "duration_s": SECONDS}],
    "regimes": {**Config().venue.paper.regimes.model_dump(),
                "calm": {"drift_bps_per_min": 0.0, "vol_bps_per_min": 14.0, "mean_duration_s": 600.0,
                         "entry_weight": 1.0}}}})
GAUGE = "maker_volatility_pause_active"


def metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=2.0).text
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


@dataclass
class Run:
    trader: Trader
    sent: list[tuple[float, tuple[Intent, ...]]] = field(default_factory=list)   # what the venue received
    fills: list[Fill] = field(default_factory=list)
    max_vol_bps: float = 0.0
    metrics_at_start: dict[str, float] = field(default_factory=dict)
    metrics_at_shadow_pause: dict[str, float] = field(default_factory=dict)
    metrics_at_end: dict[str, float] = field(default_factory=dict)
    live_quoting_while_shadow_paused: int = 0   # ticks the shadow would not have quoted, but live did


def run_bot(policies: Path, shadow: Path | None = None, config: Config = CALM, seconds: float = SECONDS) -> Run:
    """The real serve() loop on a simulated clock, recording every intent the venue receives."""
    spec = market_spec(config.market)
    venue = PaperVenue(spec, config.venue.paper, 0.0)
    trader = Trader(config, spec, load_policy_set([policies], FEATURE_NAMES),
                    shadow=load_policy_set([shadow], FEATURE_NAMES) if shadow else None)
    run = Run(trader)
    submit, drain = venue.submit, venue.drain

    def recording_submit(intents: list[Intent], now: float) -> None:
        run.sent.append((now, tuple(intents)))
        submit(intents, now)

    def recording_drain(now: float) -> list[Event]:
        events = drain(now)
        run.fills += [e for e in events if isinstance(e, Fill)]
        return events

    venue.submit, venue.drain = recording_submit, recording_drain
    board = StatusBoard()
    telemetry = TelemetryServer(board.latest, None, port=0).start()

    def after_tick(now: float) -> None:
        run.max_vol_bps = max(run.max_vol_bps, trader.features.values["vol_bps"])
        if not run.metrics_at_start:
            run.metrics_at_start = metrics(telemetry.url)
        if trader.shadow is not None and trader.shadow.gauges()[GAUGE] == 1:
            if not run.metrics_at_shadow_pause:   # scraped while the loop waits: this very tick
                run.metrics_at_shadow_pause = metrics(telemetry.url)
            if trader.plan is not None and (trader.plan.bid or trader.plan.ask):
                run.live_quoting_while_shadow_paused += 1

    try:
        asyncio.run(serve(trader, venue, SimulatedClock(0.0), tick_interval_s=config.runtime.tick_interval_s,
                          policies_dir=policies, shadow_dir=shadow, watch=False, duration_s=seconds,
                          after_tick=after_tick, board=board))
        run.metrics_at_end = metrics(telemetry.url)
    finally:
        telemetry.stop()
    return run


@pytest.fixture(scope="module")
def shadow_folder(tmp_path_factory) -> Path:
    folder = copy_policies(tmp_path_factory.mktemp("shadow") / "policies")
    edit(folder / "volatility_pause.yaml", PAUSE_30, PAUSE_10)
    return folder


@pytest.fixture(scope="module")
def with_shadow(shadow_folder) -> Run:
    return run_bot(POLICIES, shadow=shadow_folder)


@pytest.fixture(scope="module")
def without_shadow() -> Run:
    return run_bot(POLICIES)


def test_the_scenario_reaches_the_shadow_threshold_but_not_the_live_one(with_shadow):
    assert 10 <= with_shadow.max_vol_bps < 30


def test_the_shadow_pause_fires_and_the_disagreement_metric_moves(with_shadow):
    assert with_shadow.metrics_at_start["shadow_disagreement_ratio"] == 0
    at_pause = with_shadow.metrics_at_shadow_pause
    assert at_pause[f"shadow_{GAUGE}"] == 1 and at_pause[GAUGE] == 0
    end = with_shadow.metrics_at_end
    assert 0 < end["shadow_disagreement_ratio"] < 1
    assert end["shadow_disagreements_total"] > 0
    assert end["shadow_disagreements_total"] == with_shadow.trader.shadow_disagreements_total


def test_the_venue_receives_only_the_live_sets_intents(with_shadow, without_shadow, shadow_folder):
    # While the shadow would have paused, live kept quoting: had the shadow traded, it would show.
    assert with_shadow.live_quoting_while_shadow_paused > 0
    assert with_shadow.sent == without_shadow.sent
    assert with_shadow.fills == without_shadow.fills
    assert len(with_shadow.fills) > 0
    # The comparison can tell the difference: the shadow's set, run live, trades differently.
    assert run_bot(shadow_folder).sent != without_shadow.sent


def test_a_broken_shadow_file_is_rejected_without_touching_live_trading(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="lighter_bot")
    live = copy_policies(tmp_path / "policies")
    shadow = copy_policies(tmp_path / "shadow")
    edit(shadow / "volatility_pause.yaml", PAUSE_30, PAUSE_10)
    vol = shadow / "volatility_pause.yaml"
    with LiveBot(live, shadow=shadow) as bot:
        live_version, shadow_version = bot.version, bot.trader.shadow.compiled.version
        vol.write_text(vol.read_text().replace("when: vol_bps >= pause_vol_bps", "when: vol_bps >= pause_vol"))
        wait_for(lambda: any("shadow policy reload rejected" in r.getMessage() for r in caplog.records),
                 "the shadow rejection")
        rejection = next(r.getMessage() for r in caplog.records if "shadow policy reload rejected" in r.getMessage())
        assert f"keeping version {shadow_version}" in rejection
        assert f"{vol.resolve()}:15:5: rules[0].when:" in rejection and "unknown name 'pause_vol'" in rejection
        bot.wait_ticks(10)
        scraped = bot.metrics()
        assert bot.trader.shadow.compiled.version == shadow_version
        assert scraped[f'shadow_policy_set_info{{version="{shadow_version}"}}'] == 1
        # Live is untouched: same set, valid, no error counted, still trading.
        assert bot.version == live_version
        assert scraped["policy_set_valid"] == 1 and scraped["policy_reload_errors_total"] == 0
        assert scraped['lighter_bot_trading_state{state="active"}'] == 1

        since = bot.mark()
        vol.write_text(vol.read_text().replace("when: vol_bps >= pause_vol", "when: vol_bps >= pause_vol_bps")
                       .replace(PAUSE_10, "pause_vol_bps: 12 "))
        new_shadow = folder_version(shadow)
        wait_for(lambda: bot.trader.shadow.compiled.version == new_shadow, "the fixed shadow set")
        assert all(t.version == live_version for t in bot.ticks[since:])
        assert bot.metrics()[f'shadow_policy_set_info{{version="{new_shadow}"}}'] == 1


def test_a_broken_shadow_folder_stops_the_bot_before_it_trades(tmp_path, capsys):
    shadow = copy_policies(tmp_path / "shadow")
    vol = shadow / "volatility_pause.yaml"
    edit(vol, PAUSE_30, "pause_vol_bps: [30 ")
    code = cli_main(["run", "--policies", str(POLICIES), "--shadow", str(shadow), "--port", "0", "--duration", "1",
                     "--decision-log", str(tmp_path / "decisions.jsonl")])
    assert code == 1
    assert f"{vol}:" in capsys.readouterr().err


def test_a_new_shadow_set_restarts_the_disagreement_tally(tmp_path):
    """The ratio describes one candidate; after a new shadow set goes live it starts from zero."""
    import shutil

    from paper_harness import POLICIES, config_with, run_paper
    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES

    shadow = tmp_path / "shadow"
    shutil.copytree(POLICIES, shadow, ignore=shutil.ignore_patterns("tests"))
    text = (shadow / "volatility_pause.yaml").read_text().replace("pause_vol_bps: 30", "pause_vol_bps: 3")
    (shadow / "volatility_pause.yaml").write_text(text)
    run = run_paper(config_with(), 120, shadow=shadow)
    trader = run.trader
    assert trader.shadow_disagreements_total > 0
    trader.swap_shadow(load_policy_set([POLICIES], FEATURE_NAMES))
    assert trader.shadow_disagreements_total == 0 and trader.status().shadow_disagreement_ratio == 0.0
