"""Policy unit tests, promtool style: the production loader and engine on a synthetic clock.

A test file names a policy set, a feature time series per case and what must hold at
given times. The set is loaded with `rules.loader.load_policy_set` and stepped with
`rules.engine.PolicyEngine.evaluate(features, t)` for t = 0, interval, 2*interval, ...
exactly as the trader steps it live, so a passing test says something about the code
that trades, not about a re-implementation of it.

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

Rules see other rules' and state machines' status as of the previous step (see
rules.engine), so `active("x")` conditions lag by one interval; write expectations so.
Every case starts from a fresh engine. A malformed file is a PolicyTestError-style
located problem (`file:line:col: field: message`); a wrong expectation is a failure
(`file:line: case "name", t=10s, firing: exp: [...] got: [...]`), and every failure of
every case is collected rather than stopping at the first.
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, \
    field_validator

from rules.effects import BOOL_EFFECTS, MERGES
from rules.engine import PHASE_NAMES, PolicyEngine
from rules.errors import InputError, Problem
from rules.loader import POLICY_SUFFIXES, load_policy_set, policy_files
from rules.ruleset import CompiledSet
from rules.schema import parse_duration
from rules.source import Loc, YamlSource, YamlSyntaxError, load_yaml, validation_problems

TESTS_FOLDER = "tests"
DEFAULT_INTERVAL = "1s"
# A case is a few minutes of policy time; this bounds a typo like `at: 10h` with a 10ms interval.
MAX_STEPS = 200_000
# Merged effects and gauges are sums and products of floats (0.8 * 0.7 != 0.56 exactly).
FLOAT_TOLERANCE = 1e-9

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


# -- results -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TestFailure:
    """One expectation that did not hold: where it is written, when, what, expected and got."""

    __test__ = False   # not a pytest class

    path: str
    line: int
    case: str
    t_s: float
    what: str
    exp: str
    got: str

    def __str__(self) -> str:
        return f'{self.path}:{self.line}: case "{self.case}", t={self.t_s:g}s, {self.what}: ' \
               f'exp: {self.exp} got: {self.got}'


@dataclass(slots=True)
class FileResult:
    path: str
    cases: int = 0
    failed_cases: int = 0


@dataclass
class TestReport:
    """Outcome of a run: per-file counts, every failure, and every malformed-file problem."""

    __test__ = False   # not a pytest class

    files: list[FileResult] = field(default_factory=list)
    failures: list[TestFailure] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def cases_failed(self) -> int:
        return sum(f.failed_cases for f in self.files)

    @property
    def cases_passed(self) -> int:
        return sum(f.cases - f.failed_cases for f in self.files)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems

    def summary(self) -> str:
        text = f"{self.cases_passed} cases passed, {self.cases_failed} failed"
        bad_files = len({str(p.path) for p in self.problems})
        return text + (f"; {bad_files} file{'s' if bad_files != 1 else ''} could not be used" if bad_files else "")


# -- finding and running -----------------------------------------------------------------------

def find_test_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[Problem]]:
    """Test files named by `paths`: a policy folder's tests/*.yaml, a tests/ folder, or files."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            problems.append(Problem(path, 0, 0, "", "no such file or folder"))
            continue
        folder = path / TESTS_FOLDER if (path / TESTS_FOLDER).is_dir() else path if path.name == TESTS_FOLDER else None
        if folder is not None:
            found += sorted(p for p in folder.iterdir()
                            if p.is_file() and p.suffix in POLICY_SUFFIXES and not p.name.startswith("."))
    return found, problems


