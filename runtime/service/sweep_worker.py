"""One sweep task: one combination of values replayed on one data file, wherever it runs.

The same function runs in the sweep's own process (`--workers 1`), in a local worker process
and in a Ray task, so the three give the same numbers. A task carries texts and plain data
(the policy files' text, the config's dump), never compiled objects; the replay backend and
the config model come from `parts`, a picklable factory the composition root hands in
(`lighter_bot.replay_worker_parts`), so this module never imports an adapter.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rules.loader import load_texts
from runtime.catalog import FEATURE_NAMES
from runtime.market import market_spec
from runtime.service.replay import run_replay

# Each file's run is cut into this many equal time slices of PnL for the noise check (README,
# "Sweep"): enough for a block bootstrap, few enough that a slice holds several fills.
SLICES_PER_FILE = 20

# () -> (replay backend, config model); module-level, so it pickles by reference.
PartsFactory = Callable[[], tuple[Any, Any]]


@dataclass(frozen=True)
class SweepTask:
    combination: int              # index into the sweep's combinations
    file_index: int               # index into --data
    config: dict                  # the config model's dump (validated by the parent)
    policy_texts: tuple[tuple[str, str], ...]
    step_s: float


@dataclass(frozen=True)
class DataSpec:
    """How a local worker process loads a file: from the content-hashed cache the parent filled."""

    paths: tuple[Path, ...]
    fmt: str | None
    cache_dir: Path | None
    start: float | None
    end: float | None


class _TickValues:
    """Realized and mark-to-market PnL after every tick, for the slices; and the time a policy
    paused at least one side (the summary's `paused_seconds` is per policy, and overlapping
    pauses would add up past the run's length)."""

    def __init__(self):
        self.ts: list[float] = []
        self.realized: list[float] = []
        self.mtm: list[float] = []
        self.paused_s = 0.0

    def __call__(self, now: float, trader) -> None:
        values = trader.features.values
        if self.ts and (trader.effects.pause_bid or trader.effects.pause_ask):
            self.paused_s += now - self.ts[-1]
        self.ts.append(now)
        self.realized.append(values["realized_pnl_total"])
        self.mtm.append(values["realized_pnl_total"] + values["unrealized_pnl"])


def slice_pnl(ts: list[float], cumulative: list[float], count: int) -> list[float]:
    """PnL earned in each of `count` equal time slices of the run (cumulative value at each slice's
    end minus at its start; the run starts at 0)."""
    if not ts:
        return [0.0] * count
    start, end = ts[0], ts[-1]
    width = (end - start) / count
    out, previous, i = [], 0.0, 0
    for k in range(1, count + 1):
        bound = end if k == count else start + k * width
        while i + 1 < len(ts) and ts[i + 1] <= bound:
            i += 1
        value = cumulative[i]
        out.append(round(value - previous, 9))
        previous = value
    return out


def run_task(task: SweepTask, data, parts: tuple[Any, Any]) -> dict[str, Any]:
    """The task's replay: the figures the sweep table shows, coverage, and the PnL slices."""
    backend, config_model = parts
    config = config_model.model_validate(task.config)
    policies = load_texts(list(task.policy_texts), FEATURE_NAMES)
    venue = backend.open_venue(data, market_spec(config.market), config.venue.replay)
    ticks = _TickValues()
    summary = run_replay(config, data, venue, policies, task.step_s, [], observers=(ticks,)).summary()
    return {
        "combination": task.combination,
        "file_index": task.file_index,
        "realized_pnl": summary["realized_pnl"],
        "mtm_pnl": summary["mtm_pnl"],
        "fees": summary["fees"],
        "max_abs_inventory": summary["max_abs_inventory"],
        "fills": summary["fills"]["total"],
        "paused_s": round(ticks.paused_s, 3),
        "ticks": summary["ticks"],
        "never_fired": summary["never_fired"],
        "never_entered": summary["never_entered"],
        "slices_realized": slice_pnl(ticks.ts, ticks.realized, SLICES_PER_FILE),
        "slices_mtm": slice_pnl(ticks.ts, ticks.mtm, SLICES_PER_FILE),
    }


# -- local worker processes -----------------------------------------------------------------

_worker: dict[str, Any] = {}


def init_process(parts_factory: PartsFactory, spec: DataSpec) -> None:
    """A pool process's start: the composition root's parts, and where the data is."""
    _worker.clear()
    _worker.update(parts=parts_factory(), spec=spec, data={})


def run_in_process(task: SweepTask) -> dict[str, Any]:
    """A task in a pool process; each file is loaded once per process, from the cache."""
    spec: DataSpec = _worker["spec"]
    backend = _worker["parts"][0]
    if task.file_index not in _worker["data"]:
        _worker["data"][task.file_index] = backend.load_data([spec.paths[task.file_index]], spec.fmt, spec.cache_dir,
                                                             spec.start, spec.end)
    return run_task(task, _worker["data"][task.file_index], _worker["parts"])


def run_remote(task: SweepTask, data, parts_factory: PartsFactory) -> dict[str, Any]:
    """A task on a Ray worker: `data` arrives through the object store (put once per file)."""
    return run_task(task, data, parts_factory())
