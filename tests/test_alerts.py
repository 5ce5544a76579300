"""deploy/alerts.yml with the real tools: promtool checks and unit-tests every alert, and a real
Prometheus scraping a running bot fires one that a real Alertmanager delivers to a Discord-style
webhook (a tiny HTTP server here). Skipped, with the install command, where the binaries are absent."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml

from ops_harness import APT_INSTALL, REPO, Bot, binary, free_port

DEPLOY = REPO / "deploy"


def need(name: str) -> str:
    path = binary(name)
    if path is None:
        pytest.skip(f"{name} not installed ({APT_INSTALL})")
    return path


def test_alert_rules_pass_promtool_check_rules():
    result = subprocess.run([need("promtool"), "check", "rules", str(DEPLOY / "alerts.yml")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 14 rules found" in result.stdout


def test_every_alert_has_a_hold_a_runbook_and_a_unit_test():
    rules = [r for g in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert len(alerts) == 13
    assert all(r.get("for") and r["annotations"].get("runbook") and r["annotations"].get("summary")
               for r in alerts.values())
    tests = yaml.safe_load((DEPLOY / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case.get("exp_alerts")}
    assert tested == set(alerts)


def test_alert_rules_pass_their_unit_tests():
    result = subprocess.run([need("promtool"), "test", "rules", "alerts_test.yml"], cwd=DEPLOY, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:                  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append({"path": self.path, "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def wait(predicate, what: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def test_a_halted_bot_pages_through_prometheus_and_alertmanager_to_a_discord_webhook(tmp_path):
    prometheus, alertmanager = need("prometheus"), need("prometheus-alertmanager")
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{receiver.server_address[1]}/api/webhooks/123/token"

    # The production rules, evaluated every second instead of every 15 s so the test is quick.
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    am_port, prom_port = free_port(), free_port()
    # Alertmanager's own Discord integration posts Discord's webhook JSON (embeds); no relay needed.
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "discord", "group_by": ["alertname", "market"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "discord", "discord_configs": [{"webhook_url": webhook}]}]}))
    processes: list[subprocess.Popen] = []
    with Bot(tmp_path / "bot", "runtime:\n  tick_interval_s: 0.05\n") as bot:
        try:
            bot.wait_healthy()
            (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(tmp_path / "alerts.yml")],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [{"job_name": "lighter-bot", "static_configs": [
                    {"targets": [f"127.0.0.1:{bot.port}"], "labels": {"market": "SOL"}}]}]}))
            processes.append(subprocess.Popen(
                [alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
                 f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                stdout=subprocess.DEVNULL, stderr=(tmp_path / "am.log").open("w")))
            processes.append(subprocess.Popen(
                [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                stdout=subprocess.DEVNULL, stderr=(tmp_path / "prom.log").open("w")))

            def scraped():
                try:
                    r = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query",
                                  params={"query": 'lighter_bot_trading_state{state="active"}'}, timeout=1.0)
                    return r.status_code == 200 and r.json()["data"]["result"]
                except httpx.TransportError:
                    return None

            wait(scraped, "Prometheus to scrape the bot", 15)
            assert not _Receiver.received                       # an active bot pages nobody
            halt = httpx.post(f"{bot.url}/control/halt", json={"reason": "alerting end-to-end test"}, timeout=2.0)
            assert halt.status_code == 202, halt.text

            def paged():
                return [m for m in _Receiver.received if "LighterBotHalted" in json.dumps(m["body"])]

            message = wait(paged, "the HALTED alert at the webhook", 25)[0]
        finally:
            for proc in processes:
                proc.terminate()
            for proc in processes:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            receiver.shutdown()
    body = message["body"]
    assert message["path"] == "/api/webhooks/123/token"
    # Discord's webhook shape: an `embeds` list of {title, description, color}.
    embed = body["embeds"][0]
    assert embed["title"].startswith("[FIRING:1] LighterBotHalted")
    assert "SOL: HALTED" in embed["description"] and "control/resume" in embed["description"]
    assert isinstance(embed["color"], int)
    shutil.rmtree(tmp_path / "tsdb", ignore_errors=True)
