"""`lighter-bot explain`: which rules fire for one feature vector, and what each contributes.

The first thing a trader runs after editing a threshold. It uses the production loader
and engine; what it adds is a statement of time, because rules have holds:

- The feature vector (config baseline, then --features FILE, then --set flags) is held
  constant while the engine's clock steps t = 0, H, 2H, ... where H is one second more
  than the longest `for`, keep_for, cooldown, min_dwell, transition `for` or state var
  in the set. It stops once two steps in a row change nothing (at most MAX_STEPS). So every
  `for` hold counts as satisfied, one-step lags of active()/in_state() have played out,
  and what is printed is where the live bot would settle if these numbers held.
- State machines follow their transitions under those features, unless pinned with
  --state machine=state: a pinned machine starts in that state and its transitions are
  switched off for this explain (rules still read it through in_state()/state_var()).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from rules.effects import MERGES
from rules.engine import PolicyEngine
from rules.expr import FeatureCatalog
from rules.errors import InputError, Problem
from rules.ruleset import CompiledSet
from rules.source import read_text, YamlSyntaxError, load_yaml

# A set settles within (longest chain of active() references + 2) steps; this is generous.
MAX_STEPS = 20


@dataclass(frozen=True)
class Explanation:
    compiled: CompiledSet
    inputs: dict[str, float]                     # features given by file or flag (not the baseline)
    pinned: dict[str, str]
    step_s: float
    times: tuple[float, ...]
    settled: bool
    firing: tuple[tuple[str, str], ...]          # (rule, reason)
    not_firing: tuple[str, ...]
    contributions: tuple[tuple[str, str, Any], ...]
    effects: dict[str, Any]                      # non-neutral merged effects
    states: dict[str, str]
    errors: dict[str, str]


# -- inputs ------------------------------------------------------------------------------------

def feature_inputs(catalog: FeatureCatalog, features_file: Path | None, assignments: Iterable[str]) -> dict[str, float]:
    """Feature values from a YAML file ({name: number}) and then NAME=VALUE flags (flags win)."""
    problems: list[Problem] = []
    values: dict[str, float] = {}
    if features_file is not None:
        values.update(_file_values(features_file, catalog, problems))
    for text in assignments:
        name, value = _split(text, "--set", "NAME=VALUE, e.g. --set vol_bps=31", problems)
        if name is None:
            continue
        if name not in catalog:
            problems.append(Problem("--set", 0, 0, "", f"{text}: unknown feature {name!r}; " + _expected(
                name, catalog, "a catalog feature (see `lighter-bot features`)")))
            continue
        number = _number(value)
        if number is None:
            problems.append(Problem("--set", 0, 0, "", f"{text}: expected a finite number for {name}, got {value!r}"))
            continue
        values[name] = number
    if problems:
        raise InputError(problems)
    return values


def _file_values(path: Path, catalog: FeatureCatalog, problems: list[Problem]) -> dict[str, float]:
    try:
        source = load_yaml(read_text(path, "--features file"), path)
    except YamlSyntaxError as exc:
        problems.append(exc.problem)
        return {}
    if not isinstance(source.data, dict):
        problems.append(source.problem((), "expected a mapping of feature: number, e.g. `vol_bps: 31`"))
        return {}
    out: dict[str, float] = {}
    for name, value in source.data.items():
        if name not in catalog:
            problems.append(source.problem((str(name),), f"unknown feature {name!r}; " + _expected(
                str(name), catalog, "a catalog feature (see `lighter-bot features`)")))
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(source.problem((name,), f"expected a finite number, got {value!r}"))
        else:
            out[name] = float(value)
    return out


def pin_states(compiled: CompiledSet, assignments: Iterable[str]) -> tuple[CompiledSet, dict[str, str]]:
    """The set with each named machine started in the given state and its transitions off."""
    problems: list[Problem] = []
    machines = {m.name: m for m in compiled.machines}
    pinned: dict[str, str] = {}
    for text in assignments:
        name, state = _split(text, "--state", "MACHINE=STATE, e.g. --state regimes=defensive", problems)
        if name is None:
            continue
        if name not in machines:
            problems.append(Problem("--state", 0, 0, "", f"{text}: unknown state machine {name!r}; "
                                    + _expected(name, machines, f"one of: {', '.join(machines) or 'none (no policy has a states block)'}")))
        elif state not in machines[name].states:
            problems.append(Problem("--state", 0, 0, "", f"{text}: {name} has no state {state!r}; "
                                    + _expected(state, machines[name].states, f"one of: {', '.join(machines[name].states)}")))
        else:
            pinned[name] = state
    if problems:
        raise InputError(problems)
    if not pinned:
        return compiled, pinned
    new_machines = tuple(
        dataclasses.replace(m, initial=m.states.index(pinned[m.name]), by_state=tuple(() for _ in m.states))
        if m.name in pinned else m for m in compiled.machines)
    return dataclasses.replace(compiled, machines=new_machines), pinned


def _split(text: str, flag: str, form: str, problems: list[Problem]) -> tuple[str | None, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        problems.append(Problem(flag, 0, 0, "", f"{text!r}: expected {form}"))
        return None, ""
    return name.strip(), value.strip()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _expected(name: str, known: Iterable[str], what: str) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {hint[0]}?" if hint else f"expected {what}"


# -- evaluation --------------------------------------------------------------------------------

def hold_step_s(compiled: CompiledSet) -> float:
    """One second more than any duration in the set, so one step satisfies any hold."""
    longest = [0.0]
    for rule in compiled.rules:
        longest += [rule.for_s, rule.keep_for_s, rule.cooldown_s]
    for machine in compiled.machines:
        longest.append(machine.min_dwell_s)
        longest += [t.for_s for t in machine.transitions]
        longest += [abs(v) for row in machine.vars for v in row]
    return math.floor(max(longest)) + 1.0


def explain(compiled: CompiledSet, baseline: Mapping[str, float], inputs: Mapping[str, float],
            pinned: Mapping[str, str] | None = None) -> Explanation:
    """Evaluate `compiled` on baseline + inputs, held until nothing changes (see the module doc)."""
    features = {**baseline, **inputs}
    engine = PolicyEngine(compiled)
    step_s = hold_step_s(compiled)
    times: list[float] = []
    snapshots: list[tuple] = []
    settled = False
    for k in range(MAX_STEPS):
        now = k * step_s
        engine.evaluate(features, now)
        times.append(now)
        snapshots.append((tuple(engine.firing()), tuple(engine.phase(r.key) for r in compiled.rules),
                          tuple(sorted(engine.states().items()))))
        # Two steps in a row without a change: the conditions were the same for three steps,
        # so any timer they started has run out and the next step cannot change anything.
        if len(snapshots) >= 3 and snapshots[-1] == snapshots[-2] == snapshots[-3]:
            settled = True
            break
    firing = tuple(engine.firing())
    reasons = {r.key: r.reason for r in compiled.rules}
    return Explanation(
        compiled=compiled, inputs=dict(inputs), pinned=dict(pinned or {}), step_s=step_s, times=tuple(times),
        settled=settled, firing=tuple((key, reasons[key]) for key in firing),
        not_firing=tuple(r.key for r in compiled.rules if r.key not in firing),
        contributions=tuple(engine.contributions(features)), effects=_non_neutral(engine.effects),
        states=engine.states(), errors=dict(engine.errors))


def _non_neutral(effects: Any) -> dict[str, Any]:
    return {name: getattr(effects, name) for name, (_, neutral) in MERGES.items()
            if getattr(effects, name) != neutral}


# -- output ------------------------------------------------------------------------------------

def render(ex: Explanation, policies: Path | str, feature_sources: str) -> str:
    """The explanation as the small tables `lighter-bot explain` prints."""
    c = ex.compiled
    out = [f"policies  {policies} ({len(c.files)} files, {len(c.rules)} rules, {len(c.machines)} state "
           f"machine{'s' if len(c.machines) != 1 else ''}; version {c.version})",
           f"features  {feature_sources}"]
    if ex.inputs:
        out.append("          " + ", ".join(f"{k}={_fmt(v)}" for k, v in ex.inputs.items()))
    times = ", ".join(f"{t:g}s" for t in ex.times)
    out.append(f"holds     features held constant, evaluated at t={times}: steps of {ex.step_s:g}s, longer than")
    out.append("          any for/keep_for/cooldown/min_dwell, so every `for` hold counts as satisfied and this")
    out.append("          is where the bot settles while these numbers hold")
    if not ex.settled:
        out.append(f"          WARNING: still changing after {len(ex.times)} steps (rules flapping); "
                   f"showing the last step")
    for machine, state in ex.states.items():
        how = "pinned by --state" if machine in ex.pinned else "reached by its transitions"
        out.append(f"state     {machine} = {state} ({how})")
    out.append("")
    out += _table(("firing rule", "reason"), list(ex.firing)) if ex.firing else ["firing rule: none"]
    if ex.not_firing:
        out += textwrap.wrap(", ".join(ex.not_firing), width=100, initial_indent="not firing: ",
                             subsequent_indent=" " * len("not firing: "), break_on_hyphens=False)
    out.append("")
    rows = [(source, effect, _fmt(value)) for source, effect, value in ex.contributions]
    out += _table(("source", "effect", "value"), rows) if rows else ["contributions: none"]
    out.append("")
    merged = [(name, _fmt(value), MERGES[name][0]) for name, value in ex.effects.items()]
    out += _table(("merged effect", "value", "merge"), merged) if merged else \
        ["merged effects: none (neutral: quoting as configured)"]
    if ex.errors:
        out.append("")
        out += [f"rule error  {key}: {error}" for key, error in sorted(ex.errors.items())]
    return "\n".join(out)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    cells = [tuple(map(str, header))] + [tuple(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:.6g}"
    return str(value)