def run_policy_tests(paths: Iterable[Path | str], features: frozenset[str] | Iterable[str],
                     baseline: Mapping[str, float]) -> TestReport:
    """Run every test file found at `paths`.

    `features` is the feature catalog (names the policies and tests may use) and
    `baseline` the feature vector every case starts from (missing names read 0.0); both
    come from the caller so this package stays independent of the runtime.
    """
    catalog = frozenset(features)
    base = dict.fromkeys(catalog, 0.0)
    base.update(baseline)
    files, problems = find_test_files(paths)
    report = TestReport(problems=problems)
    compiled_cache: dict[tuple[str, ...], CompiledSet] = {}
    for path in files:
        try:
            _run_file(path, catalog, base, compiled_cache, report)
        except InputError as exc:
            report.problems += exc.problems
    return report


def _run_file(path: Path, catalog: frozenset[str], base: dict[str, float],
              cache: dict[tuple[str, ...], CompiledSet], report: TestReport) -> None:
    try:
        source = load_yaml(path.read_text(), path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(path, 0, 0, "", f"cannot read test file: {getattr(exc, 'strerror', exc)}")]) \
            from None
    except YamlSyntaxError as exc:
        raise InputError([exc.problem]) from None
    if not isinstance(source.data, dict):
        raise InputError([source.problem((), "expected a mapping with `cases:`")])
    try:
        spec = TestFileSpec.model_validate(source.data)
    except ValidationError as exc:
        raise InputError(validation_problems(exc, source, TestFileSpec)) from None

    interval_s = parse_duration(spec.interval)
    problems: list[Problem] = []
    if interval_s <= 0:
        problems.append(source.problem(("interval",), f"expected a duration above 0, got {spec.interval!r}"))
    compiled = _policy_set(path, spec, source, catalog, cache, problems)
    defaults = _feature_values(source, ("defaults",), spec.defaults, catalog, problems)
    plans = [_plan_case(source, i, case, interval_s or 1.0, catalog, compiled, problems)
             for i, case in enumerate(spec.cases)]
    if problems:
        raise InputError(problems)

    result = FileResult(str(path))
    report.files.append(result)
    start = {**base, **defaults}
    for case, plan in zip(spec.cases, plans):
        failures = _run_case(str(path), case.name, plan, compiled, interval_s, start)
        result.cases += 1
        result.failed_cases += bool(failures)
        report.failures += failures


def _policy_set(path: Path, spec: TestFileSpec, source: YamlSource, catalog: frozenset[str],
                cache: dict[tuple[str, ...], CompiledSet], problems: list[Problem]) -> CompiledSet | None:
    """The set under test: the listed files/folders, or the folder above tests/ (the live set)."""
    if spec.policies is None:
        targets = [path.parent.parent if path.parent.name == TESTS_FOLDER else path.parent]
    else:
        targets = [Path(os.path.normpath(path.parent / entry)) for entry in spec.policies]
        missing = [i for i, target in enumerate(targets) if not target.exists()]
        for i in missing:
            problems.append(source.problem(("policies", i), f"no such policy file or folder: {targets[i]}"))
        if missing:
            return None
    files = policy_files(targets)
    if not files:
        problems.append(source.problem(("policies",) if spec.policies else (),
                                       f"no policy files (*.yaml) in {', '.join(map(str, targets))}"))
        return None
    key = tuple(sorted(str(f.resolve()) for f in files))
    if key not in cache:
        try:
            cache[key] = load_policy_set(files, catalog)
        except InputError as exc:
            problems += exc.problems
            problems.append(source.problem(("policies",) if spec.policies else (),
                                           "the policy set under test does not load (problems above)"))
            return None
    return cache[key]


