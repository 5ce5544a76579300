"""Change-driven rule evaluation (rules/watch.py) decides exactly as evaluating every condition
every tick: the same decisions, effects, trace and errors, on random policy sets written in
the policy language and random feature and time sequences."""
from __future__ import annotations

import dataclasses
import math
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import PolicyEngine
from rules.loader import load_texts
from rules.watch import plan_watch
from runtime.catalog import FEATURE_NAMES

FEATURES = ("vol_bps", "trend_bps", "inventory_frac", "uptime_s", "mid")
CONSTANTS = (0, 5, 12.5, -3, 1.5)
# Values on, just beside and between the constants above and the flip points of the arithmetic
# atoms below (5 / 1.5, 12.5 / 1.5, ...), plus a signed zero, infinities and NaN.
VALUES = (-20.0, -3.0, math.nextafter(-3.0, 0), -0.0, 0.0, 1.5, 3.0, 3.333333333333333, 3.3333333333333335,
          5.0, math.nextafter(5.0, 0), math.nextafter(5.0, 9), 8.333333333333334, 12.5, 14.0, 30.0,
          math.inf, -math.inf, math.nan)


def compile_policies(*texts: str):
    return load_texts([(f"p{i}.yaml", textwrap.dedent(t)) for i, t in enumerate(texts)], FEATURE_NAMES)


def test_the_compiled_set_exports_each_single_feature_comparison_s_thresholds():
    plan = plan_watch(["f_vol_bps >= 30.0", "f_vol_bps * 1.5 > 11.0 and abs(f_trend_bps) < 20.0",
                       "f_inventory_units + f_mid > 3.0", "f_trend_bps ** 2.0 > 4.0 or r_1"])
    # the flip point of vol_bps * 1.5 > 11 is found on the float line, not by algebra
    flip = min(t for t in plan.thresholds["vol_bps"] if t > 7)
    assert flip * 1.5 > 11.0 or math.nextafter(flip, 0) * 1.5 <= 11.0
    assert 30.0 in plan.thresholds["vol_bps"]
    assert {-20.0, 0.0, 20.0} <= set(plan.thresholds["trend_bps"])
    # several features in one comparison, or a power: evaluated whenever their inputs move
    assert plan.opaque_slots == (2, 3)
    assert plan.opaque_features == ("inventory_units", "mid", "trend_bps")


def test_the_condition_function_runs_only_when_a_feature_crosses_a_threshold():
    compiled = compile_policies("""
        policy: p
        rules:
          - name: hot
            when: vol_bps >= 30
            until: vol_bps < 18
            then: {spread_add_bps: 2}
    """)
    calls = []
    conditions = compiled.conditions
    counted = dataclasses.replace(compiled, conditions=lambda *a: calls.append(1) or conditions(*a))
    engine = PolicyEngine(counted)
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    for i, vol in enumerate([10, 11, 12, 17.9, 25, 29.99, 31, 45, 29, 19, 17, 3, 2]):
        features["vol_bps"] = vol
        features["mid"] = 100 + i          # no condition reads it
        engine.evaluate(features, i * 0.25)
    # 13 ticks, 7 evaluations: the first tick; the crossings of 18 (17.9 -> 25), of 30 (29.99 -> 31:
    # the rule fires), back under 30 (45 -> 29) and under 18 (19 -> 17: released); and the tick
    # after each change of the rule's status (45, 3), since conditions read it
    assert len(calls) == 7
    assert engine.firing() == []


@st.composite
def atoms(draw, machine: bool, rules: list[str]) -> str:
    f = draw(st.sampled_from(FEATURES))
    c = draw(st.sampled_from(CONSTANTS))
    op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    kind = draw(st.integers(0, 9 if rules or machine else 7))
    if kind == 0:
        return f"{f} {op} {c}"
    if kind == 1:
        return f"abs({f}) {op} {c}"
    if kind == 2:
        return f"{f} * 1.5 {op} {c}"
    if kind == 3:
        return f"-3 < {f} - 1 <= {c}"
    if kind == 4:
        return f"{f} + {draw(st.sampled_from(FEATURES))} {op} {c}"            # two features: opaque
    if kind == 5:
        return f"{f} / ({draw(st.sampled_from(FEATURES))} - 5) > {c}"         # can divide by zero
    if kind == 6:
        return f"min({f}, 12.5) {op} {c}"
    if kind == 7:
        small = draw(st.sampled_from(["vol_bps", "trend_bps", "inventory_frac"]))
        return f"{small} ** 2 {op} {c}"
    if kind == 8 and rules:
        return f'active("{draw(st.sampled_from(rules))}")'
    return 'in_state("m", "wild")' if machine else f"{f} {op} {c}"


