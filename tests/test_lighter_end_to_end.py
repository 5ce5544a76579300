"""`lighter-bot run --venue lighter` against the fake Lighter server: the whole bot over the real
protocol (HTTP + WebSocket on 127.0.0.1, orders signed by the official signer). It quotes both
sides, gets filled, hedges and leaves no order behind; a kill -9 and a restart reconcile."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import lighter_bot
from lighter_harness import require_lighter_sdk

REPO = Path(__file__).resolve().parents[1]
MARKET = dict(move_prob=0.3, move_ticks=3, sequencing_delay_s=0.05)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    require_lighter_sdk()
    # The bot runs in this process: its relative paths (the fills ledger, data/metrics/fills.jsonl)
    # must be this test's, or one run's fills would be taken for the next run's duplicates.
    monkeypatch.chdir(tmp_path)
    from adapters.lighter.fake_server import FakeLighter, FakeSettings
    from adapters.lighter.signer import generate_api_key

    server = FakeLighter(FakeSettings(seed=3, **MARKET)).start()
    private, public = generate_api_key()
    server.register_key(server.settings.account_index, 3, public)
    env = {"LIGHTER_API_PRIVATE_KEY": private, "LIGHTER_ACCOUNT_INDEX": str(server.settings.account_index),
           "LIGHTER_API_KEY_INDEX": "3"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    server.env = env
    yield server
    server.stop()


def run_args(fake, tmp_path: Path, seconds: float, name: str = "run") -> list[str]:
    return ["run", "--venue", "lighter", "--base-url", fake.url, "--duration", str(seconds),
            "--policies", str(REPO / "policies"), "--port", "0", "--no-watch",
            "--decision-log", str(tmp_path / f"{name}.jsonl"), "--summary", str(tmp_path / f"{name}.json")]


def trace(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def max_requests_per_window(times: list[float], window_s: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def sweep_once_quoted(fake, timeout_s: float = 8.0, after_s: float = 0.0) -> threading.Thread:
    """Once the bot rests both a bid and an ask (for `after_s`), the market jumps through the bid
    (a fill the hedger must work off, and a move the guards react to)."""
    def both_sides() -> bool:
        return fake.call(lambda: {o.is_ask for o in fake.orders.values()} == {False, True})

    def watch():
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if both_sides():
                time.sleep(after_s)
                fake.inject("sweep_down")
                return
            time.sleep(0.05)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_the_bot_quotes_both_sides_gets_filled_hedges_and_leaves_nothing(fake, tmp_path):
    sweeper = sweep_once_quoted(fake, after_s=2.0)
    assert lighter_bot.cli(run_args(fake, tmp_path, 7.0)) == 0
    sweeper.join()
    summary = json.loads((tmp_path / "run.json").read_text())
    records = trace(tmp_path / "run.jsonl")
    creates = [tx for tx in fake.sent_txs if tx["tx_type"] == 14]
    assert {tx["IsAsk"] for tx in creates} == {0, 1}                    # quoted both sides
    assert summary["quoted_both_sides_frac"] > 0.2                      # at least until the sweep
    venue_fills = {str(t["trade_id"]) for t in fake.account_trades()}
    bot_fills = [r for r in records if r["type"] == "fill"]
    assert venue_fills and {f["trade_id"] for f in bot_fills} == venue_fills     # fill for fill, none twice
    assert len(bot_fills) == len(venue_fills)
    assert any(f["purpose"] == "hedge" for f in bot_fills) or \
        any(r["type"] == "order" and r.get("purpose") == "hedge" for r in records)   # it hedged
    assert fake.open_orders() == {}                                     # nothing left behind
    cancel_alls = [tx for tx in fake.sent_txs if tx["tx_type"] == 16]
    assert cancel_alls and all(tx["L2TxAttributes"] == {"5": 2} for tx in cancel_alls)   # our market only
    assert summary["position_mismatches"] == 0 and summary["rate_limited"] == 0
    assert max_requests_per_window([t for t, _ in fake.requests]) <= 60


def test_missing_keys_or_extra_refuse_to_start_with_a_message(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LIGHTER_API_KEY_INDEX")
    assert lighter_bot.cli(run_args(fake, tmp_path, 1.0)) == 1
    err = capsys.readouterr().err
    assert "LIGHTER_API_KEY_INDEX" in err and "Traceback" not in err
    assert fake.env["LIGHTER_API_PRIVATE_KEY"] not in err


def test_dry_run_streams_and_reconciles_but_sends_nothing(fake, tmp_path):
    assert lighter_bot.cli(run_args(fake, tmp_path, 3.0) + ["--dry-run"]) == 0
    assert fake.sent_txs == []
    paths = {path for _, path in fake.requests}
    assert {"/api/v1/orderBookDetails", "/api/v1/accountActiveOrders", "/api/v1/account"} <= paths


def test_a_kill_9_mid_run_then_a_restart_reconciles_orders_and_position(fake, tmp_path):
    env = {**os.environ, **fake.env, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", "import lighter_bot; lighter_bot.main()"]
    first = subprocess.Popen(command + run_args(fake, tmp_path, 60.0, "first"), env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sweep_once_quoted(fake, timeout_s=20.0).join()          # a fill, so there is a position to carry on
    deadline = time.time() + 20
    while time.time() < deadline and (not fake.open_orders() or not fake.account_trades()):
        time.sleep(0.05)
    left = fake.open_orders()
    position = fake.position()
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert left, "the first run never had an order open"
    second = subprocess.run(command + run_args(fake, tmp_path, 6.0, "second"), env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    records = trace(tmp_path / "second.jsonl")
    # The orders the killed process left were the restarted bot's to cancel, not to duplicate.
    first_ids = {r["client_id"] for r in trace(tmp_path / "first.jsonl") if r["type"] == "order"}
    second_ids = {r["client_id"] for r in records if r["type"] == "order"}
    assert not (first_ids & second_ids)
    reconciled = [r for r in records if r["type"] == "orders_reconciled"]
    assert reconciled and sum(r.get("orphans", 0) for r in reconciled) >= 1
    assert fake.open_orders() == {}
    # The position carried on: the restarted bot started from the venue's, and its fills add to it.
    second_fills = sum((1 if r["side"] == "buy" else -1) * r["size"] for r in records if r["type"] == "fill")
    killed_fills = [t for t in fake.account_trades() if str(t["trade_id"]) not in
                    {r["trade_id"] for r in records if r["type"] == "fill"}]
    assert abs(fake.position() - (position + second_fills)) < 1e-9 or killed_fills
    summary = json.loads((tmp_path / "second.json").read_text())
    assert summary["position_mismatches"] == 0
