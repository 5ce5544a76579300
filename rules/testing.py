"""Policy unit tests, promtool style: the production loader and engine on a synthetic clock.

A test file (its format and checks: rules/testfile.py) names a policy set, a feature
time series per case and what must hold at given times. The set is loaded with
`rules.loader.load_policy_set` and stepped with
`rules.engine.PolicyEngine.evaluate(features, t)` for t = 0, interval, 2*interval, ...
exactly as the trader steps it live, so a passing test says something about the code
that trades, not about a re-implementation of it.

Rules see other rules' and state machines' status as of the previous step (see
rules.engine), so `active("x")` conditions lag by one interval; write expectations so.
Every case starts from a fresh engine. A wrong expectation is a failure
(`file:line: case "name", t=10s, firing: exp: [...] got: [...]`), and every failure of
every case is collected rather than stopping at the first.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from rules.engine import PolicyEngine
from rules.expr import FeatureCatalog
from rules.errors import InputError, Problem
from rules.loader import POLICY_SUFFIXES, load_policy_set, policy_files
from rules.ruleset import CompiledSet
from rules.schema import parse_duration
from rules.source import YamlSource
from rules.testfile import ExpectSpec, Plan, TestFileSpec, feature_values, plan_case, read_test_file

TESTS_FOLDER = "tests"
# Merged effects and gauges are sums and products of floats (0.8 * 0.7 != 0.56 exactly).
FLOAT_TOLERANCE = 1e-9


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


def run_policy_tests(paths: Iterable[Path | str], features: FeatureCatalog | Iterable[str],
                     baseline: Mapping[str, float]) -> TestReport:
    """Run every test file found at `paths`.

    `features` is the feature catalog (names the policies and tests may use) and
    `baseline` the feature vector every case starts from (missing names read 0.0); both
    come from the caller so this package stays independent of the runtime.
    """
    catalog = features if isinstance(features, Mapping) else frozenset(features)
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


def _run_file(path: Path, catalog: FeatureCatalog, base: dict[str, float],
              cache: dict[tuple[str, ...], CompiledSet], report: TestReport) -> None:
    spec, source = read_test_file(path)
    interval_s = parse_duration(spec.interval)
    problems: list[Problem] = []
    if interval_s <= 0:
        problems.append(source.problem(("interval",), f"expected a duration above 0, got {spec.interval!r}"))
    compiled = _policy_set(path, spec, source, catalog, cache, problems)
    defaults = feature_values(source, ("defaults",), spec.defaults, catalog, problems)
    plans = [plan_case(source, i, case, interval_s or 1.0, catalog, compiled, problems)
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


def _policy_set(path: Path, spec: TestFileSpec, source: YamlSource, catalog: FeatureCatalog,
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


def _run_case(path: str, name: str, plan: Plan, compiled: CompiledSet, interval_s: float,
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
