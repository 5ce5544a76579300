"""What rules may ask for, and how the asks of many rules combine.

Deciding is separate from acting: rules only produce effects; the maker, hedger
and risk gate apply them. The merge is deterministic and independent of rule
order, one line per effect:

| effect                 | type | merge   | neutral | kind       | config bound applied by the consumer | meaning |
|------------------------|------|---------|---------|------------|--------------------------------------|---------|
| spread_add_bps         | num  | sum     | 0       | addend     | sum clamped to [-maker.max_spread_cut_bps, +maker.max_spread_add_bps]; spread >= maker.min_spread_bps | widen (or, negative, tighten) both quotes |
| bid_spread_add_bps     | num  | sum     | 0       | addend     | per side clamped like spread_add_bps; the side stays >= min_spread_bps/2 from the mid | widen the bid only (skew away from a side) |
| ask_spread_add_bps     | num  | sum     | 0       | addend     | as bid_spread_add_bps | widen the ask only |
| size_mult              | num  | product | 1       | multiplier | result clamped to maker.size_min_units..size_max_units | scale quote size |
| size_cap_units         | num  | min     | none    | cap        | never raised: if the venue minimum (or notional floor) at the quote's price is above it, that side is not quoted ("size_cap") | quote size may not exceed this |
| pause                  | side | or      | none    | flag       | -                                    | stop quoting bid, ask or both |
| bid_cooldown_s         | num  | max     | 0       | floor      | -                                    | after a bid fill, wait this long before quoting a bid again |
| ask_cooldown_s         | num  | max     | 0       | floor      | -                                    | same for asks |
| reduce_only            | bool | or      | false   | flag       | -                                    | request the REDUCING trading state (lifts when no rule asks) |
| halt                   | bool | or      | false   | flag       | -                                    | request HALTED; latches until an operator resumes |
| hedge_clip_mult        | num  | product | 1       | multiplier | clip = hedger.max_clip_units x mult, never more than abs(inventory) | scale hedge clips |
| hedge_max_slippage_bps | num  | min     | none    | cap        | min(hedger.max_slippage_bps, value): never loosened | taker slippage cap from the mid |
| hedge_cross_bps        | num  | min     | none    | target     | replaces hedger.cross_bps; the cross price is still bounded by the slippage cap | price a cross this far past the touch |
| hedge_cross_add_bps    | num  | sum     | 0       | addend     | added to the cross depth; bounded by the slippage cap | extra distance past the touch (escalation) |
| hedge_force_aggressive | bool | or      | false   | flag       | not during a stand-down after an abandoned chase | cross now instead of waiting passively |
| hedge_cooldown_s       | num  | max     | 0       | floor      | max(hedger.cooldown_s, value)        | pause between hedge clips |
| hedge_max_chase_bps    | num  | min     | none    | cap        | min(hedger.max_chase_bps, value)     | abandon a planned cross once the mid moved this far |
| hedge_standdown_s      | num  | max     | 0       | floor      | max(hedger.standdown_s, value)       | after an abandoned cross, no cross for this long |
| hedge_retrace_bps      | num  | min     | none    | cap        | min(hedger.retrace_bps, value, chase limit) | ...unless the mid is back this close to the plan |

Kinds: a *cap* is an upper limit, merged as the tightest (min) and never above its config
value; a *floor* is a lower limit, merged as the longest (max) and never below config; an
*addend* sums and is clamped by its config bound; a *multiplier* multiplies and its result is
clamped; a *target* is a value to use (not a limit): rules disagreeing take the smallest, it
replaces the config value, and a cap bounds what it can cause. A *flag* ORs.

"Tightest wins" (min) for caps and limits means adding a policy can only make the
bot more careful; no effect can raise a hard limit (those live in runtime.risk).
"""
from __future__ import annotations

import math
from typing import Iterable, Literal, NamedTuple

Merge = Literal["sum", "product", "min", "max", "or"]

