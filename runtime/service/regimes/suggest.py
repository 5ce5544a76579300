"""Threshold changes worth trying: which guard setting would have covered the losing slices?

For each tunable threshold (`TUNABLE`), every candidate value is tried on the slices' guard
analogues (features.py): the guard "covers" a slice when its condition would have held at some
minute of it (`trend_guard.down` fires at trend_bps <= down_trigger_bps, so a slice is covered
when its lowest 1-minute change reached the candidate). A candidate's score is the PnL the
covered slices made, negated: a guard that covers mostly losing slices would have kept the bot
out of losses, one that covers winning slices would have cost profit. Only candidates that
tell the two apart (losing share covered at least `MIN_EDGE` above the winning share) count;
the best-scoring one is proposed when it beats the current value.

This is a screen, not a verdict: the bot already ran with the current guard (the slices it
covers are after its effect), a guard changes quoting rather than skipping a slice, and the
analogues are 1-minute figures where the bot reads ticks. So every proposal is replayed with
`policy diff` (verify.py) and is recommended only when that run improves PnL.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


# A candidate must cover this much more of the losing slices than of the winning ones: a threshold
# that engages everywhere "avoids" every loss only by not trading, which is no regime finding.
MIN_EDGE = 0.10


@dataclass(frozen=True)
class Tunable:
    policy: str
    param: str
    column: str                 # the slice column holding the guard analogue's extreme
    fires_at_or_below: bool     # True: the guard fires when the feature <= the threshold
    candidates: tuple[float, ...]
    meaning: str


TUNABLE = (
    Tunable("trend_guard", "down_trigger_bps", "min_guard_trend_bps", True,
            (-2, -3, -4, -5, -6, -8, -10, -12, -15, -20), "quote asks only in a down-trend"),
    Tunable("trend_guard", "up_trigger_bps", "max_guard_trend_bps", False,
            (4, 6, 8, 10, 12, 15, 20, 25), "widen in an up-trend"),
    Tunable("volatility_pause", "pause_vol_bps", "max_guard_vol_bps", False,
            (10, 12, 15, 20, 25, 30, 40, 50), "stop quoting in a volatility burst"),
)


@dataclass(frozen=True)
class Coverage:
    value: float
    covered: int                 # slices the guard would have been engaged in
    losing_covered_share: float  # of the losing slices, the share covered
    winning_covered_share: float
    pnl_covered: float           # PnL those slices made (negative: losses the guard sits on)


@dataclass(frozen=True)
class Suggestion:
    policy: str
    param: str
    meaning: str
    current: float
    proposed: float
    at_current: Coverage
    at_proposed: Coverage
    candidates: list[Coverage] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.policy}.{self.param}"

    def sentence(self) -> str:
        return (f"{self.key} {self.current:g} -> {self.proposed:g} would have engaged in "
                f"{self.at_proposed.losing_covered_share:.0%} of the losing slices (now "
                f"{self.at_current.losing_covered_share:.0%}) and {self.at_proposed.winning_covered_share:.0%} of "
                f"the winning ones; those slices made {self.at_proposed.pnl_covered:+.4f} "
                f"(now {self.at_current.pnl_covered:+.4f})")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["key"] = self.key
        out["sentence"] = self.sentence()
        return out


def coverage(feature: np.ndarray, pnl: np.ndarray, value: float, at_or_below: bool) -> Coverage:
    known = ~np.isnan(feature)
    covered = known & ((feature <= value) if at_or_below else (feature >= value))
    losing, winning = pnl < 0, pnl > 0
    return Coverage(value=float(value), covered=int(np.count_nonzero(covered)),
                    losing_covered_share=float(np.count_nonzero(covered & losing) / max(1, np.count_nonzero(losing))),
                    winning_covered_share=float(np.count_nonzero(covered & winning) / max(1, np.count_nonzero(winning))),
                    pnl_covered=float(pnl[covered].sum()))


def search(columns: dict[str, np.ndarray], pnl: np.ndarray, current: dict[str, float],
           tunables: tuple[Tunable, ...] = TUNABLE, min_edge: float = MIN_EDGE) -> list[Suggestion]:
    """A proposal per tunable whose best candidate covers more loss, net, than its current value.
    `current` maps `policy.param` to the value in the policy files (a tunable not there is skipped)."""
    out = []
    for t in tunables:
        key = f"{t.policy}.{t.param}"
        if key not in current or t.column not in columns:
            continue
        feature = columns[t.column]
        now = coverage(feature, pnl, current[key], t.fires_at_or_below)
        table = [coverage(feature, pnl, v, t.fires_at_or_below) for v in t.candidates]
        telling = [c for c in table if c.losing_covered_share - c.winning_covered_share >= min_edge]
        if not telling:
            continue
        best = min(telling, key=lambda c: (c.pnl_covered, abs(c.value - current[key])))
        if best.value != current[key] and best.pnl_covered < now.pnl_covered - 1e-12:
            out.append(Suggestion(t.policy, t.param, t.meaning, float(current[key]), best.value, now, best, table))
    return out
