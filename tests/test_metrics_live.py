"""/metrics of a running bot: the seed's gauges, portfolio_*, the ledger and tick latency, clean under
promtool's lint; dump_metrics prints them as the seed's command does."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ops_harness import APT_INSTALL, PORTFOLIO_GAUGES, REPO, SEED_GAUGES, Bot, binary


@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    with Bot(tmp_path_factory.mktemp("metrics_bot"), "runtime:\n  tick_interval_s: 0.05\n") as running:
        running.wait_healthy()
        yield running


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_seed_gauge_portfolio_gauge_and_ops_metric_is_exported(bot):
    found = families(bot.metrics())
    missing = [name for name in SEED_GAUGES + PORTFOLIO_GAUGES if name not in found]
    assert not missing
    for name in PORTFOLIO_GAUGES:
        assert [s.labels for s in found[name].samples] == [{"market": "SOL"}]
    assert found["lighter_bot_tick_duration_seconds"].type == "histogram"
    assert found["lighter_bot_ledger_write_duration_seconds"].type == "histogram"
    assert found["lighter_bot_ledger_writable"].samples[0].value == 1.0
    assert {(s.labels["side"], s.labels["liquidity"]) for s in found["lighter_bot_fills_by_side"].samples
            if s.name.endswith("_total")} == {("buy", "maker"), ("buy", "taker"), ("sell", "maker"), ("sell", "taker")}
    assert "lighter_bot_realized_pnl_total" not in found and "lighter_bot_realized_pnl_quote" in found


def test_promtool_finds_nothing_to_lint_in_the_live_exposition(bot):
    promtool = binary("promtool")
    if promtool is None:
        pytest.skip(f"promtool not installed ({APT_INSTALL})")
    result = subprocess.run([promtool, "check", "metrics"], input=bot.metrics(), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", \
        result.stdout + result.stderr


def test_dump_metrics_prints_the_portfolio_gauges_of_the_running_bot(bot):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PORT": str(bot.port)}
    script = str(REPO / "scripts" / "dump_metrics.py")
    result = subprocess.run([sys.executable, script, "--filter", "portfolio_", "--json"], env=env,
                            capture_output=True, text=True, timeout=30)      # URL from $PORT, as the seed runs it
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["name"] for row in rows} >= set(PORTFOLIO_GAUGES)
    assert all(row["name"].startswith("portfolio_") for row in rows)
    table = subprocess.run([sys.executable, script, "--filter", "portfolio_", "--url", f"{bot.url}/metrics"],
                           env=env, capture_output=True, text=True, timeout=30)
    assert table.returncode == 0 and "portfolio_realized_pnl_quote" in table.stdout and "market=SOL" in table.stdout
