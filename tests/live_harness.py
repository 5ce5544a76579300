"""A real bot for live-operation tests: `serve()` on the wall clock, the paper exchange,
policies as files in tmp_path, telemetry scraped over HTTP.

`LiveBot` runs `runtime.service.app.serve` in a background thread with its own event loop,
exactly as `lighter-bot run` does (minus signals, which only the main thread can
take), and records every tick: when it ran and which policy set it ran under.
Tests then edit files on disk and wait, always with a timeout, for what a trader
would see. Nothing here patches our own code.
"""
from __future__ import annotations

import asyncio
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapters.paper.venue import PaperVenue
from rules.loader import load_policy_set
from runtime.service.app import serve
from runtime.catalog import FEATURE_NAMES
from lighter_bot import BotConfig as Config
from runtime.service.loop import RunSummary, WallClock
from runtime.market import market_spec
from runtime.service.status_board import StatusBoard
from runtime.service.telemetry import TelemetryServer
from runtime.trader import Trader

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"

TICK_S = 0.05          # 5x faster than production, so a test sees many ticks per second
WAIT_S = 5.0           # upper bound on any wait; a healthy reload takes about 0.1 s
POLL_S = 0.005

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], what: str, timeout_s: float = WAIT_S) -> T:
    """Poll `predicate` until it returns something truthy; fail (never hang) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(POLL_S)


def copy_policies(dest: Path, source: Path = POLICIES) -> Path:
    """The repo's policy set (top-level files only, as the loader reads a folder) in `dest`."""
    dest.mkdir(parents=True)
    for path in sorted(source.glob("*.yaml")):
        shutil.copyfile(path, dest / path.name)
    return dest


def edit(path: Path, old: str, new: str) -> str:
    """Replace the one occurrence of `old` with a plain write (truncate and rewrite in place)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: expected exactly one {old!r}"
    text = text.replace(old, new)
    path.write_text(text)
    return text


def folder_version(folder: Path) -> str:
    """The version the bot will report once `folder` as it is on disk now is live."""
    return load_policy_set([folder], FEATURE_NAMES).version


@dataclass(frozen=True)
class Tick:
    at: float          # time.monotonic() right after the tick
    ts: float          # the tick's `now` (wall clock, what rules saw)
    version: str       # live policy set the tick ran under


class LiveBot:
    """The bot running in a thread; use as a context manager so it always stops."""

    def __init__(self, policies: Path, *, config: Config | None = None, config_path: Path | None = None,
                 shadow: Path | None = None, watch: bool = True, tick_s: float = TICK_S):
        self.policies, self.shadow_dir = policies, shadow
        self.config = config or Config()
        self.config_path, self.watch, self.tick_s = config_path, watch, tick_s
        market = market_spec(self.config.market)
        start = time.time()
        self.venue = PaperVenue(market, self.config.venue.paper, start)
        self.trader = Trader(self.config, market, load_policy_set([policies], FEATURE_NAMES),
                             shadow=load_policy_set([shadow], FEATURE_NAMES) if shadow else None, start_ts=start)
        self.ticks: list[Tick] = []
        self.on_tick: list[Callable[[float], None]] = []   # extra after-tick observers (loop thread)
        self.board = StatusBoard()
        self.telemetry = TelemetryServer(self.board.latest, None, port=0)
        self.summary: RunSummary | None = None
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="live-bot", daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> LiveBot:
        self.telemetry.start()
        self._thread.start()
        # Three ticks: the loop has yielded twice, so the watchers' tasks have registered
        # their inotify watches and a save from now on is seen.
        wait_for(lambda: len(self.ticks) >= 3 or self._error, "the first ticks")
        self._raise_if_failed()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            self.telemetry.stop()

    def stop(self) -> RunSummary:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "the bot did not stop within its timeout"
        self._raise_if_failed()
        assert self.summary is not None
        return self.summary

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced in the test thread by stop()/__enter__
            self._error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.summary = await serve(self.trader, self.venue, WallClock(), tick_interval_s=self.tick_s,
                                   policies_dir=self.policies, shadow_dir=self.shadow_dir,
                                   config_path=self.config_path, watch=self.watch, stop=self._stop,
                                   after_tick=self._after_tick, board=self.board)

    def _after_tick(self, now: float) -> None:
        self.ticks.append(Tick(time.monotonic(), now, self.trader.policies.compiled.version))
        for observer in self.on_tick:
            observer(now)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise AssertionError("the bot's loop failed") from self._error

    # -- what a test waits for --------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.trader.policies.compiled.version

    def mark(self) -> int:
        """A position in the tick record; take it before a save, pass it to `wait_live`."""
        return len(self.ticks)

    def wait_live(self, version: str, since: int, timeout_s: float = WAIT_S) -> Tick:
        """The first tick after `since` (a `mark()`) that ran under policy set `version`."""
        def first() -> Tick | None:
            self._raise_if_failed()
            return next((t for t in self.ticks[since:] if t.version == version), None)
        return wait_for(first, f"policy version {version} to go live", timeout_s)

    def wait_ticks(self, count: int, timeout_s: float = WAIT_S) -> None:
        """Let `count` more ticks run."""
        target = len(self.ticks) + count
        wait_for(lambda: len(self.ticks) >= target or self._error, f"{count} more ticks", timeout_s)
        self._raise_if_failed()

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics over HTTP: `name` or `name{label="value",...}` -> value."""
        response = httpx.get(f"{self.telemetry.url}/metrics", timeout=2.0)
        response.raise_for_status()
        out = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out


def max_gap_s(ticks: list[Tick]) -> float:
    """The longest wall-clock wait between two consecutive ticks."""
    return max((b.at - a.at for a, b in zip(ticks, ticks[1:])), default=0.0)
