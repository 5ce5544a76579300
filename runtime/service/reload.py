"""Live policy reload: watch a folder, compile off the hot path, swap between two ticks.

Stated as code below and as promises here:
- A save is noticed by watchfiles (debounced, so an editor's temp-file-and-rename
  or a `git checkout` of several files is one change) or forced by SIGHUP.
- The whole folder is read and checked in a child process with time and memory limits
  (runtime.service.compile_worker), while the bot keeps ticking; the texts it checked
  are then compiled here. Any problem in any file, an empty folder, a symlink, a check
  that overruns or crashes, rejects the whole new set: the last good set stays live, the
  problems are logged as `file:line: message`, the error counter rises and
  `policy_set_valid` drops to 0 until a save compiles again.
- A compile that finishes after the folder changed again is thrown away and the folder
  checked anew, so a set mixing old and new files never trades.
- The watcher and the compile loop are supervised: if either fails, it is logged and
  restarted; `last_check_wall_ts` says when a check last ran (a gauge, and /health).
- A compiled set is handed to the loop, which swaps it in between two ticks
  (`Trader.swap_policies`), so no tick ever sees half of one set and half of
  another; unchanged rules keep their timers (rules.engine.PolicyEngine.swap).
- Compiles are coalesced: changes that arrive while one is running trigger exactly
  one more, which reads what is on disk then. A burst of saves ends with the last
  content live.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, awatch

from rules.engine import SwapReport
from rules.errors import InputError, Problem
from rules.expr import FeatureCatalog
from rules.loader import POLICY_SUFFIXES, load_texts
from rules.ruleset import CompiledSet
from runtime.service.compile_worker import CompileWorker

log = logging.getLogger("lighter_bot.reload")

# Editors save in bursts (temp file, rename, chmod); 50 ms groups one save into one change
# without adding noticeable latency (the target is save -> live in under 250 ms).
DEBOUNCE_MS = 50
# How often the watcher's thread checks for changes within a debounce window.
STEP_MS = 10
# A failed compile waits this long for a newer save before it is reported as a rejection.
REJECT_GRACE_S = 0.1
# How often a watcher whose folder was deleted looks for it again; a folder replaced by a
# deploy is then watched anew and recompiled within this long.
REWATCH_POLL_S = 0.25
# A watcher or compile loop that failed is restarted after this long (not in a tight loop).
RESTART_AFTER_S = 1.0


@dataclass(frozen=True)
class ReloadOutcome:
    """The result of compiling the folder once: a set, or the problems that rejected it."""

    compiled: CompiledSet | None
    problems: tuple[Problem, ...]
    trigger: str
    detected_at: float                 # time.monotonic() when the change was noticed


class PolicyFolderWatcher:
    """Keeps one policy folder compiled; the loop collects results with `take()`."""

    def __init__(self, folder: Path, features: FeatureCatalog, label: str = "live",
                 wake: asyncio.Event | None = None):
        self.folder = Path(folder).resolve()
        self.features = features
        self.label = label
        self._dirty = asyncio.Event()
        self._trigger = "watch"
        self._detected_at = 0.0
        self._ready: ReloadOutcome | None = None
        # Set when an outcome is ready, so the loop ticks at once instead of at its next slot.
        self.wake = wake if wake is not None else asyncio.Event()
        self.worker = CompileWorker(features)
        self.last_check_wall_ts = 0.0          # when the folder was last checked (whatever the verdict)
        self.alive = True                      # False while a failed watcher or compile loop waits to restart
        self.restarts_total = 0

    def request(self, trigger: str = "SIGHUP") -> None:
        """Ask for a recompile (SIGHUP, tests). Safe to call from the event loop only."""
        if not self._dirty.is_set():
            self._trigger, self._detected_at = trigger, time.monotonic()
        self._dirty.set()

    def take(self) -> ReloadOutcome | None:
        outcome, self._ready = self._ready, None
        return outcome

    def _relevant(self, change: Change, path: str) -> bool:
        p = Path(path)
        if p == self.folder:   # the folder itself moved or went: `_watch` checks it is still the same
            return True
        return p.parent == self.folder and p.suffix in POLICY_SUFFIXES and not p.name.startswith(".")

    async def run(self, stop: asyncio.Event, watch: bool = True) -> None:
        """Watch (unless `watch` is False) and compile on every change until `stop` is set.

        Each of the two loops is supervised: whatever ends it (a bug, an OS error from the
        watch) is logged and the loop restarted, so the bot never goes silently deaf to saves."""
        self.worker.start()
        loops = {"compile": self._compile_loop}
        if watch:
            loops["watch"] = self._watch
        try:
            await asyncio.gather(*(self._supervise(name, loop, stop) for name, loop in loops.items()))
        finally:
            self.worker.close()

    async def _supervise(self, name: str, loop, stop: asyncio.Event) -> None:
        while not stop.is_set():
            task = asyncio.create_task(loop(stop))
            stopped = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if stop.is_set():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return
            error = task.exception() if not task.cancelled() else None
            self.alive = False
            self.restarts_total += 1
            log.error("%s policy %s loop ended (%s); restarting it in %gs", self.label, name,
                      f"{type(error).__name__}: {error}" if error else "no error", RESTART_AFTER_S)
            await _sleep_unless_stopped(stop, RESTART_AFTER_S)
            self.alive = True
            self.request("restart")

    async def _watch(self, stop: asyncio.Event) -> None:
        """Watch the folder, and keep watching it when it is deleted and created again (a deploy
        that replaces the whole folder). Without this the watch ends, or keeps following the
        deleted folder, and the bot is silently deaf to every later save."""
        gone = False
        while not stop.is_set():
            if gone:
                if not self.folder.is_dir():
                    await _sleep_unless_stopped(stop, REWATCH_POLL_S)
                    continue
                log.info("%s policy folder %s is back; watching it again", self.label, self.folder)
                gone = False
                # Requested before the new watch exists, but the compile cannot read the folder
                # until this task yields, and `awatch` registers its watch before it first
                # yields: nothing saved from here on can be missed.
                self.request("watch")
            watched = _identity(self.folder)
            changes_on_disk = awatch(self.folder, watch_filter=self._relevant, debounce=DEBOUNCE_MS,
                                     step=STEP_MS, stop_event=stop, recursive=False)
            try:
                async for changes in changes_on_disk:
                    names = sorted({Path(p).name for _, p in changes})
                    log.debug("%s policies changed on disk: %s", self.label, ", ".join(names))
                    self.request("watch")
                    # Deleted (and perhaps created again, maybe even on the same inode): this
                    # watch follows the old folder, so watch whatever is there now.
                    if (Change.deleted, str(self.folder)) in changes or _identity(self.folder) != watched:
                        break
            except FileNotFoundError:
                pass
            finally:
                await changes_on_disk.aclose()
            if stop.is_set():
                return
            log.warning("%s policy folder %s was deleted or replaced; watching for it to come back",
                        self.label, self.folder)
            gone = True
            await _sleep_unless_stopped(stop, REWATCH_POLL_S)   # so a watch that keeps ending cannot spin

    async def _compile_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._dirty.wait()
            self._dirty.clear()
            trigger, detected = self._trigger, self._detected_at
            outcome = await asyncio.to_thread(self._compile, trigger, detected)
            if self._dirty.is_set():
                continue   # the folder changed while it was being read: check what is there now
            if outcome.compiled is None:
                # An editor writing in place can be caught half-way; its next write is a change
                # of its own. Report a rejection only if nothing newer arrives shortly after.
                await _sleep_unless_stopped(self._dirty, REJECT_GRACE_S)
                if self._dirty.is_set():
                    continue
            self._ready = outcome
            self.wake.set()

    def _compile(self, trigger: str, detected_at: float) -> ReloadOutcome:
        """Check in the child, compile the checked texts here. Never raises: any failure is a
        rejected reload with a located message, and the last good set keeps trading."""
        try:
            result = self.worker.check(self.folder)
            if result.texts is None:
                return ReloadOutcome(None, result.problems, trigger, detected_at)
            return ReloadOutcome(load_texts(list(result.texts), self.features), (), trigger, detected_at)
        except InputError as exc:
            return ReloadOutcome(None, tuple(exc.problems), trigger, detected_at)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the reload fails and the bot goes on
            return ReloadOutcome(None, (Problem(self.folder, 0, 0, "", f"reload failed: {type(exc).__name__}: {exc}"),),
                                 trigger, detected_at)
        finally:
            self.last_check_wall_ts = time.time()


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which directory is at `folder` now (device, inode); None when there is none."""
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def describe_changes(old: CompiledSet, new: CompiledSet, report: SwapReport) -> list[str]:
    """The reload diff a trader reads in the log: what was added, removed, changed, and how."""
    lines = []
    for policy in sorted(set(new.policies) - set(old.policies)):
        lines.append(f"policy added: {policy}")
    for policy in sorted(set(old.policies) - set(new.policies)):
        lines.append(f"policy removed: {policy}")
    for policy in sorted(set(old.policies) & set(new.policies)):
        before, after = old.params.get(policy, {}), new.params.get(policy, {})
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                lines.append(f"{policy}.{name}: {before.get(name, '(none)')} -> {after.get(name, '(none)')}")
    lines += [f"rule added: {k}" for k in report.added]
    lines += [f"rule removed: {k}" for k in report.removed]
    lines += [f"rule changed (timers reset): {k}" for k in report.changed]
    return lines


