"""The policy file format, as strict pydantic models (unknown keys are errors).

```yaml
policy: volatility_pause            # unique name; rules are addressed as "policy.rule"
description: Pause quoting in volatility bursts.
params:                             # thresholds live here, named, at the top
  pause_vol_bps: 30
  hold: 10s                         # durations are strings with a unit
rules:
  - name: pause
    when: vol_bps >= pause_vol_bps  # expression (rules.expr)
    for: hold                       # must hold this long before firing (literal or param)
    until: vol_bps < 18             # once firing, stays until this holds (hysteresis)
    keep_for: 5s                    # ...and for this long after it first holds (backoff);
                                    # durations may also be state_var("regimes", "cooldown_s")
    cooldown: 30s                   # after releasing, cannot fire again for this long
    then: {pause: both}             # effects (rules.effects); values may be expressions
    telemetry: maker_vol_pause_active
    reason: volatility above 30 bps
states:                             # optional: one state machine named after the policy
  initial: aggressive
  min_dwell: 30s                    # no transition within this long of the last one
  telemetry: maker_regime_state     # gauge = the current state's `value`
  states:
    aggressive: {value: 0, then: {size_mult: 1.0}, vars: {cooldown_s: 20}}
    defensive:  {value: 1, then: {size_mult: 0.7}, vars: {cooldown_s: 45}}
  transitions:
    - {from: aggressive, to: defensive, when: "trend_bps <= -6", for: 5s}
```
"""
from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationInfo, \
    field_validator, model_validator

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
MetricName = Annotated[str, Field(pattern=METRIC_NAME)]
Number = Union[StrictInt, StrictFloat]
# An effect or condition: a literal, or an expression string checked by rules.expr.
NumExpr = Union[StrictInt, StrictFloat, str]
BoolExpr = Union[StrictBool, str]
CondExpr = Union[StrictBool, str]
# A duration literal ("250ms", "30s", "5m", "1h") or the name of a duration param.
DurationRef = str


