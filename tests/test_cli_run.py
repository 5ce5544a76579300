"""`lighter-bot run` as a user runs it: a real process, metrics scraped over HTTP, signals."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-c", "from lighter_bot import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_bot(tmp_path: Path, *args: str, port: int) -> subprocess.Popen:
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(BOT + ["run", *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_healthy(port: int, proc: subprocess.Popen, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("bot never became healthy")


def test_run_serves_metrics_and_stops_cleanly_after_its_duration(tmp_path):
    port = free_port()
    proc = start_bot(tmp_path, "--duration", "4", port=port)
    try:
        health = wait_healthy(port, proc).json()
        assert health["trading_state"] == "active" and health["venue"] == "paper"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0).text
        # $PORT is honoured (the seed's health probe), policy gauges are exported by their names,
        # and the trading state and policy version are visible.
        assert "maker_regime_state " in metrics
        assert "maker_volatility_pause_active " in metrics
        assert 'lighter_bot_trading_state{state="active"} 1.0' in metrics
        assert "policy_set_version{version=" in metrics
        assert 'lighter_bot_hedger_mode{mode="idle"}' in metrics and "lighter_bot_hedger_crosses_total" in metrics
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "run ended (duration reached)" in stderr
    assert "0 live orders left" in stderr
    assert (tmp_path / "data" / "decisions.jsonl").exists()


def test_sigterm_cancels_orders_and_exits_zero(tmp_path):
    port = free_port()
    proc = start_bot(tmp_path, "--duration", "120", port=port)
    try:
        wait_healthy(port, proc)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "stop requested" in stderr and "0 live orders left" in stderr


@pytest.mark.parametrize("config_text, expected", [
    ("maker:\n  volatlity: {halflife_s: 45}\n", "config.yaml:2:3: maker.volatlity: unknown key, did you mean "
                                                 "maker.volatility?"),
    ("risk:\n  max_position_units: -1\n", "config.yaml:2:3: risk.max_position_units: expected greater than 0"),
])
def test_bad_config_never_starts_the_bot(tmp_path, config_text, expected):
    (tmp_path / "config.yaml").write_text(config_text)
    proc = start_bot(tmp_path, "--duration", "5", port=free_port())
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert expected in stderr
    assert "Traceback" not in stderr


def test_broken_policy_never_starts_the_bot(tmp_path):
    port = free_port()
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    (tmp_path / "policies" / "trend_guard.yaml").write_text("policy: trend_guard\nrules:\n  - name: up\n"
                                                            "    when: trend_bps >= \n")
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(BOT + ["run", "--duration", "5"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1
    assert "policies/trend_guard.yaml:4:" in proc.stderr and "rules[0].when" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_port_is_a_clear_error(tmp_path):
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    env = {**os.environ, "PORT": "eighty", "PYTHONPATH": str(REPO)}
    result = subprocess.run(BOT + ["run", "--duration", "5"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0
    assert "PORT" in result.stderr and "eighty" in result.stderr
    assert "Traceback" not in result.stderr


# -- rehearsals: `run --simulated --summary` ------------------------------------------------------

SUMMARY_KEYS = {"ticks", "duration_s", "fills", "orders", "tx_per_min", "rate_limited", "max_abs_inventory",
                "realized_pnl", "mtm_pnl", "fees", "quoted_both_sides_frac", "paused_s", "rules",
                "position_mismatches", "duplicate_fills"}


def run_simulated(tmp_path: Path, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    if not (tmp_path / "policies").exists():
        shutil.copytree(REPO / "policies", tmp_path / "policies")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PORT", None)
    return subprocess.run(BOT + ["run", "--simulated", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def test_a_30_minute_rehearsal_on_the_defaults_stays_inside_lighters_request_budget(tmp_path):
    """The issue's target: on the default paper market, with the paper venue enforcing Lighter's standard
    budget (60 requests a minute, every send counted), never rate-limited, at most 40 transactions a
    minute, quotes on both sides at least 90 % of the time the maker wanted both."""
    started = time.monotonic()
    result = run_simulated(tmp_path, "--duration", "1800", "--summary", "s.json")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert set(summary) == SUMMARY_KEYS
    assert summary["duration_s"] == pytest.approx(1800.0, abs=0.5)
    assert summary["rate_limited"] == 0
    assert summary["tx_per_min"] <= 40
    assert summary["quoted_both_sides_frac"] >= 0.9
    # What the trader reads first: it traded both sides, the hard limit held, PnL adds up.
    assert summary["fills"]["buy"] > 10 and summary["fills"]["sell"] > 10
    assert summary["fills"]["total"] == summary["fills"]["maker"] + summary["fills"]["taker"]
    assert summary["max_abs_inventory"] <= 0.3
    assert summary["orders"]["modified"] > summary["orders"]["sent"]      # re-quotes are modifies
    assert summary["position_mismatches"] == 0 and summary["duplicate_fills"] == 0
    assert summary["rules"]["trend_guard.up"]["fired"] >= 1
    # The trace agrees with the summary, fill for fill.
    records = [json.loads(line) for line in (tmp_path / "data" / "decisions.jsonl").read_text().splitlines()]
    assert records[0]["type"] == "run_start"
    assert sum(r["type"] == "fill" for r in records) == summary["fills"]["total"]
    assert elapsed < 60, f"a 30-minute rehearsal took {elapsed:.0f}s"


def test_a_simulated_run_is_reproducible(tmp_path):
    """Same config, same policies: the same run, summary and trace byte for byte (the clock starts at a
    fixed epoch, not the wall clock)."""
    outputs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        result = run_simulated(folder, "--duration", "300", "--summary", "s.json", "--decision-log", "d.jsonl")
        assert result.returncode == 0, result.stderr
        outputs.append(((folder / "s.json").read_bytes(), (folder / "d.jsonl").read_bytes()))
    assert outputs[0] == outputs[1]


def test_simulated_needs_a_duration_and_says_so(tmp_path):
    result = run_simulated(tmp_path)
    assert result.returncode == 2
    assert "--simulated needs --duration" in result.stderr and "Traceback" not in result.stderr


def test_summary_counts_what_the_run_did_on_a_busy_market(tmp_path):
    """A volatile script: pauses fire and show in paused_s, and the summary's PnL is the trace's."""
    (tmp_path / "config.yaml").write_text(
        "venue:\n  paper:\n    script:\n      - {regime: calm, duration_s: 60}\n"
        "      - {regime: volatile, duration_s: 120}\n      - {regime: calm, duration_s: 120}\n")
    result = run_simulated(tmp_path, "--duration", "300", "--summary", "out/s.json")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "s.json").read_text())
    assert summary["paused_s"].get("volatility_pause", 0) > 10
    assert summary["rules"]["volatility_pause.pause"]["active_s"] == pytest.approx(
        summary["paused_s"]["volatility_pause"], abs=30)
    assert summary["mtm_pnl"] == pytest.approx(summary["realized_pnl"], abs=0.5)


# -- every bad flag or file is one located line, never a traceback -----------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--port", "99999"], "argument --port: expected a port number 0..65535, got '99999'"),
    (["--port", "-5"], "argument --port: expected a port number 0..65535, got '-5'"),
    (["--decision-log", "/proc/nope/d.jsonl"], "/proc/nope/d.jsonl: cannot write the decision trace"),
    (["--decision-log", "."], ".: cannot write the decision trace"),
])
def test_bad_flags_are_one_clear_line(tmp_path, args, expected):
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    result = subprocess.run(BOT + ["run", "--duration", "1", *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), "PORT": "0"})
    assert result.returncode in (1, 2), result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("config_text, expected", [
    ("risk:\n  max_position_units: true\n", "config.yaml:2:3: risk.max_position_units: expected a number, got True"),
    ("risk:\n  max_position_units: 1e29\n", "risk.max_position_units: expected less than or equal to 1000000"),
    ("runtime:\n  tick_interval_s: 1e-300\n", "runtime.tick_interval_s: expected greater than or equal to 0.01"),
    ("runtime:\n  tick_interval_s: 1e300\n", "runtime.tick_interval_s: expected less than or equal to 60"),
    ("runtime:\n  decision_log_max_mb: 1e-9\n", "runtime.decision_log_max_mb: expected greater than or equal to 0.1"),
    ("runtime:\n  http:\n    bind: everywhere\n", "runtime.http.bind: expected an IP address"),
])
def test_config_numbers_have_ranges(tmp_path, config_text, expected):
    (tmp_path / "config.yaml").write_text(config_text)
    proc = start_bot(tmp_path, "--duration", "5", port=free_port())
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1 and expected in stderr and "Traceback" not in stderr


def test_a_reader_that_goes_away_ends_policy_check_quietly(tmp_path):
    """`lighter-bot policy check | head -1`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)                                  # every write now fails with EPIPE
    try:
        result = subprocess.run(BOT + ["policy", "check", str(REPO / "policies")], cwd=tmp_path, stdout=write_end,
                                stderr=subprocess.PIPE, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 1


def test_a_profile_sets_the_market_of_a_simulated_run(tmp_path):
    result = run_simulated(tmp_path, "--duration", "120", "--profile", str(REPO / "profiles" / "market_1.yaml"),
                           "--summary", "s.json")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["orders"]["sent"] > 0 and summary["orders"]["rejected"] == {}     # BTC sizes fit BTC prices
    assert "lighter-bot on BTC" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("maker:\n  size_units: -1\n")
    result = run_simulated(tmp_path, "--duration", "10", "--profile", str(bad))
    assert result.returncode == 1 and f"{bad}: maker.size_units" in result.stderr and "Traceback" not in result.stderr
