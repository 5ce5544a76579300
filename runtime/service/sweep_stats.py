"""Reading a sweep: rows per combination, the best value by the stated objective, and the two
warnings that keep a trader from over-reading it.

- Edge: the best value sits at the end of a range, so the optimum may lie beyond it.
- Noise: the best and the runner-up differ by less than the spread of a block bootstrap over
  the runs' PnL slices (time slices resampled in blocks, so a trend or a volatile hour stays
  together); fixed seed, so the same runs give the same interval.
"""
from __future__ import annotations

import math
import random
from typing import Any

OBJECTIVES = {   # --objective -> what is maximised (every one a row key)
    "realized_pnl": "realized PnL",
    "mtm_pnl": "mark-to-market PnL",
    "fills": "fills",
}
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240719
CONFIDENCE = 0.90


def _num(x: float) -> float:
    return round(x, 9) + 0.0        # no -0.0 in the report


def aggregate(results: list[dict], combinations: int, files: int) -> list[dict]:
    """One row per combination from its per-file results (in file order): PnL, fees, fills and
    paused time add up, max |inventory| is the largest, coverage is what no file reached."""
    rows = []
    for c in range(combinations):
        parts = [r for r in results if r["combination"] == c]
        parts.sort(key=lambda r: r["file_index"])
        assert len(parts) == files, f"combination {c}: {len(parts)} results for {files} files"
        rows.append({
            "realized_pnl": _num(sum(p["realized_pnl"] for p in parts)),
            "mtm_pnl": _num(sum(p["mtm_pnl"] for p in parts)),
            "fees": _num(sum(p["fees"] for p in parts)),
            "max_abs_inventory": _num(max(p["max_abs_inventory"] for p in parts)),
            "fills": sum(p["fills"] for p in parts),
            "paused_s": _num(round(sum(p["paused_s"] for p in parts), 3)),
            "ticks": sum(p["ticks"] for p in parts),
            "never_fired": sorted(set.intersection(*(set(p["never_fired"]) for p in parts))),
            "never_entered": sorted(set.intersection(*(set(p["never_entered"]) for p in parts))),
            "slices_realized": [x for p in parts for x in p["slices_realized"]],
            "slices_mtm": [x for p in parts for x in p["slices_mtm"]],
        })
    return rows


def rank(rows: list[dict], objective: str, max_inventory: float) -> list[int]:
    """Indices of the rows within the inventory bound, best first (ties: the earlier row)."""
    eligible = [i for i, r in enumerate(rows) if r["max_abs_inventory"] <= max_inventory]
    return sorted(eligible, key=lambda i: (-rows[i][objective], i))


def edge_warnings(best: tuple[float, ...], grids: list[tuple[str, tuple[float, ...]]]) -> list[str]:
    """One warning per swept parameter whose best value is the first or last of its range."""
    out = []
    for value, (name, values) in zip(best, grids):
        if len(values) > 1 and value in (values[0], values[-1]):
            side = "lowest" if value == values[0] else "highest"
            out.append(f"edge: the best {name} = {value:g} is the {side} value swept ({values[0]:g}..{values[-1]:g}); "
                       "the optimum may lie beyond the range: widen it")
    return out


def block_bootstrap(diffs: list[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                    confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Moving-block bootstrap of the total of `diffs` (per-slice PnL differences): the interval
    that holds `confidence` of the resampled totals. Blocks of about sqrt(n) slices."""
    n = len(diffs)
    block = max(1, round(math.sqrt(n)))
    starts = n - block + 1
    rng = random.Random(seed)
    totals = []
    for _ in range(resamples):
        total, taken = 0.0, 0
        while taken < n:
            s = rng.randrange(starts)
            for x in diffs[s:s + min(block, n - taken)]:
                total += x
            taken += block
        totals.append(total)
    totals.sort()
    tail = (1 - confidence) / 2
    low = totals[int(math.floor(tail * (resamples - 1)))]
    high = totals[int(math.ceil((1 - tail) * (resamples - 1)))]
    return {"slices": n, "block_slices": block, "resamples": resamples, "seed": seed, "confidence": confidence,
            "difference": _num(sum(diffs)), "interval": [_num(low), _num(high)]}


def noise_check(best: dict, runner_up: dict, objective: str) -> tuple[dict | None, list[str]]:
    """The bootstrap of best minus runner-up over their PnL slices, and a warning when its
    interval holds 0 (or the two are equal). Only PnL objectives have slices."""
    key = {"realized_pnl": "slices_realized", "mtm_pnl": "slices_mtm"}.get(objective)
    if key is None:
        return None, []
    diffs = [a - b for a, b in zip(best[key], runner_up[key])]
    boot = block_bootstrap(diffs)
    low, high = boot["interval"]
    if boot["difference"] == 0 or low <= 0 <= high:
        return boot, [f"noise: best minus runner-up is {boot['difference']:+.6g} in {OBJECTIVES[objective]}, inside "
                      f"the {confidence_pct(boot)} block-bootstrap interval [{low:+.6g}, {high:+.6g}] over "
                      f"{boot['slices']} PnL slices: on this data the two cannot be told apart"]
    return boot, []


def confidence_pct(boot: dict) -> str:
    return f"{boot['confidence']:.0%}"


def coverage(rows: list[dict]) -> dict[str, list[str]]:
    """Rules never fired and states never entered under any of the swept values."""
    return {"never_fired": sorted(set.intersection(*(set(r["never_fired"]) for r in rows))),
            "never_entered": sorted(set.intersection(*(set(r["never_entered"]) for r in rows)))}