def apply_outcome(trader, outcome: ReloadOutcome, counters, shadow: bool = False) -> bool:
    """Swap a compiled set into `trader` (a runtime.trader.Trader), or record the rejection in
    `counters` (a runtime.service.status_board.ReloadCounters).

    Returns True when a new set went live. Called by the loop between two ticks.
    """
    label = "shadow" if shadow else "live"
    if outcome.compiled is None:
        if not shadow:
            counters.set_valid = False
            counters.errors_total += 1
        log.error("%s policy reload rejected (%s); keeping version %s:\n  %s", label, outcome.trigger,
                  trader.shadow.compiled.version if shadow and trader.shadow else trader.policies.compiled.version,
                  "\n  ".join(str(p) for p in outcome.problems))
        trader.trace.event("policy_reload_rejected", ts=trader.now, shadow=shadow,
                            problems=[str(p) for p in outcome.problems])
        return False
    new = outcome.compiled
    if shadow:
        if trader.shadow is not None and trader.shadow.compiled.version == new.version:
            return False
        trader.swap_shadow(new)
        log.info("shadow policies now version %s (%s)", new.version, outcome.trigger)
        return True
    counters.set_valid = True
    old = trader.policies.compiled
    if new.version == old.version:
        return False
    report = trader.swap_policies(new)
    counters.total += 1
    latency_ms = (time.monotonic() - outcome.detected_at) * 1000
    changes = describe_changes(old, new, report) or ["no rule changes (formatting or comments only)"]
    log.info("policies reloaded (%s): %s -> %s in %.0f ms after the change\n  %s", outcome.trigger, old.version,
             new.version, latency_ms, "\n  ".join(changes))
    return True
