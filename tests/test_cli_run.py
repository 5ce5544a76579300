"""`lighter-bot run` as a user runs it: a real process, metrics scraped over HTTP, signals."""
from __future__ import annotations

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