# name -> (merge, neutral value). None as neutral means "no rule set it".
MERGES: dict[str, tuple[Merge, float | bool | None]] = {
    "spread_add_bps": ("sum", 0.0),
    "bid_spread_add_bps": ("sum", 0.0),
    "ask_spread_add_bps": ("sum", 0.0),
    "size_mult": ("product", 1.0),
    "size_cap_units": ("min", None),
    "pause_bid": ("or", False),
    "pause_ask": ("or", False),
    "bid_cooldown_s": ("max", 0.0),
    "ask_cooldown_s": ("max", 0.0),
    "reduce_only": ("or", False),
    "halt": ("or", False),
    "hedge_clip_mult": ("product", 1.0),
    "hedge_max_slippage_bps": ("min", None),
    "hedge_cross_bps": ("min", None),
    "hedge_cross_add_bps": ("sum", 0.0),
    "hedge_force_aggressive": ("or", False),
    "hedge_cooldown_s": ("max", 0.0),
    "hedge_max_chase_bps": ("min", None),
    "hedge_standdown_s": ("max", 0.0),
    "hedge_retrace_bps": ("min", None),
}
BOOL_EFFECTS = frozenset(name for name, (merge, _) in MERGES.items() if merge == "or")
EFFECT_INDEX = {name: i for i, name in enumerate(MERGES)}
# Numbers a rule may produce for these effects; outside, the value is refused as a rule error.
NON_NEGATIVE = frozenset({"size_mult", "size_cap_units", "bid_cooldown_s", "ask_cooldown_s", "hedge_clip_mult",
                          "hedge_max_slippage_bps", "hedge_cross_bps", "hedge_cooldown_s", "hedge_max_chase_bps",
                          "hedge_standdown_s", "hedge_retrace_bps"})


class Effects(NamedTuple):
    """The merged effects of every firing rule and current state for one tick.

    A NamedTuple, not a frozen dataclass: it is built on every tick with expression-valued
    effects, and a tuple is constructed about ten times faster.
    """

    spread_add_bps: float = 0.0
    bid_spread_add_bps: float = 0.0
    ask_spread_add_bps: float = 0.0
    size_mult: float = 1.0
    size_cap_units: float | None = None
    pause_bid: bool = False
    pause_ask: bool = False
    bid_cooldown_s: float = 0.0
    ask_cooldown_s: float = 0.0
    reduce_only: bool = False
    halt: bool = False
    hedge_clip_mult: float = 1.0
    hedge_max_slippage_bps: float | None = None
    hedge_cross_bps: float | None = None
    hedge_cross_add_bps: float = 0.0
    hedge_force_aggressive: bool = False
    hedge_cooldown_s: float = 0.0
    hedge_max_chase_bps: float | None = None
    hedge_standdown_s: float = 0.0
    hedge_retrace_bps: float | None = None

    def non_neutral(self) -> dict[str, float | bool]:
        """Only the effects some rule set, for traces and `explain`."""
        return {name: value for name, value, neutral in zip(_FIELDS, self, _NEUTRALS) if value != neutral}


NEUTRAL = Effects()
assert Effects._fields == tuple(MERGES), "Effects fields and MERGES must match"


def is_protective(name: str, value: float | bool) -> bool:
    """Whether asking for `value` makes the bot more careful: widen, shrink, cap, pause, cool down,
    reduce, halt, or hedge sooner and within tighter limits. A rule whose every effect is
    protective is a guard, and a guard whose condition cannot be evaluated fires (fails closed)."""
    if name in BOOL_EFFECTS:
        return bool(value)
    if name in ("spread_add_bps", "bid_spread_add_bps", "ask_spread_add_bps", "bid_cooldown_s", "ask_cooldown_s",
                "hedge_cooldown_s", "hedge_standdown_s"):
        return value >= 0
    if name == "size_mult":
        return value <= 1
    # Caps and limits (merged as the tightest): setting one can only make the bot more careful.
    return MERGES[name][0] == "min"


def valid_value(name: str, value: float | bool) -> bool:
    """Whether a computed effect value can be applied (finite; non-negative where that matters)."""
    if name in BOOL_EFFECTS:
        return True
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return not (name in NON_NEGATIVE and value < 0)


_KINDS = tuple(kind for kind, _ in MERGES.values())
_NEUTRALS = tuple(neutral for _, neutral in MERGES.values())
_FIELDS = Effects._fields


def accumulate(acc: list, contributions: Iterable[tuple[str, float | bool]]) -> list:
    """Fold (effect name, value) pairs into `acc` (a list in MERGES order) and return it."""
    for name, value in contributions:
        i = EFFECT_INDEX[name]
        kind = _KINDS[i]
        current = acc[i]
        if kind == "sum":
            acc[i] = current + value
        elif kind == "product":
            acc[i] = current * value
        elif kind == "or":
            acc[i] = current or bool(value)
        elif kind == "max":
            acc[i] = value if value > current else current
        elif current is None or value < current:  # min
            acc[i] = value
    return acc


def neutral_accumulator() -> list:
    return list(_NEUTRALS)


def merge(contributions: Iterable[tuple[str, float | bool]]) -> Effects:
    """Combine (effect name, value) pairs from all firing rules and states into one Effects."""
    return Effects._make(accumulate(list(_NEUTRALS), contributions))
