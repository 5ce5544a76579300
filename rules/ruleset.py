"""Compile a set of checked policies into rule and state-machine tables and one condition function.

Names are resolved across the whole set (`active("x")`, `in_state(...)`, params,
durations read from a state), and every problem in every file is collected, so a
bad set is refused as a whole with all of its located errors. The tables
(`CompiledRule`, `CompiledMachine`) hold what rules.engine needs each tick; the
conditions of all of them are fused into one generated function (rules.codegen).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from rules.codegen import compile_source
from rules.effects import BOOL_EFFECTS, is_protective, valid_value
from rules.errors import ExpressionError, Problem
from rules.expr import COMPILED_GLOBALS, CompiledExpr, FeatureCatalog, Linker, check_and_compile, finite_number
from rules.schema import EffectsSpec, PolicySpec, parse_duration, state_var_ref
from rules.source import Loc, YamlSource
from rules.watch import WatchPlan, plan_watch


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A policy file that passed schema validation, with its source for locating errors."""

    spec: PolicySpec
    source: YamlSource


@dataclass(frozen=True, slots=True)
class EffectBlock:
    """A `then:` block: constant (name, value) pairs plus expression-valued ones."""

    static: tuple[tuple[str, Any], ...]
    dynamic_names: tuple[str, ...]
    dynamic: Callable[..., tuple] | None     # (F, R, M, V) -> values for dynamic_names
    sources: dict[str, str]                  # effect name -> the text the trader wrote
    dynamic_features: tuple[str, ...] = ()   # features the expression-valued effects read


@dataclass(frozen=True, slots=True)
class CompiledRule:
    key: str                  # "policy.rule"
    policy: str
    name: str
    when_slot: int
    until_slot: int | None
    for_s: float
    keep_for_s: float
    cooldown_s: float
    # (machine, var) when a duration is read from the current state, e.g. the regime's cooldown.
    for_var: tuple[int, int] | None
    keep_for_var: tuple[int, int] | None
    cooldown_var: tuple[int, int] | None
    effects: EffectBlock
    telemetry: str | None
    reason: str
    when_source: str
    until_source: str | None
    features: tuple[str, ...]
    fingerprint: str
    location: str             # "policies/x.yaml:12"
    # Every effect makes the bot more careful (rules.effects.is_protective): if its condition
    # cannot be evaluated, the rule fires rather than silently stand down.
    guard: bool = False
    when_python: str = ""                    # the compiled conditions (params inlined), for lint
    until_python: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledTransition:
    sources: frozenset[int]
    to: int
    slot: int
    for_s: float
    when_source: str


@dataclass(frozen=True, slots=True)
class CompiledMachine:
    name: str                 # the policy's name
    states: tuple[str, ...]
    values: tuple[float, ...]
    initial: int
    var_names: tuple[str, ...]
    vars: tuple[tuple[float, ...], ...]
    effects: tuple[EffectBlock, ...]
    transitions: tuple[CompiledTransition, ...]
    by_state: tuple[tuple[int, ...], ...]   # transition indexes leaving each state, in file order
    min_dwell_s: float
    telemetry: str | None
    fingerprint: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class CompiledSet:
    """A whole policy set, ready for rules.engine. Immutable: reload builds a new one."""

    version: str
    rules: tuple[CompiledRule, ...]
    machines: tuple[CompiledMachine, ...]
    conditions: Callable[..., tuple]
    n_conditions: int
    condition_python: str
    policies: tuple[str, ...]
    files: tuple[str, ...] = field(default=())
    params: dict[str, dict[str, Any]] = field(default_factory=dict)   # policy -> params as written
    # Change-driven evaluation (rules.watch): each feature's thresholds, and the conditions that
    # are not decided by thresholds alone, fused into their own function of (F, R, M, V).
    watch: WatchPlan = field(default_factory=lambda: WatchPlan({}, (), ()))
    opaque_conditions: Callable[..., tuple] | None = None


def compile_set(loaded: list[LoadedPolicy], features: FeatureCatalog, version: str) -> CompiledSet:
    """Compile checked policies; raise PolicyCompileError listing every located problem."""
    return _SetCompiler(loaded, features, version).build()


