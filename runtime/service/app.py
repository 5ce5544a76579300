"""The running bot: trading loop, policy watchers, config watcher and signals, wired together.

`serve` is what `lighter-bot run` executes and what the live-reload tests drive
with real files on disk; the venue and clock are passed in, so it never imports an
adapter.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ValidationError
from watchfiles import awatch

from rules.errors import InputError
from runtime.catalog import FEATURE_NAMES
from runtime.config import Config
from runtime.ports import Venue
from runtime.service.config import BotConfig, load_config
from runtime.service.loop import Clock, RunSummary, run_trader
from runtime.service.operator import OperatorCommands
from runtime.service.reload import DEBOUNCE_MS, RESTART_AFTER_S, STEP_MS, PolicyFolderWatcher, apply_outcome
from runtime.service.status_board import StatusBoard
from runtime.trader import Trader

log = logging.getLogger("lighter_bot.app")

# Sections of config.yaml that take effect on save. The rest sizes state (feature
# windows), names the market or venue, or is a hard limit: changing those needs a
# restart, so a restart is what we ask for rather than half-applying them.
RELOADABLE_SECTIONS = ("maker", "hedger")
# Keys inside those sections that the feature store copied at start-up: the EWMA half-life
# and the trend window size its state, and the hedge trigger starts the
# `unhedged_exposure_s` clock. Handing them to the maker or hedger alone would leave the
# store, and every policy reading it, on the old value, so they wait for a restart too.
STARTUP_ONLY_KEYS = (("maker", "volatility", "halflife_s"), ("maker", "trend", "lookback_s"),
                     ("hedger", "trigger_units"))
# Config values the feature store also publishes as features; refreshed when they reload.
FEATURE_MIRRORS = {"size_min_units": ("maker", "size_min_units"), "size_max_units": ("maker", "size_max_units"),
                   "hedge_target_units": ("hedger", "target_units"),
                   "hedge_standdown_s": ("hedger", "standdown_s"), "hedge_retrace_bps": ("hedger", "retrace_bps")}


async def serve(trader: Trader, venue: Venue, clock: Clock, *, tick_interval_s: float,
                policies_dir: Path, shadow_dir: Path | None = None, config_path: Path | None = None,
                watch: bool = True, duration_s: float | None = None, stop: asyncio.Event | None = None,
                after_tick: Callable[[float], None] | None = None,
                handle_signals: bool = False, board: StatusBoard | None = None,
                commands: OperatorCommands | None = None) -> RunSummary:
    """Run the trader until `duration_s` or `stop`, reloading policies and config as they change.

    `board` receives a status snapshot after every tick; `commands` are operator commands
    (from the HTTP thread) handed to the trader between ticks.
    """
    stop = stop or asyncio.Event()
    board = board or StatusBoard()
    wake = asyncio.Event()
    live = PolicyFolderWatcher(policies_dir, FEATURE_NAMES, "live", wake)
    shadow = PolicyFolderWatcher(shadow_dir, FEATURE_NAMES, "shadow", wake) if shadow_dir else None
    watchers_stop = asyncio.Event()
    tasks = [asyncio.create_task(live.run(watchers_stop, watch))]
    if shadow is not None:
        tasks.append(asyncio.create_task(shadow.run(watchers_stop, watch)))
    if watch and config_path is not None:
        tasks.append(asyncio.create_task(_watch_config(trader, config_path, watchers_stop, type(trader.config))))
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: _force_reload(live, shadow))

    def between_ticks(now: float) -> None:
        board.reload.alive = live.alive and (shadow is None or shadow.alive)
        board.reload.last_check_wall_ts = live.last_check_wall_ts
        if commands is not None:
            for action, reason in commands.drain():
                trader.operator(action, reason)
        outcome = live.take()
        if outcome is not None:
            apply_outcome(trader, outcome, board.reload)
        if shadow is not None:
            outcome = shadow.take()
            if outcome is not None:
                apply_outcome(trader, outcome, board.reload, shadow=True)

    try:
        return await run_trader(trader, venue, clock, tick_interval_s=tick_interval_s, duration_s=duration_s,
                                stop=stop, wake=wake, between_ticks=between_ticks, after_tick=after_tick,
                                board=board)
    finally:
        watchers_stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


def _force_reload(live: PolicyFolderWatcher, shadow: PolicyFolderWatcher | None) -> None:
    log.info("SIGHUP: reloading policies")
    live.request("SIGHUP")
    if shadow is not None:
        shadow.request("SIGHUP")


async def _watch_config(trader: Trader, path: Path, stop: asyncio.Event, model: type[BotConfig]) -> None:
    """Apply config.yaml saves while the bot runs. Nothing a save contains can end this watch:
    a bad file is a located error and the running config stays; a failure of the watch itself
    is logged and the watch started again."""
    path = path.resolve()
    while not stop.is_set():
        try:
            async for _ in awatch(path.parent, watch_filter=lambda _, p: Path(p) == path, debounce=DEBOUNCE_MS,
                                  step=STEP_MS, stop_event=stop, recursive=False):
                _reload_config(trader, path, model)
            return
        except Exception as exc:  # noqa: BLE001 - logged; the watch restarts
            log.error("config watch failed (%s: %s); watching again in %gs", type(exc).__name__, exc,
                      RESTART_AFTER_S)
            try:
                await asyncio.wait_for(stop.wait(), RESTART_AFTER_S)
            except asyncio.TimeoutError:
                pass


def _reload_config(trader: Trader, path: Path, model: type[BotConfig]) -> None:
    try:
        new = load_config(path, model)
    except InputError as exc:
        log.error("config reload rejected; keeping the running config:\n  %s",
                  "\n  ".join(str(p) for p in exc.problems))
        return
    except Exception as exc:  # noqa: BLE001 - a save must never take the bot down
        log.error("config reload failed (%s: %s); keeping the running config", type(exc).__name__, exc)
        return
    apply_config(trader, new)


def apply_config(trader: Trader, new: Config) -> list[str]:
    """Apply the reloadable parts of `new`; return the changed keys that were NOT applied.

    What runs afterwards is `new` with every restart-only value kept as started,
    validated as a whole, so a save can never leave e.g. a hedger target at or above
    the trigger that is still running. If that combination is invalid nothing applies.
    """
    old = trader.config
    running, data = old.model_dump(), new.model_dump()
    for section in type(new).model_fields:
        if section not in RELOADABLE_SECTIONS:
            data[section] = running[section]
    for *parents, name in STARTUP_ONLY_KEYS:
        node, kept = data, running
        for part in parents:
            node, kept = node[part], kept[part]
        node[name] = kept[name]
    try:
        effective = type(new).model_validate(data)
    except ValidationError as exc:
        log.error("config reload rejected; keeping the running config: with the restart-only values kept as "
                  "started, the new settings are inconsistent: %s", "; ".join(e["msg"] for e in exc.errors()))
        return _config_diff(old, new)
    applied = _config_diff(old, effective)
    restart = _config_diff(effective, new)
    if applied:
        trader.maker.config = effective.maker
        trader.hedger.config = effective.hedger
        trader.config = effective
        trader.features.values.update({feature: getattr(getattr(effective, section), key)
                                       for feature, (section, key) in FEATURE_MIRRORS.items()})
        log.info("config reloaded: %s", ", ".join(applied))
    if restart:
        log.warning("config changes that need a restart were NOT applied (hard limits, market, venue and "
                    "feature windows stay as started): %s", ", ".join(restart))
    return restart


def _config_diff(old: Config, new: Config) -> list[str]:
    return [key for section in type(new).model_fields
            for key in _changed_keys(getattr(old, section), getattr(new, section), section)]


def _changed_keys(old: BaseModel, new: BaseModel, prefix: str) -> list[str]:
    out = []
    for name in type(new).model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if isinstance(a, BaseModel) and isinstance(b, BaseModel):
            out += _changed_keys(a, b, f"{prefix}.{name}")
        elif a != b:
            out.append(f"{prefix}.{name} ({a} -> {b})")
    return out