def _feature_values(source: YamlSource, loc: Loc, values: Mapping[str, Any], catalog: frozenset[str],
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
class _Plan:
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


def _plan_case(source: YamlSource, i: int, case: CaseSpec, interval_s: float, catalog: frozenset[str],
               compiled: CompiledSet | None, problems: list[Problem]) -> _Plan:
    """Check one case against the catalog and the policy set; turn times into step indexes."""
    loc: Loc = ("cases", i)
    steps = []
    for j, step in enumerate(case.series):
        if "at" not in step:
            problems.append(source.problem(loc + ("series", j), 'required key `at` is missing (e.g. at: 0s)'))
            continue
        index = _step_index(source, loc + ("series", j, "at"), step["at"], interval_s, problems)
        values = _feature_values(source, loc + ("series", j), {k: v for k, v in step.items() if k != "at"},
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
    return _Plan(tuple(steps), tuple(checks), max((c[0] for c in checks), default=0))


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


def _run_case(path: str, name: str, plan: _Plan, compiled: CompiledSet, interval_s: float,
              start: dict[str, float]) -> list[TestFailure]:
    engine = PolicyEngine(compiled)
    values = dict(start)
    failures: list[TestFailure] = []
    steps, checks = plan.steps, plan.checks
    si = ci = 0
    reported_errors: set[str] = set()
    for k in range(plan.last_step + 1):
        while si < len(steps) and steps[si][0] <= k:
            values.update(steps[si][1])
            si += 1
        t_s = k * interval_s
        try:
            engine.evaluate(values, t_s)
        except Exception as exc:   # an engine defect must fail this case, not end the whole run
            failures.append(TestFailure(path, checks[ci][1] if ci < len(checks) else 0, name, t_s,
                                        "evaluation", "no error", f"{type(exc).__name__}: {exc}"))
            return failures
        while ci < len(checks) and checks[ci][0] == k:
            _, line, expect = checks[ci]
            ci += 1
            for what, exp, got in _compare(engine, expect):
                failures.append(TestFailure(path, line, name, t_s, what, exp, got))
            new_errors = {key: err for key, err in engine.errors.items() if key not in reported_errors}
            if new_errors:
                reported_errors.update(new_errors)
                failures.append(TestFailure(path, line, name, t_s, "rule errors", "none",
                                            "; ".join(f"{k}: {e}" for k, e in sorted(new_errors.items()))))
    return failures


def _compare(engine: PolicyEngine, expect: ExpectSpec) -> list[tuple[str, str, str]]:
    """(what, exp, got) for every part of `expect` that does not hold."""
    out: list[tuple[str, str, str]] = []
    firing = sorted(engine.firing())
    if expect.firing and not set(expect.firing) <= set(firing):
        out.append(("firing", _names(expect.firing), _names(firing)))
    if expect.firing_exactly is not None and set(expect.firing_exactly) != set(firing):
        out.append(("firing_exactly", _names(expect.firing_exactly), _names(firing)))
    if set(expect.not_firing) & set(firing):
        out.append(("not_firing", f"none of {_names(expect.not_firing)}", _names(firing)))
    for rule, phase in expect.phases.items():
        got = engine.phase(rule)
        if got != phase:
            out.append((f"phases.{rule}", phase, got))
    effects = engine.effects
    for name, exp in expect.effects.items():
        got = getattr(effects, name)
        if not _same(exp, got):
            out.append((f"effects.{name}", _fmt(exp), _fmt(got)))
    gauges = engine.gauges()
    for name, exp in expect.gauges.items():
        got = gauges.get(name)
        if not _same(exp, got):
            out.append((f"gauges.{name}", _fmt(exp), _fmt(got)))
    states = engine.states()
    for machine, exp in expect.states.items():
        if states.get(machine) != exp:
            out.append((f"states.{machine}", exp, str(states.get(machine))))
    return out


def _same(exp: Any, got: Any) -> bool:
    if exp is None or got is None or isinstance(exp, bool) or isinstance(got, bool):
        return exp is got or (isinstance(exp, bool) and isinstance(got, bool) and exp == got)
    return math.isclose(float(exp), float(got), rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{float(value):.10g}"


def _names(names: Iterable[str]) -> str:
    return "[" + ", ".join(names) + "]"


# The phase names the test format accepts must be the engine's.
assert set(PHASE_NAMES) == {"inactive", "pending", "firing", "cooldown"}