class PolicyCompileError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class _SetCompiler:
    def __init__(self, loaded: list[LoadedPolicy], features: FeatureCatalog, version: str):
        self.loaded = loaded
        self.features = features
        self.version = version
        self.problems: list[Problem] = []
        self.rule_index: dict[str, int] = {}
        self.machine_index: dict[str, int] = {}
        self.lines: list[str] = []          # one condition expression per slot
        self.used: set[str] = set()         # identifiers the prologue must bind

    # -- naming -------------------------------------------------------------------------------
    def _index_names(self) -> None:
        policies: dict[str, str] = {}
        for lp in self.loaded:
            name = lp.spec.policy
            if name in policies:
                self.problems.append(lp.source.problem(("policy",), f"policy name {name!r} is also used by "
                                                                    f"{policies[name]}; names must be unique"))
                continue
            policies[name] = str(lp.source.path)
            for rule in lp.spec.rules:
                self.rule_index[f"{name}.{rule.name}"] = len(self.rule_index)
            if lp.spec.states is not None:
                self.machine_index[name] = len(self.machine_index)

    def _linker(self, policy: str) -> Linker:
        machines = {lp.spec.policy: lp.spec.states for lp in self.loaded if lp.spec.states is not None}

        def rule(ref: str) -> str:
            key = ref if "." in ref else f"{policy}.{ref}"
            if key not in self.rule_index:
                raise ExpressionError(f"active({ref!r}): no rule {key!r} in the policy set")
            ident = f"r_{self.rule_index[key]}"
            self.used.add(ident)
            return ident

        def state(machine: str, name: str) -> str:
            spec = machines.get(machine)
            if spec is None:
                raise ExpressionError(f"in_state({machine!r}, ...): no policy {machine!r} with states")
            names = list(spec.states)
            if name not in names:
                raise ExpressionError(f"in_state: {machine!r} has no state {name!r} (has: {', '.join(names)})")
            ident = f"m_{self.machine_index[machine]}_{names.index(name)}"
            self.used.add(ident)
            return ident

        def state_var(machine: str, var: str) -> str:
            spec = machines.get(machine)
            if spec is None:
                raise ExpressionError(f"state_var({machine!r}, ...): no policy {machine!r} with states")
            var_names = sorted(next(iter(spec.states.values())).vars)
            if var not in var_names:
                raise ExpressionError(f"state_var: {machine!r} has no var {var!r} (has: {', '.join(var_names) or 'none'})")
            ident = f"v_{self.machine_index[machine]}_{var_names.index(var)}"
            self.used.add(ident)
            return ident

        return Linker(rule, state, state_var)

    # -- pieces -------------------------------------------------------------------------------
    def _params(self, lp: LoadedPolicy) -> dict[str, float | bool]:
        out: dict[str, float | bool] = {}
        for name, value in lp.spec.params.items():
            if name in self.features:
                self.problems.append(lp.source.problem(("params", name), "param name shadows the catalog feature "
                                                                          f"{name!r}; choose another name"))
            if isinstance(value, bool):
                out[name] = value
            elif isinstance(value, str):
                out[name] = parse_duration(value)  # schema guaranteed it parses
            else:
                try:
                    out[name] = finite_number(value)
                except ExpressionError as exc:
                    self.problems.append(lp.source.problem(("params", name), exc.message))
                    out[name] = 0.0   # keeps the expressions that use it from adding "unknown name" errors
        return out

    def _expr(self, lp: LoadedPolicy, loc: Loc, source: Any, params: dict, linker: Linker) -> CompiledExpr | None:
        try:
            return check_and_compile(source, self.features, params, linker)
        except ExpressionError as exc:
            where = f" (column {exc.column} of the expression)" if exc.column else ""
            self.problems.append(lp.source.problem(loc, exc.message + where))
            return None

    def _duration(self, lp: LoadedPolicy, loc: Loc, ref: str | None, params: dict, used: set[str]) -> float:
        return self._duration_ref(lp, loc, ref, params, used, None)[0]

    def _duration_ref(self, lp: LoadedPolicy, loc: Loc, ref: str | None, params: dict, used: set[str],
                      linker: Linker | None) -> tuple[float, tuple[int, int] | None]:
        """A duration in seconds, or a (machine, var) pair read from a state machine each tick."""
        if ref is None:
            return 0.0, None
        seconds = parse_duration(ref)
        if seconds is not None:
            return seconds, None
        var = state_var_ref(ref)
        if var is not None:
            if linker is None:
                self.problems.append(lp.source.problem(loc, "state_var() durations are only allowed in rules"))
                return 0.0, None
            try:
                ident = linker.state_var(*var)
            except ExpressionError as exc:
                self.problems.append(lp.source.problem(loc, exc.message))
                return 0.0, None
            _, machine, index = ident.split("_")
            return 0.0, (int(machine), int(index))
        raw = lp.spec.params.get(ref)
        if not isinstance(raw, str) or parse_duration(raw) is None:
            self.problems.append(lp.source.problem(loc, f'{ref!r} is not a duration param of this policy '
                                                        f'(expected a duration like "30s" or such a param)'))
            return 0.0, None
        used.add(ref)
        return params[ref], None

    def _condition(self, expr: CompiledExpr) -> int:
        self.lines.append(expr.python)
        for name in expr.features:
            self.used.add(f"f_{name}")
        return len(self.lines) - 1

    def _effects(self, lp: LoadedPolicy, loc: Loc, spec: EffectsSpec, params: dict, linker: Linker,
                 used_params: set[str], features: set[str]) -> EffectBlock:
        static: list[tuple[str, Any]] = []
        dynamic: list[tuple[str, CompiledExpr]] = []
        sources: dict[str, str] = {}
        for name, raw in spec.items():
            field_loc = loc + (("pause",) if name.startswith("pause_") else (name,))
            sources[name] = str(raw)
            if isinstance(raw, bool) and name not in BOOL_EFFECTS:
                self.problems.append(lp.source.problem(field_loc, "expected a number or an expression, got a boolean"))
                continue
            saved = set(self.used)
            expr = self._expr(lp, field_loc, raw, params, linker)
            if expr is None:
                continue
            used_params.update(expr.params)
            features.update(expr.features)
            if expr.constant:
                try:
                    value = _constant_value(expr)
                except ArithmeticError as exc:
                    self.problems.append(lp.source.problem(field_loc, f"cannot be computed: {exc}"))
                    continue
                value = bool(value) if name in BOOL_EFFECTS else value
                if not valid_value(name, value):
                    self.problems.append(lp.source.problem(field_loc, f"expected a finite value"
                                                           f"{' >= 0' if name != 'spread_add_bps' else ''}, got {value!r}"))
                    continue
                static.append((name, value))
                self.used = saved
            else:
                dynamic.append((name, expr))
        fn = None
        if dynamic:
            fn, _ = compile_source([e.python for _, e in dynamic], _identifiers([e for _, e in dynamic], self.used))
        return EffectBlock(tuple(static), tuple(n for n, _ in dynamic), fn, sources,
                           tuple(sorted({f for _, e in dynamic for f in e.features})))

    # -- build --------------------------------------------------------------------------------
    def build(self) -> CompiledSet:
        self._index_names()
        rules: list[CompiledRule] = []
        machines: list[CompiledMachine] = []
        for lp in self.loaded:
            spec = lp.spec
            params = self._params(lp)
            linker = self._linker(spec.policy)
            for i, rule in enumerate(spec.rules):
                compiled = self._rule(lp, i, rule, params, linker)
                if compiled:
                    rules.append(compiled)
            if spec.states is not None:
                machine = self._machine(lp, params, linker)
                if machine:
                    machines.append(machine)
        if self.problems:
            raise PolicyCompileError(sorted(self.problems, key=lambda p: (str(p.path), p.line, p.column)))
        cond_fn, python = compile_source(self.lines, self.used)
        watch = plan_watch(self.lines)
        opaque = [self.lines[i] for i in watch.opaque_slots]
        opaque_fn = compile_source(opaque, {i for i in self.used if any(i in line for line in opaque)})[0] \
            if opaque else None
        return CompiledSet(self.version, tuple(rules), tuple(machines), cond_fn, len(self.lines), python,
                           tuple(lp.spec.policy for lp in self.loaded),
                           tuple(str(lp.source.path) for lp in self.loaded),
                           {lp.spec.policy: dict(lp.spec.params) for lp in self.loaded}, watch, opaque_fn)

    def _rule(self, lp: LoadedPolicy, i: int, rule, params: dict, linker: Linker) -> CompiledRule | None:
        loc: Loc = ("rules", i)
        before = len(self.problems)
        used_params: set[str] = set()
        when = self._expr(lp, loc + ("when",), rule.when, params, linker)
        until = self._expr(lp, loc + ("until",), rule.until, params, linker) if rule.until is not None else None
        for_s, for_var = self._duration_ref(lp, loc + ("for",), rule.for_, params, used_params, linker)
        keep_s, keep_var = self._duration_ref(lp, loc + ("keep_for",), rule.keep_for, params, used_params, linker)
        cool_s, cool_var = self._duration_ref(lp, loc + ("cooldown",), rule.cooldown, params, used_params, linker)
        features: set[str] = set()
        effects = self._effects(lp, loc + ("then",), rule.then, params, linker, used_params, features)
        if len(self.problems) > before or when is None:
            return None
        when_slot = self._condition(when)
        until_slot = self._condition(until) if until is not None else None
        for expr in (when, until):
            if expr is not None:
                used_params.update(expr.params)
                features.update(expr.features)
        fingerprint = _fingerprint(rule.model_dump(mode="json", by_alias=True),
                                   {p: lp.spec.params[p] for p in sorted(used_params)})
        line, _ = lp.source.position(loc)
        return CompiledRule(
            key=f"{lp.spec.policy}.{rule.name}", policy=lp.spec.policy, name=rule.name,
            when_slot=when_slot, until_slot=until_slot, for_s=for_s, keep_for_s=keep_s, cooldown_s=cool_s,
            for_var=for_var, keep_for_var=keep_var, cooldown_var=cool_var,
            effects=effects, telemetry=rule.telemetry, reason=rule.reason or rule.description,
            when_source=when.source, until_source=until.source if until else None,
            features=tuple(sorted(features)), fingerprint=fingerprint, location=f"{lp.source.path}:{line}",
            when_python=when.python, until_python=until.python if until else None,
            guard=bool(effects.static) and not effects.dynamic_names
            and all(is_protective(name, value) for name, value in effects.static))

    def _machine(self, lp: LoadedPolicy, params: dict, linker: Linker) -> CompiledMachine | None:
        spec = lp.spec.states
        assert spec is not None
        before = len(self.problems)
        names = list(spec.states)
        used_params: set[str] = set()
        features: set[str] = set()
        dwell = self._duration(lp, ("states", "min_dwell"), spec.min_dwell, params, used_params)
        blocks = []
        for name, state in spec.states.items():
            blocks.append(self._effects(lp, ("states", "states", name, "then"), state.then, params, linker,
                                        used_params, features))
        transitions = []
        for i, t in enumerate(spec.transitions):
            loc: Loc = ("states", "transitions", i)
            expr = self._expr(lp, loc + ("when",), t.when, params, linker)
            for_s = self._duration(lp, loc + ("for",), t.for_, params, used_params)
            if expr is None:
                continue
            used_params.update(expr.params)
            features.update(expr.features)
            transitions.append(CompiledTransition(frozenset(names.index(s) for s in t.sources), names.index(t.to),
                                                  self._condition(expr), for_s, expr.source))
        if len(self.problems) > before:
            return None
        var_names = tuple(sorted(next(iter(spec.states.values())).vars))
        var_values = []
        for name, state in spec.states.items():
            row = []
            for var in var_names:
                expr = self._expr(lp, ("states", "states", name, "vars", var), state.vars[var], params, None)
                if expr is not None and not expr.constant:
                    self.problems.append(lp.source.problem(("states", "states", name, "vars", var),
                                                           "expected a number or a param name"))
                elif expr is not None:
                    used_params.update(expr.params)
                    try:
                        row.append(float(_constant_value(expr)))
                    except (ArithmeticError, TypeError) as exc:
                        self.problems.append(lp.source.problem(("states", "states", name, "vars", var),
                                                               f"cannot be computed: {exc}"))
            var_values.append(tuple(row))
        if len(self.problems) > before:
            return None
        by_state = tuple(tuple(j for j, t in enumerate(transitions) if k in t.sources) for k in range(len(names)))
        fingerprint = _fingerprint(spec.model_dump(mode="json", by_alias=True),
                                   {p: lp.spec.params[p] for p in sorted(used_params)})
        return CompiledMachine(
            name=lp.spec.policy, states=tuple(names),
            values=tuple(float(s.value) if s.value is not None else float(k) for k, s in enumerate(spec.states.values())),
            initial=names.index(spec.initial), var_names=var_names,
            vars=tuple(var_values),
            effects=tuple(blocks), transitions=tuple(transitions), by_state=by_state, min_dwell_s=dwell,
            telemetry=spec.telemetry, fingerprint=fingerprint, features=tuple(sorted(features)))


def _constant_value(expr: CompiledExpr) -> float | bool:
    """A checked expression that reads no feature, computed once at load time. Arithmetic on
    bounded floats: at worst an ArithmeticError (0 ** -1), which the caller reports."""
    return eval(expr.python, dict(COMPILED_GLOBALS))  # noqa: S307 - checked constant expression


def _fingerprint(definition: dict, params: dict) -> str:
    text = json.dumps([definition, params], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _identifiers(exprs: list[CompiledExpr], used: set[str]) -> set[str]:
    names = {f"f_{f}" for e in exprs for f in e.features}
    names.update(ident for ident in used if not ident.startswith("f_") and any(ident in e.python for e in exprs))
    return names
