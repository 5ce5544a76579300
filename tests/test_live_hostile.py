"""Hostile saves into a running bot: it keeps ticking on schedule under its last good set, says so
(policy_set_valid 0, the error counter, /health 503 naming the problem, a located log line), and the
next good save goes live. Nothing saved can stop reloading for good."""
from __future__ import annotations

import logging
import os
import re
import time

import httpx
import pytest

from live_harness import TICK_S, LiveBot, copy_policies, folder_version, max_gap_s, wait_for
from lighter_bot import load_config
from runtime.catalog import FEATURE_NAMES
from runtime.service.compile_worker import CompileWorker
from test_hostile_inputs import BOMB, TOWER

UP_12 = "up_trigger_bps: 12 "


@pytest.fixture
def policies(tmp_path):
    return copy_policies(tmp_path / "policies")


@pytest.fixture
def bot_log(caplog):
    caplog.set_level(logging.INFO, logger="lighter_bot")
    return lambda: "\n".join(record.getMessage() for record in caplog.records)


def health(bot: LiveBot) -> tuple[int, dict]:
    response = httpx.get(f"{bot.telemetry.url}/health", timeout=2.0)
    return response.status_code, response.json()


def trend_with(policies, when: str) -> str:
    text = (policies / "trend_guard.yaml").read_text()
    return re.sub(r"when: trend_bps >= up_trigger_bps", f"when: \"{when}\"", text, count=1)


HOSTILE_SAVES = {
    "power tower": lambda p: trend_with(p, f"{TOWER} % 7 == 100"),
    "310-digit literal": lambda p: trend_with(p, "mid * 1" + "0" * 310 + " > 0"),
    "4400-digit integer": lambda p: (p / "trend_guard.yaml").read_text().replace(UP_12, "up_trigger_bps: 1"
                                                                                  + "0" * 4400 + " "),
    "400-digit param": lambda p: (p / "trend_guard.yaml").read_text().replace(UP_12, "up_trigger_bps: 1"
                                                                                 + "0" * 400 + " "),
    "nested 600 levels": lambda p: "x: " + "[" * 600 + "]" * 600 + "\n",
    "billion laughs": lambda p: BOMB + "\n",
    "not UTF-8": lambda p: (p / "trend_guard.yaml").read_text() + "# caf\udce9\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_SAVES))
def test_a_hostile_save_is_refused_and_the_bot_keeps_trading(policies, bot_log, case):
    trend = policies / "trend_guard.yaml"
    good = trend.read_text()
    bad = HOSTILE_SAVES[case](policies)
    with LiveBot(policies) as bot:
        old = bot.version
        since = bot.mark()
        if case == "not UTF-8":
            trend.write_bytes(bad.encode("utf-8", "surrogateescape"))
        else:
            trend.write_text(bad)
        wait_for(lambda: bot.metrics()["policy_set_valid"] == 0, "policy_set_valid to drop to 0")
        bot.wait_ticks(10)
        assert all(t.version == old for t in bot.ticks[since:])        # the last good set trades
        assert max_gap_s(bot.ticks[since:]) < 10 * TICK_S                # on schedule, never stalled
        metrics = bot.metrics()
        assert metrics["policy_reload_errors_total"] >= 1 and metrics["policy_reload_alive"] == 1
        code, body = health(bot)
        assert code == 503 and any("do not compile" in p for p in body["problems"])
        assert re.search(rf"live policy reload rejected .*\n  {re.escape(str(trend.resolve()))}:", bot_log())

        since = bot.mark()
        trend.write_text(good.replace(UP_12, "up_trigger_bps: 14 "))     # the next good save goes live
        bot.wait_live(folder_version(policies), since)
        wait_for(lambda: health(bot)[0] == 200, "/health back to 200")


def test_emptying_the_folder_is_refused_and_the_guards_stay(policies, bot_log):
    with LiveBot(policies) as bot:
        old = bot.version
        for path in policies.glob("*.yaml"):
            path.unlink()
        wait_for(lambda: bot.metrics()["policy_set_valid"] == 0, "policy_set_valid to drop to 0")
        bot.wait_ticks(5)
        assert bot.version == old and len(bot.trader.policies.compiled.rules) == 15
        assert "no policy files" in bot_log() and health(bot)[0] == 503


def test_a_symlink_to_a_file_outside_is_refused(policies, tmp_path, bot_log):
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((policies / "trend_guard.yaml").read_text())
    with LiveBot(policies) as bot:
        old = bot.version
        (policies / "trend_guard.yaml").unlink()
        os.symlink(outside, policies / "trend_guard.yaml")
        wait_for(lambda: bot.metrics()["policy_set_valid"] == 0, "policy_set_valid to drop to 0")
        assert bot.version == old and "is a symbolic link" in bot_log()


def test_a_check_that_overruns_is_abandoned_and_the_next_one_runs(tmp_path, policies):
    """Whatever gets past the bounds, a check runs in a child process killed at its time limit: here
    the child blocks for good opening a FIFO nobody writes to."""
    fifo = tmp_path / "stuck.yaml"
    os.mkfifo(fifo)
    worker = CompileWorker(FEATURE_NAMES, timeout_s=0.5)
    try:
        started = time.monotonic()
        result = worker.check(fifo)
        assert time.monotonic() - started < 3.0
        assert result.texts is None and "abandoned" in result.problems[0].message
        good = worker.check(policies)                                   # a fresh child answers
        assert good.texts is not None and len(good.texts) == 8
    finally:
        worker.close()


def test_a_rule_that_cannot_be_evaluated_degrades_health_and_the_guard_fails_closed(policies, bot_log):
    vol = policies / "volatility_pause.yaml"
    with LiveBot(policies) as bot:
        since = bot.mark()
        vol.write_text(vol.read_text().replace("when: vol_bps >= pause_vol_bps",
                                               "when: vol_bps / (fill_count - fill_count) >= pause_vol_bps"))
        bot.wait_live(folder_version(policies), since)
        bot.wait_ticks(5)
        assert "volatility_pause.pause" in bot.trader.policies.firing()        # fails closed: paused
        assert bot.trader.plan is None or (bot.trader.plan.bid is None and bot.trader.plan.ask is None)
        code, body = health(bot)
        assert code == 503 and any("volatility_pause.pause" in p for p in body["problems"])
        assert re.search(rf"{re.escape(str(vol.resolve()))}:\d+: rule volatility_pause.pause cannot be "
                         r"evaluated \(ZeroDivisionError", bot_log())
        metrics = bot.metrics()
        assert metrics['lighter_bot_rule_errors_total{rule="volatility_pause.pause"}'] >= 1


def test_a_non_utf8_config_save_is_refused_and_later_saves_still_apply(tmp_path, policies, bot_log):
    config_path = tmp_path / "config.yaml"
    config_path.write_text("maker:\n  spread_bps: 12\n")
    with LiveBot(policies, config=load_config(config_path), config_path=config_path) as bot:
        config_path.write_bytes(b"maker:\n  spread_bps: 13 # caf\xe9\n")
        wait_for(lambda: "not UTF-8" in bot_log(), "the rejection")
        config_path.write_text("maker:\n  spread_bps: 30\n")
        wait_for(lambda: bot.trader.maker.config.spread_bps == 30, "the next good config save")
