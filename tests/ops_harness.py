"""A real `lighter-bot run` in a subprocess on the paper exchange, for the operations tests
(metrics lint, alerts, the dashboard): the CLI as the seed runs it, served on a free port."""
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

REPO = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-c", "from lighter_bot import main; main()"]
APT_INSTALL = "apt-get update && apt-get install -y prometheus prometheus-alertmanager"

# The seed's gauges (bot-state-packet.md), exported under their own names.
SEED_GAUGES = ("maker_fifo_realized_quote", "maker_high_vol_clip_active", "maker_trend_down_guard",
               "maker_trend_down_cooldown_active", "maker_regime_state", "maker_guard_block_active",
               "hedger_force_aggressive", "hedger_guard_emergency")
PORTFOLIO_GAUGES = ("portfolio_position_units", "portfolio_notional_quote", "portfolio_entry_price",
                    "portfolio_unrealized_pnl_quote", "portfolio_realized_pnl_quote")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name: str) -> str | None:
    return shutil.which(name)


class Bot:
    """`lighter-bot run` in `workdir` on a free port; stopped with SIGTERM."""

    def __init__(self, workdir: Path, config: str = "", duration_s: float = 120.0):
        self.workdir = workdir
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        if not (workdir / "policies").exists():
            shutil.copytree(REPO / "policies", workdir / "policies")
        (workdir / "config.yaml").write_text(config)
        env = {**os.environ, "PORT": str(self.port), "PYTHONPATH": str(REPO)}
        self.log = workdir / "bot.log"
        self.proc = subprocess.Popen(BOT + ["run", "--duration", str(duration_s)], cwd=workdir, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout_s: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                response = httpx.get(f"{self.url}/health", timeout=1.0)
                if response.status_code == 200:
                    return response.json()
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"bot never became healthy: {self.log.read_text()[-3000:]}")

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=2.0).text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Bot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
