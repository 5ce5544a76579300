"""Evaluate a compiled policy set tick after tick: the rule and state-machine lifecycles.

A rule moves through a small state machine, checked in one place (`_step_rule`):

    INACTIVE  --when holds-->                PENDING   (since = active_at)
    PENDING   --when held for `for`-->       FIRING    (fired_at)
    PENDING   --when stops holding-->        INACTIVE
    FIRING    --release held `keep_for`-->   COOLDOWN or INACTIVE
    COOLDOWN  --`cooldown` elapsed-->        INACTIVE

"release" is `until` when the rule has one (hysteresis), else `not when`.
A condition whose evaluation raised leaves its rule where it is and is reported.

Rules and state machines see each other's status as of the previous tick, so the
result does not depend on rule order. The clock is an argument: nothing here reads
the wall clock, which is what lets policy tests and replays drive it.

Fast paths, both exact (tested against stepping everything every tick):
- change-driven conditions (rules.watch): the fused condition function runs only when a
  feature crossed one of the set's thresholds, a rule or state it reads changed, one of the
  conditions that thresholds cannot decide changed value, or a condition failed last time;
  otherwise last tick's values stand;
- if every condition has the same value as last tick and no timer is due, nothing can
  change, so only expression-valued effects are recomputed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple

from rules.codegen import Failure
from rules.effects import NEUTRAL, Effects, accumulate, neutral_accumulator, valid_value
from rules.ruleset import CompiledMachine, CompiledRule, CompiledSet, EffectBlock
from rules.watch import ConditionWatch, OpaqueWatch, feature_getter

INACTIVE, PENDING, FIRING, COOLDOWN = 0, 1, 2, 3
_INF = math.inf
# Combinations of firing rules and machine states whose merged constant effects are kept.
_STATIC_MEMO_SIZE = 256
PHASE_NAMES = ("inactive", "pending", "firing", "cooldown")


class RuleState:
    """Timers of one rule. Plain timestamps; None when not applicable."""

    __slots__ = ("phase", "active_at", "fired_at", "release_at", "cooldown_until", "error")

    def __init__(self) -> None:
        self.phase = INACTIVE
        self.active_at: float | None = None
        self.fired_at: float | None = None
        self.release_at: float | None = None
        self.cooldown_until: float | None = None
        self.error: str | None = None


@dataclass(slots=True)
class MachineState:
    current: int
    entered_at: float | None = None
    pending: list[float | None] = field(default_factory=list)


class Decision(NamedTuple):
    """The outcome of one evaluation. `seq` numbers decision-trace lines; intents carry it.
    `trace` is built only when the firing rules or states changed (`changed`), so the hot
    path stays cheap. `effects_changed` alone means an expression-valued effect moved while
    the same rules fired: `seq` moves too, so an order placed under the new value names it."""

    seq: int
    effects: Effects
    changed: bool
    trace: dict[str, Any] | None
    effects_changed: bool = False


@dataclass(frozen=True, slots=True)
class SwapReport:
    """What a policy-set swap kept and reset, for the reload log."""

    kept: tuple[str, ...]
    changed: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


class PolicyEngine:
    """Holds the live compiled set and every rule's timers; `evaluate(features, now)` per tick."""

    def __init__(self, compiled: CompiledSet, incremental: bool = True, change_driven: bool = True):
        """`incremental=False` evaluates every condition and steps every rule on every tick: the
        slow reference the fast paths are tested against; never needed in production.
        `change_driven=False` keeps the stepping fast path but runs every condition every tick
        (the benchmark's "before")."""
        self.compiled = compiled
        self._incremental = incremental
        self._every_tick = not (incremental and change_driven)
        self._rules: tuple[CompiledRule, ...] = compiled.rules
        self._states = [RuleState() for _ in compiled.rules]
        self._status = [False] * len(compiled.rules)
        self._machines: tuple[CompiledMachine, ...] = compiled.machines
        self._mstates = [MachineState(m.initial, None, [None] * len(m.transitions)) for m in compiled.machines]
        self._current = [m.initial for m in compiled.machines]
        self._vars = [m.vars[m.initial] for m in compiled.machines]
        self._last_conds: tuple | None = None
        self._deadline = -math.inf
        self._watch_set(compiled)
        self._slot_owner = _slot_owners(compiled)
        self._due: dict[int, float] = {}      # rule index -> when its pending timer is due
        self._full_step = False
        self._firing: list[int] = []
        # Merged constant effects of what is firing, and the blocks whose values are
        # expressions; rebuilt only when the firing set or a state changes.
        self._static_acc: list = neutral_accumulator()
        self._static_memo: dict[tuple, tuple[list, list[tuple[str, EffectBlock]]]] = {}
        self._dynamic: list[tuple[str, EffectBlock]] = []
        self._dynamic_values: list[tuple] = []
        self._effects = NEUTRAL
        # A new set arrived: re-merge and trace on the next tick. True at start too, because the
        # machines' initial states apply effects before anything fires or switches.
        self._swapped = True
        self._decision = Decision(0, NEUTRAL, False, None)
        self._seq = 0
        self.errors: dict[str, str] = {}        # rule or machine -> its last error
        self.errors_total = 0
        self.error_counts: dict[str, int] = {}  # rule or machine -> evaluations that failed

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, features: Mapping[str, float], now: float, trace: bool = True) -> Decision:
        """Step every rule and state machine to `now` and return the merged effects.

        `trace=False`: nobody reads the decision record (the trace discards it and nothing logs
        it), so a changed decision comes with `trace` None instead of a record built for nothing."""
        if self._every_tick:
            conds = self.compiled.conditions(features, self._status, self._current, self._vars)
        elif self._stale or not self._inside(features, self._bounds) or \
                self._opaque.moved(features, self._status, self._current, self._vars):
            conds = self.compiled.conditions(features, self._status, self._current, self._vars)
            self._watch.settle(features)
            self._opaque.record(features, conds)
            # A failed condition is a new Failure each time (so its rule is stepped and the error
            # counted every tick): keep evaluating while any condition fails.
            self._stale = Failure in map(type, conds)
        else:
            conds = self._last_conds
        changed = False
        if conds != self._last_conds or now >= self._deadline or not self._incremental:
            changed = self._step(conds, now, self._last_conds if self._incremental else None)
            self._last_conds = conds
            # Conditions read the rules' status and the machines' states: after a change they
            # must run again next tick.
            self._stale = self._stale or changed
        if changed or self._swapped:
            self._rebuild_static()
            self._swapped = False
            changed = True
        if changed or self._dynamic:
            effects = self._merge(features, changed)
            if effects is not self._effects:
                moved = not changed and effects != self._effects
                self._effects = effects
                if moved:
                    self._seq += 1
                    self._decision = Decision(self._seq, effects, False, None)
                    return Decision(self._seq, effects, False, None, True)
                self._decision = Decision(self._seq, effects, False, None)
        if changed:
            self._seq += 1
            self._decision = Decision(self._seq, self._effects, False, None)
            return Decision(self._seq, self._effects, True, self.trace(features, now) if trace else None)
        return self._decision

    def _watch_set(self, compiled: CompiledSet) -> None:
        """Change detection for a new set; the first tick evaluates everything."""
        plan = compiled.watch
        self._watch = ConditionWatch(plan.thresholds)
        self._inside, self._bounds = self._watch.inside, self._watch.bounds
        self._opaque = OpaqueWatch(compiled.opaque_conditions, plan.opaque_features, plan.opaque_slots)
        self._stale = True
        # Features whose every change may matter: read by an opaque condition or by an
        # expression-valued effect.
        blind = set(plan.opaque_features)
        blocks = [rule.effects for rule in compiled.rules] + [b for m in compiled.machines for b in m.effects]
        for block in blocks:
            blind.update(block.dynamic_features)
        self._time_blind = frozenset(blind)
        # Expression-valued effects are recomputed only when a feature they read moved (or when
        # one failed or was unusable last time: those are counted on every tick).
        self._dynamic_get = feature_getter(tuple(sorted({f for b in blocks for f in b.dynamic_features})))
        self._dynamic_seen: tuple | None = None

    def next_change(self, now: float, rising: Iterable[str], features: Mapping[str, float],
                    early_s: float) -> float:
        """The earliest time an evaluation could decide differently if no feature changes except
        those in `rising`, which grow with the clock (one second per second); `now` when the next
        evaluation may already differ. Rule and state timers are exact; the time a rising
        feature reaches its next threshold is computed, so it is reported `early_s` early."""
        if self._stale or self._swapped or self._full_step:
            return now
        at = self._deadline
        for name in rising:
            if name in self._time_blind:
                return now
            upper = self._watch.upper(name)
            if upper < math.inf:
                at = min(at, now + (upper - features[name]) - early_s)
        return max(at, now)

    def _step(self, conds: tuple, now: float, last: tuple | None) -> bool:
        """Step the rules whose conditions changed or whose timer is due, then the machines.

        Only those rules can change phase; stepping the rest would give the same result.
        After a state switch every rule is stepped, since a duration may come from a state var.
        """
        if last is None or self._full_step:
            todo: Iterable[int] = range(len(self._rules))
            self._full_step = False
        else:
            # Conditions unchanged (the tick came for a timer): only the due rules need a step.
            todo = set() if conds is last else {owner for owner, a, b in zip(self._slot_owner, conds, last)
                                                 if a is not b}
            todo.discard(-1)
            for i, at in self._due.items():
                if at <= now:
                    todo.add(i)
        changed = False
        states, rules, due, status, step_rule = self._states, self._rules, self._due, self._status, self._step_rule
        for i in sorted(todo):
            st = states[i]
            was = st.phase == FIRING
            at = step_rule(rules[i], st, conds, now)
            if at < _INF:
                due[i] = at
            else:
                due.pop(i, None)
            if (st.phase == FIRING) != was:
                changed = True
                status[i] = not was
        deadline = min(due.values(), default=_INF)
        for j, machine in enumerate(self._machines):
            switched, at = self._step_machine(machine, self._mstates[j], conds, now)
            if at < deadline:
                deadline = at
            if switched:
                changed = self._full_step = True
                current = self._mstates[j].current
                self._current[j] = current
                self._vars[j] = machine.vars[current]
        if changed:
            self._firing = [i for i, firing in enumerate(self._status) if firing]
        self._deadline = deadline if not self._full_step else now
        return changed

    def _step_rule(self, rule: CompiledRule, st: RuleState, conds: tuple, now: float) -> float:
        """Advance one rule; return the time its next timer is due (inf if none)."""
        when = conds[rule.when_slot]
        if type(when) is Failure:
            # Fail closed: a guard that cannot tell whether it should fire fires at once and stays
            # firing while its condition fails (a pause whose condition divides by zero pauses);
            # any other rule keeps its state.
            self._fail(rule.key, when.error)
            if rule.guard and st.phase != FIRING:
                st.phase, st.fired_at, st.release_at = FIRING, now, None
                if st.active_at is None:
                    st.active_at = now
            elif rule.guard:
                st.release_at = None
            return math.inf
        phase = st.phase
        if phase == COOLDOWN:
            if now < st.cooldown_until:
                return st.cooldown_until
            phase = INACTIVE
        if phase == INACTIVE:
            if not when:
                st.phase = INACTIVE
                return math.inf
            phase, st.active_at = PENDING, now
        if phase == PENDING:
            if not when:
                st.phase, st.active_at = INACTIVE, None
                return math.inf
            for_s = rule.for_s if rule.for_var is None else self._var(rule.for_var)
            if now - st.active_at < for_s:
                st.phase = PENDING
                return st.active_at + for_s
            phase, st.fired_at, st.release_at = FIRING, now, None
        # FIRING
        release = conds[rule.until_slot] if rule.until_slot is not None else not when
        if type(release) is Failure:
            # A guard stays firing while its release cannot be evaluated; any other rule releases.
            self._fail(rule.key, release.error)
            if rule.guard:
                st.phase = FIRING
                return math.inf
            release = True
        if not release:
            st.phase, st.release_at = FIRING, None
            return math.inf
        if st.release_at is None:
            st.release_at = now
        keep_s = rule.keep_for_s if rule.keep_for_var is None else self._var(rule.keep_for_var)
        if now - st.release_at < keep_s:
            st.phase = FIRING
            return st.release_at + keep_s
        st.release_at = st.fired_at = st.active_at = None
        cooldown_s = rule.cooldown_s if rule.cooldown_var is None else self._var(rule.cooldown_var)
        if cooldown_s > 0:
            st.phase, st.cooldown_until = COOLDOWN, now + cooldown_s
            return st.cooldown_until
        st.phase = INACTIVE
        # Released while `when` still holds (an `until` that overlaps it): stepping every tick would
        # start it again on the next tick, so it is due then even if no condition changes.
        return now if when else math.inf

    def _var(self, ref: tuple[int, int]) -> float:
        return self._vars[ref[0]][ref[1]]

    def _step_machine(self, machine: CompiledMachine, ms: MachineState, conds: tuple,
                      now: float) -> tuple[bool, float]:
        if ms.entered_at is None:
            ms.entered_at = now
        deadline = math.inf
        dwell_ends = ms.entered_at + machine.min_dwell_s
        for j in machine.by_state[ms.current]:
            t = machine.transitions[j]
            holds = conds[t.slot]
            if type(holds) is Failure:
                self._fail(f"{machine.name}.transitions", holds.error)
                continue
            if not holds:
                ms.pending[j] = None
                continue
            if ms.pending[j] is None:
                ms.pending[j] = now
            ready_at = max(ms.pending[j] + t.for_s, dwell_ends)
            if now >= ready_at:
                ms.current, ms.entered_at = t.to, now
                ms.pending = [None] * len(machine.transitions)
                return True, now
            deadline = min(deadline, ready_at)
        return False, deadline

    def _fail(self, key: str, error: str) -> None:
        self.errors[key] = error
        self.errors_total += 1
        self.error_counts[key] = self.error_counts.get(key, 0) + 1

    def _sources(self) -> list[tuple[str, EffectBlock]]:
        """(label, effect block) of every firing rule and every machine's current state."""
        out = [(self._rules[i].key, self._rules[i].effects) for i in self._firing]
        out += [(m.name, m.effects[self._current[j]]) for j, m in enumerate(self._machines)]
        return out

    def _rebuild_static(self) -> None:
        # The merge of constant effects depends only on which rules fire and which states the
        # machines are in: kept per combination (a handful recur) until the set is swapped.
        # Neither the accumulator nor the list is changed once built.
        combination = (tuple(self._firing), tuple(self._current))
        built = self._static_memo.get(combination)
        if built is None:
            acc = neutral_accumulator()
            dynamic = []
            for key, block in self._sources():
                accumulate(acc, block.static)
                if block.dynamic is not None:
                    dynamic.append((key, block))
            built = (acc, dynamic)
            if len(self._static_memo) >= _STATIC_MEMO_SIZE:
                self._static_memo.clear()
            self._static_memo[combination] = built
        self._static_acc, self._dynamic = built

    def _merge(self, features: Mapping[str, float], changed: bool) -> Effects:
        """Static effects merged once per change, plus expression values; the previous Effects
        object is returned as is when no expression value moved (the common case)."""
        if not self._dynamic:
            return Effects._make(self._static_acc) if changed else self._effects
        seen = self._dynamic_get(features)
        if not changed and seen == self._dynamic_seen and not self._every_tick:
            return self._effects
        values = [block.dynamic(features, self._status, self._current, self._vars) for _, block in self._dynamic]
        if not changed and values == self._dynamic_values:
            self._dynamic_seen = seen
            return self._effects
        self._dynamic_values = values
        found: list[tuple[str, Any]] = []
        errors = self.errors_total
        for (key, block), row in zip(self._dynamic, values):
            self._check_dynamic(key, block, row, found)
        self._dynamic_seen = seen if self.errors_total == errors else None
        return Effects._make(accumulate(list(self._static_acc), found))

    def _collect_dynamic(self, key: str, block: EffectBlock, features: Mapping[str, float],
                         out: list[tuple[str, Any]]) -> None:
        self._check_dynamic(key, block, block.dynamic(features, self._status, self._current, self._vars), out)

    def _check_dynamic(self, key: str, block: EffectBlock, values: tuple, out: list[tuple[str, Any]]) -> None:
        """Keep the applicable values; a failed or unusable one is reported against its rule."""
        for name, value in zip(block.dynamic_names, values):
            if type(value) is Failure:
                self._fail(key, value.error)
            elif not valid_value(name, value):
                self._fail(key, f"{name} evaluated to {value!r}, which cannot be applied")
            else:
                out.append((name, value))

    def _collect(self, key: str, block: EffectBlock, features: Mapping[str, float],
                 out: list[tuple[str, Any]]) -> None:
        out.extend(block.static)
        if block.dynamic is not None:
            self._collect_dynamic(key, block, features, out)

    # -- introspection ------------------------------------------------------------------------
    def contributions(self, features: Mapping[str, float]) -> list[tuple[str, str, Any]]:
        """(source, effect, value) for every effect currently applied: what `explain` prints."""
        rows: list[tuple[str, str, Any]] = []
        for i in self._firing:
            rule = self._rules[i]
            found: list[tuple[str, Any]] = []
            self._collect(rule.key, rule.effects, features, found)
            rows += [(rule.key, name, value) for name, value in found]
        for j, machine in enumerate(self._machines):
            found = []
            self._collect(machine.name, machine.effects[self._current[j]], features, found)
            label = f"{machine.name}[{machine.states[self._current[j]]}]"
            rows += [(label, name, value) for name, value in found]
        return rows

    @property
    def effects(self) -> Effects:
        return self._effects

    @property
    def seq(self) -> int:
        return self._seq

    def firing(self) -> list[str]:
        return [self._rules[i].key for i in self._firing]

    def phase(self, key: str) -> str:
        for rule, st in zip(self._rules, self._states):
            if rule.key == key:
                return PHASE_NAMES[st.phase]
        raise KeyError(key)

    def states(self) -> dict[str, str]:
        return {m.name: m.states[self._current[j]] for j, m in enumerate(self._machines)}

    def gauges(self) -> dict[str, float]:
        """Every telemetry gauge the policies declare: 1/0 for rules, the state's value for machines."""
        out: dict[str, float] = {}
        for rule, st in zip(self._rules, self._states):
            if rule.telemetry:
                out[rule.telemetry] = max(out.get(rule.telemetry, 0.0), 1.0 if st.phase == FIRING else 0.0)
        for j, machine in enumerate(self._machines):
            if machine.telemetry:
                out[machine.telemetry] = machine.values[self._current[j]]
        return out

    def trace(self, features: Mapping[str, float], now: float) -> dict[str, Any]:
        """The decision-trace record: what is firing, since when, on which numbers."""
        active = []
        for i in self._firing:
            rule, st = self._rules[i], self._states[i]
            active.append({"rule": rule.key, "since": st.fired_at, "reason": rule.reason,
                           "at": rule.location, "features": {f: features[f] for f in rule.features}})
        states = {}
        for j, machine in enumerate(self._machines):
            ms = self._mstates[j]
            states[machine.name] = {"state": machine.states[ms.current], "since": ms.entered_at,
                                    "features": {f: features[f] for f in machine.features}}
        return {"seq": self._seq, "ts": now, "policy_version": self.compiled.version, "active": active,
                "states": states, "effects": self._effects.non_neutral(), "errors": dict(self.errors)}

    # -- reload -------------------------------------------------------------------------------
    def swap(self, new: CompiledSet) -> SwapReport:
        """Switch to `new` between two ticks, carrying state across unchanged definitions.

        A rule whose key and fingerprint are unchanged keeps its timers (so saving a file
        does not re-arm a `for` hold or end a pause); a changed or new rule starts
        INACTIVE; a removed rule's effects and gauge disappear with it. A state machine
        keeps its current state if the new definition still has it.
        """
        old_rules = {r.key: (r, st) for r, st in zip(self._rules, self._states)}
        kept, changed, added = [], [], []
        states = []
        for rule in new.rules:
            prev = old_rules.get(rule.key)
            if prev and prev[0].fingerprint == rule.fingerprint:
                states.append(prev[1])
                kept.append(rule.key)
            else:
                states.append(RuleState())
                (changed if prev else added).append(rule.key)
        removed = sorted(set(old_rules) - {r.key for r in new.rules})
        old_machines = {m.name: (m, ms) for m, ms in zip(self._machines, self._mstates)}
        mstates = []
        for machine in new.machines:
            prev = old_machines.get(machine.name)
            if prev is None:
                mstates.append(MachineState(machine.initial, None, [None] * len(machine.transitions)))
                added.append(machine.name)
                continue
            old_machine, old_state = prev
            current_name = old_machine.states[old_state.current]
            if current_name in machine.states:
                same = old_machine.fingerprint == machine.fingerprint
                pending = old_state.pending if same else [None] * len(machine.transitions)
                mstates.append(MachineState(machine.states.index(current_name), old_state.entered_at, pending))
            else:
                mstates.append(MachineState(machine.initial, None, [None] * len(machine.transitions)))
            (kept if old_machine.fingerprint == machine.fingerprint else changed).append(machine.name)
        removed += sorted(set(old_machines) - {m.name for m in new.machines})
        self.compiled = new
        self._rules, self._states = new.rules, states
        self._status = [st.phase == FIRING for st in states]
        self._firing = [i for i, st in enumerate(states) if st.phase == FIRING]
        self._machines, self._mstates = new.machines, mstates
        self._current = [ms.current for ms in mstates]
        self._vars = [m.vars[ms.current] for m, ms in zip(new.machines, mstates)]
        self._last_conds = None
        self._deadline = -math.inf
        self.errors = {k: v for k, v in self.errors.items() if k in {r.key for r in new.rules}}
        self._last_conds = None   # forces a full step on the next tick
        self._watch_set(new)
        self._slot_owner = _slot_owners(new)
        self._due = {}
        self._static_memo = {}
        self._swapped = True
        return SwapReport(tuple(kept), tuple(changed), tuple(added), tuple(removed))


def _slot_owners(compiled: CompiledSet) -> list[int]:
    """For each condition slot, the index of the rule it belongs to (-1: a state transition)."""
    owners = [-1] * compiled.n_conditions
    for i, rule in enumerate(compiled.rules):
        owners[rule.when_slot] = i
        if rule.until_slot is not None:
            owners[rule.until_slot] = i
    return owners