def parse_duration(text: str) -> float | None:
    """Seconds in a duration literal like "30s"; None if `text` is not one."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    return float(match.group(1)) * _UNIT_S[match.group(2)]


_STATE_VAR = re.compile(r"""^state_var\(\s*["']([a-z][a-z0-9_]*)["']\s*,\s*["']([a-z][a-z0-9_]*)["']\s*\)$""")


def state_var_ref(text: str) -> tuple[str, str] | None:
    """("regimes", "cooldown_s") for a duration written as state_var("regimes", "cooldown_s")."""
    match = _STATE_VAR.match(text.strip()) if isinstance(text, str) else None
    return (match.group(1), match.group(2)) if match else None


def _check_duration_ref(value: str) -> str:
    if not isinstance(value, str) or not (parse_duration(value) is not None or re.match(IDENTIFIER, value)
                                          or state_var_ref(value)):
        raise ValueError(f'expected a duration like "30s" (units ms, s, m, h), a param name or '
                         f'state_var("machine", "var") in seconds, got {value!r}')
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EffectsSpec(_Strict):
    """The `then:` block. Each key is one effect; see rules.effects for how they merge."""

    spread_add_bps: NumExpr | None = None
    bid_spread_add_bps: NumExpr | None = None
    ask_spread_add_bps: NumExpr | None = None
    size_mult: NumExpr | None = None
    size_cap_units: NumExpr | None = None
    pause: Literal["bid", "ask", "both"] | None = None
    bid_cooldown_s: NumExpr | None = None
    ask_cooldown_s: NumExpr | None = None
    reduce_only: BoolExpr | None = None
    halt: BoolExpr | None = None
    hedge_clip_mult: NumExpr | None = None
    hedge_max_slippage_bps: NumExpr | None = None
    hedge_cross_bps: NumExpr | None = None
    hedge_cross_add_bps: NumExpr | None = None
    hedge_force_aggressive: BoolExpr | None = None
    hedge_cooldown_s: NumExpr | None = None
    hedge_max_chase_bps: NumExpr | None = None
    hedge_standdown_s: NumExpr | None = None
    hedge_retrace_bps: NumExpr | None = None

    def items(self) -> list[tuple[str, object]]:
        """(merge name, value) pairs that were set; `pause` expands to pause_bid / pause_ask."""
        out: list[tuple[str, object]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "pause":
                if value in ("bid", "both"):
                    out.append(("pause_bid", True))
                if value in ("ask", "both"):
                    out.append(("pause_ask", True))
            else:
                out.append((name, value))
        return out


class RuleSpec(_Strict):
    """One rule: fires when `when` has held for `for`, releases per `until`/`keep_for`."""

    name: Identifier
    description: str = ""
    when: CondExpr
    for_: DurationRef | None = Field(None, alias="for")
    until: CondExpr | None = None
    keep_for: DurationRef | None = None
    cooldown: DurationRef | None = None
    then: EffectsSpec = EffectsSpec()
    telemetry: MetricName | None = None
    reason: str = ""

    _durations = field_validator("for_", "keep_for", "cooldown", mode="before")(
        classmethod(lambda cls, v: v if v is None else _check_duration_ref(v)))


class StateSpec(_Strict):
    """One named state: the effects it applies while current, and values rules can read."""

    value: Number | None = None            # gauge value; defaults to the state's position
    description: str = ""
    then: EffectsSpec = EffectsSpec()
    vars: dict[Annotated[str, Field(pattern=IDENTIFIER)], Union[Number, str]] = {}   # numbers or param names


class TransitionSpec(_Strict):
    from_: Identifier | list[Identifier] = Field(alias="from")
    to: Identifier
    when: CondExpr
    for_: DurationRef | None = Field(None, alias="for")

    _durations = field_validator("for_", mode="before")(
        classmethod(lambda cls, v: v if v is None else _check_duration_ref(v)))

    @property
    def sources(self) -> list[str]:
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


class StatesSpec(_Strict):
    """A state machine (e.g. the defensive / aggressive regime)."""

    # `states` comes before `initial` so that `initial` is checked against it, and located at its own line.
    states: dict[Annotated[str, Field(pattern=IDENTIFIER)], StateSpec]
    initial: Identifier
    min_dwell: DurationRef | None = None
    telemetry: MetricName | None = None
    transitions: list[TransitionSpec] = []

    _durations = field_validator("min_dwell", mode="before")(
        classmethod(lambda cls, v: v if v is None else _check_duration_ref(v)))

    @field_validator("initial")
    @classmethod
    def _known_initial(cls, initial: str, info: ValidationInfo) -> str:
        states = info.data.get("states")
        if states is not None and initial not in states:
            raise ValueError(f"initial state {initial!r} is not one of: {', '.join(states)}")
        return initial

    @model_validator(mode="after")
    def _consistent(self) -> "StatesSpec":
        if len(self.states) < 2:
            raise ValueError("a state machine needs at least two states")
        for i, t in enumerate(self.transitions):
            for name in t.sources + [t.to]:
                if name not in self.states:
                    raise ValueError(f"transitions[{i}] names state {name!r}; expected one of: {', '.join(self.states)}")
        var_sets = {frozenset(s.vars) for s in self.states.values()}
        if len(var_sets) > 1:
            raise ValueError("every state must define the same vars (state_var() reads the current state's)")
        return self


ParamValue = Union[StrictBool, StrictInt, StrictFloat, str]


class PolicySpec(_Strict):
    """One policy file."""

    policy: Identifier
    description: str = ""
    params: dict[Annotated[str, Field(pattern=IDENTIFIER)], ParamValue] = {}
    rules: list[RuleSpec] = []
    states: StatesSpec | None = None

    @field_validator("params")
    @classmethod
    def _param_values(cls, params: dict[str, object]) -> dict[str, object]:
        for name, value in params.items():
            if isinstance(value, str) and parse_duration(value) is None:
                raise ValueError(f'param {name}: expected a number, true/false or a duration like "30s", got {value!r}')
        return params

    @model_validator(mode="after")
    def _not_empty(self) -> "PolicySpec":
        # Unique rule names are checked by rules.loader.parse_policy, which can point at the line.
        if not self.rules and self.states is None:
            raise ValueError("a policy needs at least one rule or a states block")
        return self