@st.composite
def conditions(draw, machine: bool, rules: list[str]) -> str:
    parts = draw(st.lists(atoms(machine, rules), min_size=1, max_size=3))
    joined = parts[0]
    for part in parts[1:]:
        joined = f"{joined} {draw(st.sampled_from(['and', 'or']))} {part}"
    return f"not ({joined})" if draw(st.booleans()) else joined


@st.composite
def policy_sets(draw) -> list[str]:
    machine = draw(st.booleans())
    n = draw(st.integers(1, 5))
    names = [f"p.r{i}" for i in range(n)]
    rules = []
    for i in range(n):
        lines = [f"  - name: r{i}", f"    when: '{draw(conditions(machine, names))}'"]
        if draw(st.booleans()):
            lines.append(f"    until: '{draw(conditions(machine, names))}'")
        for key in ("for", "keep_for", "cooldown"):
            if draw(st.integers(0, 2)) == 0:
                lines.append(f"    {key}: {draw(st.sampled_from(['0.25s', '0.5s', '1s', '2s']))}")
        if machine and draw(st.integers(0, 3)) == 0:
            lines.append('    keep_for: state_var("m", "hold_s")' if not any(l.startswith("    keep_for")
                                                                           for l in lines) else "")
        effect = draw(st.sampled_from(["{spread_add_bps: 1.5}", "{size_mult: 0.8}", "{pause: bid}",
                                       "{spread_add_bps: 'vol_bps / 10'}",
                                       "{size_mult: 'max(0.1, 1 - abs(trend_bps) / 100)'}"]))
        lines.append(f"    then: {effect}")
        rules.append("\n".join(line for line in lines if line))
    texts = ["policy: p\nrules:\n" + "\n".join(rules) + "\n"]
    if machine:
        texts.append(textwrap.dedent(f"""\
            policy: m
            states:
              initial: calm
              min_dwell: {draw(st.sampled_from(['0s', '0.5s', '1s']))}
              states:
                calm: {{then: {{size_mult: 1.0}}, vars: {{hold_s: 0.5}}}}
                wild: {{then: {{spread_add_bps: 2}}, vars: {{hold_s: 2}}}}
              transitions:
                - from: calm
                  to: wild
                  when: '{draw(conditions(False, names))}'
                  for: {draw(st.sampled_from(['0s', '0.5s']))}
                - from: wild
                  to: calm
                  when: '{draw(conditions(False, names))}'
            """))
    return texts


steps = st.lists(st.tuples(st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0]),
                           st.lists(st.tuples(st.sampled_from(FEATURES), st.sampled_from(VALUES)), max_size=3)),
                 min_size=1, max_size=40)


def outcome(engine: PolicyEngine, features: dict, now: float) -> tuple:
    decision = engine.evaluate(features, now)
    return (repr(decision), engine.firing(), engine.states(), engine.gauges(), engine.errors_total,
            dict(engine.error_counts), dict(engine.errors))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_sets(), steps)
def test_change_driven_evaluation_decides_exactly_as_evaluating_every_condition_every_tick(texts, schedule):
    compiled = compile_policies(*texts)
    driven, reference = PolicyEngine(compiled), PolicyEngine(compiled, incremental=False)
    features = dict.fromkeys(FEATURE_NAMES, 0.0)
    now = 0.0
    for dt, moves in schedule:
        now = round(now + dt, 6)
        for name, value in moves:
            features[name] = value
        # repr: NaN effects and failures compare as text (nan != nan), everything else exactly
        assert outcome(driven, features, now) == outcome(reference, features, now), (now, texts)
