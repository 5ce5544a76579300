"""Live policy reload: watch a folder, compile off the hot path, swap between two ticks.

Stated as code below and as promises here:
- A save is noticed by watchfiles (debounced, so an editor's temp-file-and-rename
  or a `git checkout` of several files is one change) or forced by SIGHUP.
- The whole folder is read and compiled in a worker thread while the bot keeps
  ticking. Any problem in any file rejects the whole new set: the last good set
  stays live, the problems are logged as `file:line: message`, the error counter
  rises and `policy_set_valid` drops to 0 until a save compiles again.
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
from dataclasses import dataclass, field
from pathlib import Path

from watchfiles import Change, awatch

from rules.engine import SwapReport
from rules.errors import InputError, Problem
from rules.loader import POLICY_SUFFIXES, load_policy_set
from rules.ruleset import CompiledSet

log = logging.getLogger("lighter_bot.reload")

# Editors save in bursts (temp file, rename, chmod); 50 ms groups one save into one change
# without adding noticeable latency (the target is save -> live in under 250 ms).
DEBOUNCE_MS = 50
# How often the watcher's thread checks for changes within a debounce window.
STEP_MS = 10


@dataclass(frozen=True)
class ReloadOutcome:
    """The result of compiling the folder once: a set, or the problems that rejected it."""

    compiled: CompiledSet | None
    problems: tuple[Problem, ...]
    trigger: str
    detected_at: float                 # time.monotonic() when the change was noticed
    compiled_at: float = field(default_factory=time.monotonic)


class PolicyFolderWatcher:
    """Keeps one policy folder compiled; the loop collects results with `take()`."""

    def __init__(self, folder: Path, features: frozenset[str], label: str = "live",
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
        return p.parent == self.folder and p.suffix in POLICY_SUFFIXES and not p.name.startswith(".")

    async def run(self, stop: asyncio.Event, watch: bool = True) -> None:
        """Watch (unless `watch` is False) and compile on every change until `stop` is set."""
        tasks = [asyncio.create_task(self._compile_loop(stop))]
        if watch:
            tasks.append(asyncio.create_task(self._watch(stop)))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, stop: asyncio.Event) -> None:
        async for changes in awatch(self.folder, watch_filter=self._relevant, debounce=DEBOUNCE_MS,
                                    step=STEP_MS, stop_event=stop, recursive=False):
            names = sorted({Path(p).name for _, p in changes})
            log.debug("%s policies changed on disk: %s", self.label, ", ".join(names))
            self.request("watch")

    async def _compile_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._dirty.wait()
            self._dirty.clear()
            trigger, detected = self._trigger, self._detected_at
            outcome = await asyncio.to_thread(self._compile, trigger, detected)
            self._ready = outcome
            self.wake.set()

    def _compile(self, trigger: str, detected_at: float) -> ReloadOutcome:
        try:
            compiled = load_policy_set([self.folder], self.features)
        except InputError as exc:
            return ReloadOutcome(None, tuple(exc.problems), trigger, detected_at)
        except OSError as exc:
            return ReloadOutcome(None, (Problem(self.folder, 0, 0, "", f"cannot read policies: {exc}"),),
                                 trigger, detected_at)
        return ReloadOutcome(compiled, (), trigger, detected_at)


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


def apply_outcome(trader, outcome: ReloadOutcome, shadow: bool = False) -> bool:
    """Swap a compiled set into `trader` (a runtime.trader.Trader), or record the rejection.

    Returns True when a new set went live. Called by the loop between two ticks.
    """
    label = "shadow" if shadow else "live"
    if outcome.compiled is None:
        if not shadow:
            trader.policy_set_valid = False
            trader.policy_reload_errors_total += 1
        log.error("%s policy reload rejected (%s); keeping version %s:\n  %s", label, outcome.trigger,
                  trader.shadow.compiled.version if shadow and trader.shadow else trader.policies.compiled.version,
                  "\n  ".join(str(p) for p in outcome.problems))
        trader.decisions.event("policy_reload_rejected", ts=trader.now, shadow=shadow,
                               problems=[str(p) for p in outcome.problems])
        return False
    new = outcome.compiled
    if shadow:
        if trader.shadow is not None and trader.shadow.compiled.version == new.version:
            return False
        trader.swap_shadow(new)
        log.info("shadow policies now version %s (%s)", new.version, outcome.trigger)
        return True
    trader.policy_set_valid = True
    old = trader.policies.compiled
    if new.version == old.version:
        return False
    report = trader.swap_policies(new)
    trader.policy_reload_total += 1
    latency_ms = (time.monotonic() - outcome.detected_at) * 1000
    changes = describe_changes(old, new, report) or ["no rule changes (formatting or comments only)"]
    log.info("policies reloaded (%s): %s -> %s in %.0f ms after the change\n  %s", outcome.trigger, old.version,
             new.version, latency_ms, "\n  ".join(changes))
    return True
