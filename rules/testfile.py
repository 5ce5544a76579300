"""Policy test files: their strict schema, and every way one can be malformed, located.

A test file names a policy set, a feature time series per case and what must hold at
given times (rules/testing.py runs it):

```yaml
policies: [../volatility_pause.yaml]   # optional, relative to this file; default: every
                                       # policy in the folder above tests/ (the live set)
interval: 1s                           # step of the synthetic clock (default 1s)
defaults: {mid: 185.0}                 # feature values for every case, over the baseline
cases:
  - name: pauses at 30 bps, not at 29.9
    series:                            # feature values from a time on (held until changed)
      - {at: 0s, vol_bps: 29.9}
      - {at: 10s, vol_bps: 30}
    expect:                            # checked right after the evaluation at `at`
      - at: 9s
        not_firing: [volatility_pause.pause]
      - at: 10s
        firing: [volatility_pause.pause]          # must include (firing_exactly: the exact set)
        phases: {volatility_pause.high_vol_clip: inactive}   # inactive/pending/firing/cooldown
        effects: {pause_bid: true, size_cap_units: null}     # merged Effects fields; null = unset
        gauges: {maker_volatility_pause_active: 1}
        states: {regimes: defensive}
```

Parsing is strict, as promtool's is, so a typo cannot turn a test into one that passes
without checking anything: an unknown key, a feature outside the catalog, a time that
is not a multiple of `interval`, or a rule, effect, gauge or state the set under test
does not have is a located problem (`file:line:col: field: message`). A file with any
problem is not run; its problems are reported with every other file's.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, \
    field_validator, model_validator

from rules.effects import BOOL_EFFECTS, MERGES
from rules.engine import PHASE_NAMES
from rules.expr import FeatureCatalog
from rules.errors import InputError, Problem
from rules.ruleset import CompiledSet
from rules.schema import parse_duration
from rules.source import read_text, Loc, YamlSource, YamlSyntaxError, load_yaml, validation_problems

DEFAULT_INTERVAL = "1s"
# A case is a few minutes of policy time; this bounds a typo like `at: 10h` with a 10ms interval.
MAX_STEPS = 200_000

Number = StrictInt | StrictFloat


def _duration(value: Any) -> Any:
    if not isinstance(value, str) or parse_duration(value) is None:
        raise ValueError('expected a duration like "10s" (units ms, s, m, h)')   # the caller appends "got ..."
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExpectSpec(_Strict):
    """What must hold right after the evaluation at `at`."""

    at: str
    firing: list[str] = []
    firing_exactly: list[str] | None = None
    not_firing: list[str] = []
    phases: dict[str, Literal["inactive", "pending", "firing", "cooldown"]] = {}
    effects: dict[str, StrictBool | StrictInt | StrictFloat | None] = {}
    gauges: dict[str, Number] = {}
    states: dict[str, str] = {}

    _at = field_validator("at", mode="before")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _checks_something(self) -> "ExpectSpec":
        """An expectation with nothing to check would pass whatever the policy does: a typo or a
        forgotten key must not turn a test into a no-op."""
        if (not self.firing and self.firing_exactly is None and not self.not_firing and not self.phases
                and not self.effects and not self.gauges and not self.states):
            raise ValueError("this expectation checks nothing: give at least one of firing, firing_exactly, "
                             "not_firing, phases, effects, gauges, states")
        return self


class CaseSpec(_Strict):
    name: str = Field(min_length=1)
    # Each step is {at: <duration>, <feature>: <number>, ...}; checked against the catalog below.
    series: list[dict[str, Any]] = []
    expect: list[ExpectSpec] = Field(min_length=1)


class TestFileSpec(_Strict):
    __test__ = False   # not a pytest class
    policies: list[str] | None = None
    interval: str = DEFAULT_INTERVAL
    defaults: dict[str, Any] = {}
    cases: list[CaseSpec] = Field(min_length=1)

    _interval = field_validator("interval", mode="before")(classmethod(lambda cls, v: _duration(v)))


def read_test_file(path: Path) -> tuple[TestFileSpec, YamlSource]:
    """The file parsed and validated against the schema; InputError with located problems if not."""
    try:
        source = load_yaml(read_text(path, "test file"), path)
    except YamlSyntaxError as exc:
        raise InputError([exc.problem]) from None
    if not isinstance(source.data, dict):
        raise InputError([source.problem((), "expected a mapping with `cases:`")])
    try:
        spec = TestFileSpec.model_validate(source.data)
    except ValidationError as exc:
        raise InputError(validation_problems(exc, source, TestFileSpec)) from None
    return spec, source


def feature_values(source: YamlSource, loc: Loc, values: Mapping[str, Any], catalog: FeatureCatalog,
                   problems: list[Problem]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in values.items():
        if name not in catalog:
            hint = difflib.get_close_matches(str(name), sorted(catalog), n=1)
            problems.append(source.problem(loc + (name,), f"unknown feature {name!r}: expected a catalog feature "
                                           f"(see `lighter-bot features`)" + (f", did you mean {hint[0]}?" if hint
                                                                              else "")))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(source.problem(loc + (name,), f"expected a finite number, got {value!r}"))
        else:
            out[name] = float(value)
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    """One case, checked, with its times turned into steps of the synthetic clock."""

    steps: tuple[tuple[int, dict[str, float]], ...]      # (step index, feature values from then on)
    checks: tuple[tuple[int, int, ExpectSpec], ...]      # (step index, line, expectation)
    last_step: int


def _step_index(source: YamlSource, loc: Loc, text: Any, interval_s: float, problems: list[Problem]) -> int | None:
    seconds = parse_duration(text) if isinstance(text, str) else None
    if seconds is None:
        problems.append(source.problem(loc, f'expected a duration like "10s" (units ms, s, m, h), got {text!r}'))
        return None
    index = round(seconds / interval_s)
    if abs(index * interval_s - seconds) > 1e-9 * max(1.0, seconds):
        problems.append(source.problem(loc, f"{text} is not a multiple of the interval ({interval_s:g}s); "
                                            f"the clock only stops at multiples of it"))
        return None
    if index > MAX_STEPS:
        problems.append(source.problem(loc, f"{text} is {index} steps of {interval_s:g}s; at most {MAX_STEPS} "
                                            f"allowed (raise `interval`)"))
        return None
    return index


def plan_case(source: YamlSource, i: int, case: CaseSpec, interval_s: float, catalog: FeatureCatalog,
              compiled: CompiledSet | None, problems: list[Problem]) -> Plan:
    """Check one case against the catalog and the policy set; turn times into step indexes."""
    loc: Loc = ("cases", i)
    steps = []
    for j, step in enumerate(case.series):
        if "at" not in step:
            problems.append(source.problem(loc + ("series", j), 'required key `at` is missing (e.g. at: 0s)'))
            continue
        index = _step_index(source, loc + ("series", j, "at"), step["at"], interval_s, problems)
        values = feature_values(source, loc + ("series", j), {k: v for k, v in step.items() if k != "at"},
                                catalog, problems)
        if index is not None:
            steps.append((index, values))
    checks = []
    for j, expect in enumerate(case.expect):
        where = loc + ("expect", j)
        index = _step_index(source, where + ("at",), expect.at, interval_s, problems)
        if compiled is not None:
            _check_names(source, where, expect, compiled, problems)
        if index is not None:
            checks.append((index, source.position(where)[0], expect))
    steps.sort(key=lambda s: s[0])
    checks.sort(key=lambda c: c[0])
    return Plan(tuple(steps), tuple(checks), max((c[0] for c in checks), default=0))


def _check_names(source: YamlSource, loc: Loc, expect: ExpectSpec, compiled: CompiledSet,
                 problems: list[Problem]) -> None:
    """Every rule, effect, gauge and state an expectation names must exist in the set under test."""
    rules = [r.key for r in compiled.rules]
    gauges = sorted({r.telemetry for r in compiled.rules if r.telemetry}
                    | {m.telemetry for m in compiled.machines if m.telemetry})
    machines = {m.name: m.states for m in compiled.machines}

    def unknown(where: Loc, kind: str, name: str, known: list[str]) -> None:
        hint = difflib.get_close_matches(name, known, n=1)
        more = f"did you mean {hint[0]}?" if hint else f"expected one of: {', '.join(known) or 'none in this set'}"
        problems.append(source.problem(where, f"unknown {kind} {name!r}; {more}"))

    for key in ("firing", "firing_exactly", "not_firing"):
        for k, name in enumerate(getattr(expect, key) or []):
            if name not in rules:
                unknown(loc + (key, k), "rule", name, rules)
    for name in expect.phases:
        if name not in rules:
            unknown(loc + ("phases", name), "rule", name, rules)
    for name, value in expect.effects.items():
        where = loc + ("effects", name)
        if name not in MERGES:
            unknown(where, "effect", name, list(MERGES))
        elif name in BOOL_EFFECTS and not isinstance(value, bool):
            problems.append(source.problem(where, f"expected true or false, got {value!r}"))
        elif name not in BOOL_EFFECTS and isinstance(value, bool):
            problems.append(source.problem(where, f"expected a number{' or null' if MERGES[name][1] is None else ''}"
                                                  f", got {value!r}"))
        elif value is None and MERGES[name][1] is not None:
            problems.append(source.problem(where, f"expected a number ({name} is never unset; neutral is "
                                                  f"{MERGES[name][1]:g}), got null"))
    for name in expect.gauges:
        if name not in gauges:
            unknown(loc + ("gauges", name), "gauge", name, gauges)
    for name, state in expect.states.items():
        if name not in machines:
            unknown(loc + ("states", name), "state machine", name, sorted(machines))
        elif state not in machines[name]:
            unknown(loc + ("states", name), f"state of {name}", state, list(machines[name]))


# The phase names the test format accepts must be the engine's.
assert set(PHASE_NAMES) == {"inactive", "pending", "firing", "cooldown"}
