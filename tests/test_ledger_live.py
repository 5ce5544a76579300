"""The fills ledger in a running bot: a full disk makes it reduce-only with 503, kill -9 loses
no written fill and a restart carries realized PnL on."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from runtime.service.ledger import Problem, read_records

REPO = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-c", "from lighter_bot import main; main()"]

# A busy paper market on a fast tick, so fills come within a second or two of wall time.
BUSY = """runtime:
  tick_interval_s: 0.05
  ledger:
    path: ledger/fills.jsonl
venue:
  paper:
    trades_per_s: 40.0
    trade_size_mean_units: 1.0
    request_limit: 0
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path: Path, port: int, log_name: str) -> subprocess.Popen:
    if not (tmp_path / "policies").exists():
        shutil.copytree(REPO / "policies", tmp_path / "policies")
    (tmp_path / "config.yaml").write_text(BUSY)
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(REPO)}
    log = (tmp_path / log_name).open("w")
    return subprocess.Popen(BOT + ["run", "--duration", "60"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=log)


def wait(predicate, what: str, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def health(port: int) -> tuple[int, dict] | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        return r.status_code, r.json()
    except httpx.TransportError:
        return None


def fills_in(path: Path) -> list[dict]:
    return [r for _, _, r in read_records(path) if r["type"] == "fill"] if path.parent.exists() else []


def test_a_full_disk_makes_the_bot_reduce_only_with_503_and_it_recovers(tmp_path):
    ledger = tmp_path / "ledger" / "fills.jsonl"
    ledger.parent.mkdir()
    ledger.symlink_to("/dev/full")              # every write: ENOSPC
    port = free_port()
    proc = start(tmp_path, port, "bot.log")
    try:
        def failing():
            h = health(port)
            return h if h and h[0] == 503 and h[1].get("ledger") and not h[1]["ledger"]["writable"] else None

        code, body = wait(failing, "/health to report the unwritable ledger")
        assert any("fills ledger" in p and "No space left on device" in p for p in body["problems"])
        wait(lambda: (health(port) or (0, {}))[1].get("trading_state") == "reducing", "REDUCING")
        assert "fills ledger" in health(port)[1]["trading_state_reason"]
        held = health(port)[1]["ledger"]["backlog"]
        assert held > 0
        ledger.unlink()                          # space again
        wait(lambda: (health(port) or (0, {}))[0] == 200, "/health back to 200")
        # The hold lifts at the next tick after a write succeeds: wait for it rather than race it.
        wait(lambda: (health(port) or (0, {}))[1].get("trading_state") == "active", "ACTIVE again")
        body = health(port)[1]
        assert body["ledger"]["writable"], body
        assert len(fills_in(ledger)) >= held     # what was held in memory is on disk now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in text
    ids = [r["trade_id"] for r in fills_in(ledger)]
    assert len(ids) == len(set(ids))


def test_kill_9_in_a_burst_then_restart_keeps_every_written_fill_once_and_carries_pnl_on(tmp_path):
    ledger = tmp_path / "ledger" / "fills.jsonl"
    port = free_port()
    proc = start(tmp_path, port, "first.log")
    try:
        wait(lambda: len(fills_in(ledger)) >= 8, "fills in the ledger")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    problems: list[Problem] = []
    before = [r for _, _, r in read_records(ledger, problems)]
    assert all("torn" in p.reason for p in problems)          # at worst the one line being written
    last = [r for r in before if r["type"] in ("fill", "funding", "position")][-1]
    port = free_port()
    proc = start(tmp_path, port, "second.log")
    try:
        wait(lambda: len(fills_in(ledger)) > len([r for r in before if r["type"] == "fill"]), "new fills")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    restored = re.search(r"fills ledger \S+: (\d+) fills, \d+ funding payments; position (\S+), realized PnL (\S+) "
                         r"restored", (tmp_path / "second.log").read_text())
    assert restored, (tmp_path / "second.log").read_text()[-2000:]
    assert int(restored.group(1)) == len({r["trade_id"] for r in before if r["type"] == "fill"})
    assert float(restored.group(3)) == round(last["realized_quote"], 4)
    after = fills_in(ledger)
    ids = [r["trade_id"] for r in after]
    assert len(ids) == len(set(ids))                           # every fill exactly once
    assert [r["trade_id"] for r in after[:len(ids)]][:8] == [r["trade_id"] for r in before if r["type"] == "fill"][:8]
    # The second run's realized PnL starts from the first's, not from zero.
    # The paper venue restarts flat, so the venue's first snapshot corrects the restored position,
    # booking no PnL: the second run's first record carries the first run's realized PnL on.
    records = [r for _, _, r in read_records(ledger)]
    first_of_second = records[len(before)]
    if abs(last["position_units"]) > 1e-9:
        assert first_of_second["type"] == "position" and first_of_second["venue_units"] == 0.0, first_of_second
    else:       # ended flat: nothing to correct, and an opening fill (no fee on paper) realizes nothing
        assert first_of_second["type"] == "fill", first_of_second
    assert abs(first_of_second["realized_quote"] - last["realized_quote"]) < 1e-9
    assert json.dumps(after)                                   # every record is plain JSON


def test_a_simulated_rehearsal_leaves_the_ledger_alone(tmp_path):
    """A rehearsal's fills are not trades: they never reach the ledger a live bot rebuilds from."""
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(BOT + ["run", "--simulated", "--duration", "600", "--summary", "s.json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["fills"]["total"] > 0
    assert not (tmp_path / "data" / "metrics").exists()
