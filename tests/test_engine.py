"""The rule engine on a synthetic clock: rule lifecycles, state machines, reload and merged effects.

Policies are real YAML compiled by the production loader (`rules.loader.load_texts`), and
time is an argument we step ourselves, as `lighter-bot policy test` does.
"""
from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import PolicyEngine
from rules.loader import load_texts
from runtime.catalog import FEATURE_NAMES


def compile_policies(*texts: str):
    """Compile policy texts as files p0.yaml, p1.yaml, ... through the production loader."""
    return load_texts([(f"p{i}.yaml", textwrap.dedent(text)) for i, text in enumerate(texts)], FEATURE_NAMES)


def engine(*texts: str) -> PolicyEngine:
    return PolicyEngine(compile_policies(*texts))


def features(**values: float) -> dict[str, float]:
    out = dict.fromkeys(FEATURE_NAMES, 0.0)
    out.update(values)
    return out


def ticks(start: float, stop: float, step: float):
    """Times start, start+step, ... < stop without float drift (0.1 * 30 is not 3.0)."""
    n = round((stop - start) / step)
    return [round(start + i * step, 9) for i in range(n)]


def first_firing(eng: PolicyEngine, key: str, schedule) -> float | None:
    """Drive `eng` through (time, features) pairs; the first time `key` is firing."""
    for now, feats in schedule:
        eng.evaluate(feats, now)
        if key in eng.firing():
            return now
    return None


HOLD = """
policy: hold
rules:
  - name: hot
    when: vol_bps > 10
    for: 3s
    telemetry: hot_gauge
"""


# -- rule lifecycle ------------------------------------------------------------------------------

def test_for_fires_exactly_when_held_long_enough():
    eng = engine(HOLD)
    hot = features(vol_bps=20)
    seen = []
    for now in ticks(0, 3.5, 0.1):
        eng.evaluate(hot, now)
        seen.append((now, eng.phase("hold.hot")))
    assert dict(seen)[0.0] == "pending"
    assert dict(seen)[2.9] == "pending"          # one tick short: not yet
    assert dict(seen)[3.0] == "firing"           # held 3 s: fires
    assert [t for t, phase in seen if phase == "firing"][0] == 3.0


def test_for_hold_restarts_when_the_condition_drops_in_between():
    eng = engine(HOLD)
    schedule = [(t, features(vol_bps=0 if 1.5 <= t < 2.0 else 20)) for t in ticks(0, 8, 0.1)]
    # The hold started at 0, broke at 1.5 and restarted at 2.0: fires at 5.0, not 3.0.
    assert first_firing(eng, "hold.hot", schedule) == 5.0


def test_threshold_is_strict_as_written():
    eng = engine(HOLD)
    for now in ticks(0, 10, 1):
        eng.evaluate(features(vol_bps=10), now)    # `vol_bps > 10`: exactly 10 never holds
    assert eng.phase("hold.hot") == "inactive"


UNTIL = """
policy: vol
rules:
  - name: pause
    when: vol_bps >= 30
    until: vol_bps < 18
    then: {pause: both}
  - name: plain
    when: vol_bps >= 30
    then: {spread_add_bps: 1}
"""


def test_until_keeps_a_rule_firing_after_when_clears():
    eng = engine(UNTIL)
    eng.evaluate(features(vol_bps=35), 0)
    assert set(eng.firing()) == {"vol.pause", "vol.plain"}
    eng.evaluate(features(vol_bps=25), 1)           # below 30, not yet below 18
    assert eng.firing() == ["vol.pause"]             # hysteresis holds; the rule without `until` released
    assert eng.effects.pause_bid and eng.effects.pause_ask
    eng.evaluate(features(vol_bps=18), 2)            # `until: vol_bps < 18` is strict
    assert eng.firing() == ["vol.pause"]
    eng.evaluate(features(vol_bps=17.9), 3)
    assert eng.firing() == []
    assert not eng.effects.pause_bid


KEEP = """
policy: keep
rules:
  - name: widen
    when: vol_bps > 10
    keep_for: 5s
    then: {spread_add_bps: 3}
"""


def test_keep_for_holds_the_effect_after_release_and_restarts_if_the_condition_returns():
    eng = engine(KEEP)
    schedule = [(0.0, 20), (1.0, 0), (5.9, 0), (6.0, 0)]
    phases = {}
    for now, vol in schedule:
        eng.evaluate(features(vol_bps=vol), now)
        phases[now] = (eng.phase("keep.widen"), eng.effects.spread_add_bps)
    assert phases[1.0] == ("firing", 3)          # released at 1.0, kept for 5 s
    assert phases[5.9] == ("firing", 3)
    assert phases[6.0] == ("inactive", 0)

    eng = engine(KEEP)
    for now, vol in [(0.0, 20), (1.0, 0), (3.0, 20), (4.0, 0), (8.9, 0)]:
        eng.evaluate(features(vol_bps=vol), now)
    assert eng.phase("keep.widen") == "firing"   # the return at 3.0 restarted the 5 s from 4.0
    eng.evaluate(features(vol_bps=0), 9.0)
    assert eng.phase("keep.widen") == "inactive"


COOLDOWN = """
policy: cool
rules:
  - name: block
    when: vol_bps > 10
    cooldown: 10s
    then: {pause: bid}
"""


def test_cooldown_prevents_refiring_until_it_has_elapsed():
    eng = engine(COOLDOWN)
    eng.evaluate(features(vol_bps=20), 0)
    assert eng.firing() == ["cool.block"]
    eng.evaluate(features(vol_bps=0), 1)            # released at 1: cooling down until 11
    assert eng.phase("cool.block") == "cooldown"
    refired = first_firing(eng, "cool.block", [(t, features(vol_bps=20)) for t in ticks(2, 15, 0.5)])
    assert refired == 11.0
    assert eng.effects.pause_bid


def test_a_failing_expression_leaves_its_rule_in_place_counts_and_spares_the_others():
    eng = engine("""
        policy: p
        rules:
          - name: ratio
            when: 1 / inventory_frac > 2
            then: {size_mult: 0.5}
          - name: vol
            when: vol_bps > 10
            then: {spread_add_bps: 2}
    """)
    eng.evaluate(features(inventory_frac=0.25, vol_bps=0), 0)     # 1/0.25 = 4 > 2
    assert eng.firing() == ["p.ratio"]
    assert eng.errors_total == 0

    eng.evaluate(features(inventory_frac=0.0, vol_bps=20), 1)     # ZeroDivisionError
    assert eng.phase("p.ratio") == "firing"                      # where it was
    assert eng.firing() == ["p.ratio", "p.vol"]                  # the other rule still evaluated
    assert eng.errors_total == 1
    assert eng.errors["p.ratio"].startswith("ZeroDivisionError")
    assert eng.effects.size_mult == 0.5 and eng.effects.spread_add_bps == 2

    eng.evaluate(features(inventory_frac=0.0, vol_bps=0), 2)
    assert eng.errors_total == 2
    assert eng.firing() == ["p.ratio"]

    eng = engine("""
        policy: p
        rules:
          - name: ratio
            when: 1 / inventory_frac > 2
    """)
    eng.evaluate(features(inventory_frac=0.0), 0)               # failing from the start: stays inactive
    assert eng.phase("p.ratio") == "inactive"
    assert eng.errors_total == 1


LEADER = """
  - name: leader
    when: vol_bps > 10
"""
FOLLOWER = """
  - name: follower
    when: active("leader")
"""


@pytest.mark.parametrize("rules", [LEADER + FOLLOWER, FOLLOWER + LEADER], ids=["leader_first", "follower_first"])
def test_rules_see_other_rules_status_from_the_previous_tick_whatever_their_order(rules):
    eng = engine("policy: chain\nrules:" + rules)
    eng.evaluate(features(vol_bps=20), 0)
    assert eng.firing() == ["chain.leader"]
    eng.evaluate(features(vol_bps=20), 1)
    assert sorted(eng.firing()) == ["chain.follower", "chain.leader"]
    eng.evaluate(features(vol_bps=0), 2)
    assert eng.firing() == ["chain.follower"]
    eng.evaluate(features(vol_bps=0), 3)
    assert eng.firing() == []


# -- state machines ------------------------------------------------------------------------------

REGIME = """
policy: regime
states:
  initial: calm
  min_dwell: 30s
  telemetry: regime_state
  states:
    calm: {value: 0, then: {size_mult: 1.1}, vars: {hold_s: 2}}
    wild: {value: 1, then: {size_mult: 0.7, spread_add_bps: 2}, vars: {hold_s: 5}}
  transitions:
    - {from: calm, to: wild, when: "vol_bps > 20", for: 5s}
    - {from: wild, to: calm, when: "vol_bps < 10"}
"""


def test_state_machine_transitions_honour_for_and_min_dwell():
    eng = engine(REGIME)
    history = {}
    for now in ticks(0, 100, 0.5):
        vol = 25 if 40 <= now < 46 else 5
        eng.evaluate(features(vol_bps=vol), now)
        history[now] = (eng.states()["regime"], eng.gauges()["regime_state"], eng.effects.size_mult)
    assert history[44.5][0] == "calm"                 # wild conditions since 40, `for: 5s` not yet met
    assert history[45.0] == ("wild", 1.0, 0.7)        # held 5 s
    assert history[74.5][0] == "wild"                 # calm since 46, but min_dwell 30 s from 45
    assert history[75.0] == ("calm", 0.0, 1.1)


def test_a_machine_applies_its_initial_state_from_the_first_tick():
    # Nothing fires and nothing switches, yet the initial state's effects are in force at once:
    # a bot starting in `calm` quotes calm sizes from its first tick.
    eng = engine(REGIME)
    decision = eng.evaluate(features(vol_bps=5), 0)
    assert decision.effects.size_mult == 1.1
    assert eng.effects.size_mult == 1.1
    assert eng.gauges() == {"regime_state": 0.0}
    assert decision.changed and decision.trace["states"]["regime"]["state"] == "calm"   # the log's first line
    assert not eng.evaluate(features(vol_bps=5), 1).changed


STATE_VAR_HOLD = """
policy: regime
states:
  initial: slow
  states:
    slow: {vars: {hold_s: 10}}
    fast: {vars: {hold_s: 2}}
  transitions:
    - {from: slow, to: fast, when: "trend_bps > 0"}
    - {from: fast, to: slow, when: "trend_bps < 0"}
---
policy: guard
rules:
  - name: wait
    when: vol_bps > 10
    for: state_var("regime", "hold_s")
"""


def _split(text: str) -> list[str]:
    return [part for part in textwrap.dedent(text).split("---\n")]


def test_state_var_durations_follow_the_current_state():
    eng = engine(*_split(STATE_VAR_HOLD))
    schedule = [(t, features(vol_bps=20, trend_bps=0)) for t in ticks(0, 12, 0.5)]
    assert first_firing(eng, "guard.wait", schedule) == 10.0    # slow: hold 10 s

    eng = engine(*_split(STATE_VAR_HOLD))
    eng.evaluate(features(vol_bps=0, trend_bps=1), 0)           # switch to fast first
    assert eng.states() == {"regime": "fast"}
    schedule = [(t, features(vol_bps=20, trend_bps=1)) for t in ticks(1, 12, 0.5)]
    assert first_firing(eng, "guard.wait", schedule) == 3.0     # fast: hold 2 s from 1.0


def test_state_var_duration_shortened_by_a_switch_mid_hold_takes_effect_at_once():
    eng = engine(*_split(STATE_VAR_HOLD))
    # The hold starts at 0 in `slow` (10 s); at 1 the regime turns fast (2 s): 2 s after 0 it fires,
    # no matter that no condition changed between 1 and 2.
    schedule = [(t, features(vol_bps=20, trend_bps=0 if t < 1 else 1)) for t in ticks(0, 12, 0.1)]
    assert first_firing(eng, "guard.wait", schedule) == 2.0


# -- merged effects ------------------------------------------------------------------------------

MERGE = """
policy: merge
rules:
  - name: a
    when: vol_bps > 0
    then: {spread_add_bps: 2, size_mult: 0.5, pause: bid, size_cap_units: 0.07, bid_cooldown_s: 20,
           hedge_max_slippage_bps: 9}
  - name: b
    when: vol_bps > 0
    then: {spread_add_bps: 3.5, size_mult: 0.8, pause: ask, size_cap_units: 0.065, bid_cooldown_s: 45,
           hedge_max_slippage_bps: 12}
  - name: c
    when: vol_bps > 100
    then: {spread_add_bps: vol_bps / 10, halt: true}
"""


def test_effects_merge_sum_product_or_min_max():
    eng = engine(MERGE)
    eng.evaluate(features(vol_bps=5), 0)
    fx = eng.effects
    assert fx.spread_add_bps == pytest.approx(5.5)            # spreads add
    assert fx.size_mult == pytest.approx(0.4)                 # multipliers multiply
    assert fx.pause_bid and fx.pause_ask                      # pauses OR (bid from a, ask from b)
    assert fx.size_cap_units == 0.065                         # caps: tightest wins
    assert fx.hedge_max_slippage_bps == 9
    assert fx.bid_cooldown_s == 45                            # cooldowns: longest wins
    assert not fx.halt


def test_expression_valued_effects_follow_the_features_each_tick():
    eng = engine(MERGE)
    eng.evaluate(features(vol_bps=150), 0)
    assert eng.effects.spread_add_bps == pytest.approx(5.5 + 15)
    assert eng.effects.halt
    seq = eng.seq
    decision = eng.evaluate(features(vol_bps=200), 1)         # same rules firing, new value
    assert eng.effects.spread_add_bps == pytest.approx(5.5 + 20)
    # A new decision number (orders placed under the new value name it) but no full trace line:
    # the firing rules did not change, the applied value did.
    assert decision.seq == eng.seq == seq + 1
    assert decision.effects_changed and not decision.changed and decision.trace is None
    same = eng.evaluate(features(vol_bps=200), 1.5)           # nothing moved: nothing new
    assert same.seq == seq + 1 and not same.effects_changed and not same.changed
    eng.evaluate(features(vol_bps=50), 2)
    assert eng.effects.spread_add_bps == pytest.approx(5.5)
    assert not eng.effects.halt


def test_an_expression_effect_that_fails_is_left_out_and_counted():
    eng = engine("""
        policy: p
        rules:
          - name: r
            when: vol_bps > 0
            then: {spread_add_bps: 2, size_mult: "0.5 / inventory_frac"}
    """)
    eng.evaluate(features(vol_bps=1, inventory_frac=0.25), 0)
    assert eng.effects.size_mult == 2.0
    eng.evaluate(features(vol_bps=1, inventory_frac=0.0), 1)           # ZeroDivisionError
    assert eng.effects.size_mult == 1.0 and eng.effects.spread_add_bps == 2
    assert eng.errors["p.r"].startswith("ZeroDivisionError") and eng.errors_total >= 1
    eng.evaluate(features(vol_bps=1, inventory_frac=-0.25), 2)         # -2: a negative size_mult is refused
    assert eng.effects.size_mult == 1.0
    assert "size_mult evaluated to -2.0" in eng.errors["p.r"]


def test_state_effects_merge_with_rule_effects():
    eng = engine(REGIME, """
        policy: trim
        rules:
          - name: t
            when: vol_bps >= 0
            then: {size_mult: 0.5}
    """)
    eng.evaluate(features(vol_bps=5), 0)
    assert eng.effects.size_mult == pytest.approx(1.1 * 0.5)


# -- the decision trace --------------------------------------------------------------------------

def test_trace_records_version_firing_rules_with_their_numbers_and_counts_only_changes():
    compiled = compile_policies(UNTIL, REGIME)
    eng = PolicyEngine(compiled)
    first = eng.evaluate(features(vol_bps=35), 0)
    assert first.changed and first.seq == 1
    trace = first.trace
    assert trace["policy_version"] == compiled.version
    assert trace["seq"] == 1 and trace["ts"] == 0
    active = {row["rule"]: row for row in trace["active"]}
    assert set(active) == {"vol.pause", "vol.plain"}
    assert active["vol.pause"]["features"] == {"vol_bps": 35}
    assert active["vol.pause"]["since"] == 0
    assert active["vol.pause"]["at"] == "p0.yaml:4"
    assert trace["states"]["regime"]["state"] == "calm"
    assert trace["effects"]["pause_bid"] is True

    same = eng.evaluate(features(vol_bps=36), 1)
    assert not same.changed and same.seq == 1 and same.trace is None
    released = eng.evaluate(features(vol_bps=25), 2)              # `plain` releases
    assert released.changed and released.seq == 2
    assert [row["rule"] for row in released.trace["active"]] == ["vol.pause"]


def test_version_is_a_content_hash_of_the_set():
    assert compile_policies(UNTIL).version == compile_policies(UNTIL).version
    assert compile_policies(UNTIL).version != compile_policies(UNTIL.replace("18", "17")).version


# -- reload --------------------------------------------------------------------------------------

TWO = """
policy: two
rules:
  - name: slow
    when: vol_bps > 10
    for: 5s
    telemetry: slow_gauge
  - name: other
    when: vol_bps > 10
    for: 3s
    telemetry: other_gauge
"""


def test_swap_keeps_timers_of_unchanged_rules_and_resets_changed_ones():
    eng = engine(TWO)
    hot = features(vol_bps=20)
    for now in ticks(0, 2.5, 0.5):
        eng.evaluate(hot, now)
    report = eng.swap(compile_policies(TWO.replace("for: 3s", "for: 3.0s")))   # `other` edited at 2.5
    assert report.kept == ("two.slow",) and report.changed == ("two.other",)
    fired = {}
    for now in ticks(2.5, 8, 0.5):
        eng.evaluate(hot, now)
        for key in eng.firing():
            fired.setdefault(key, now)
    assert fired["two.slow"] == 5.0            # the hold begun at 0 went on through the swap
    assert fired["two.other"] == 5.5           # restarted at 2.5, not 3.0 from the old hold


def test_swap_keeps_a_firing_rule_firing_and_removes_gauges_of_removed_rules():
    eng = engine(TWO)
    for now in ticks(0, 6, 1):
        eng.evaluate(features(vol_bps=20), now)
    assert eng.gauges() == {"slow_gauge": 1.0, "other_gauge": 1.0}
    only_slow = TWO.split("  - name: other")[0]
    report = eng.swap(compile_policies(only_slow))
    assert report.removed == ("two.other",)
    decision = eng.evaluate(features(vol_bps=20), 6)
    assert eng.gauges() == {"slow_gauge": 1.0}
    assert eng.firing() == ["two.slow"]
    assert [row["rule"] for row in eng.trace(features(vol_bps=20), 6)["active"]] == ["two.slow"]
    assert decision.effects == eng.effects


def test_swap_counts_a_changed_param_as_a_changed_rule_only_where_it_is_used():
    base = """
    policy: p
    params: {limit: 10, unused: 1}
    rules:
      - name: r
        when: vol_bps > limit
        for: 5s
    """
    eng = engine(base)
    eng.evaluate(features(vol_bps=20), 0)
    assert eng.swap(compile_policies(base.replace("unused: 1", "unused: 2"))).kept == ("p.r",)
    assert eng.swap(compile_policies(base.replace("limit: 10", "limit: 11"))).changed == ("p.r",)


def test_swap_keeps_the_current_state_of_a_machine():
    eng = engine(REGIME)
    for now in ticks(0, 31, 1):      # min_dwell counts from the first tick: wild at 30
        eng.evaluate(features(vol_bps=25), now)
    assert eng.states() == {"regime": "wild"}
    edited = REGIME.replace("spread_add_bps: 2}", "spread_add_bps: 3}")
    report = eng.swap(compile_policies(edited))
    assert report.changed == ("regime",)
    eng.evaluate(features(vol_bps=25), 31)
    assert eng.states() == {"regime": "wild"}
    assert eng.effects.spread_add_bps == 3          # the new definition's effects for the kept state


# -- the fast path is invisible ------------------------------------------------------------------

def test_sparse_and_dense_ticks_fire_at_the_same_time():
    def fire_time(step: float) -> float | None:
        eng = engine(HOLD)
        return first_firing(eng, "hold.hot", [(t, features(vol_bps=20)) for t in ticks(0, 6, step)])

    assert fire_time(0.1) == fire_time(1.0) == 3.0
    eng = engine(HOLD)
    late = first_firing(eng, "hold.hot", [(t, features(vol_bps=20)) for t in ticks(0.05, 6, 0.7)])
    assert 3.05 <= late < 3.05 + 0.7               # the first tick at or after the hold ends


# A set that uses every timer kind; `ticker` below defeats the fast path for comparison.
FULL_SET = [
    """
    policy: guards
    rules:
      - name: hold
        when: vol_bps > 20
        for: 2s
        then: {spread_add_bps: 1}
      - name: hyst
        when: vol_bps >= 30
        until: vol_bps < 10
        keep_for: 1.5s
        then: {pause: both}
      - name: cool
        when: trend_bps < -5
        cooldown: 3s
        then: {pause: bid}
      - name: follow
        when: active("hold") and not active("cool")
        keep_for: state_var("regime", "keep_s")
        then: {size_mult: 0.5}
      - name: var_hold
        when: vol_bps > 5
        for: state_var("regime", "keep_s")
        then: {size_cap_units: 0.07}
    """,
    """
    policy: regime
    states:
      initial: calm
      min_dwell: 2s
      states:
        calm: {then: {size_mult: 1.1}, vars: {keep_s: 4}}
        wild: {then: {size_mult: 0.7}, vars: {keep_s: 1}}
      transitions:
        - {from: calm, to: wild, when: "vol_bps > 25 or trend_bps < -5", for: 1s}
        - {from: wild, to: calm, when: "vol_bps < 15 and trend_bps >= 0", for: 1.5s}
    """,
]
TICKER_DEFEATS_FAST_PATH = """
    policy: ticker
    rules:
      - name: tick
        when: uptime_s + 1
"""


FULL_SET_COMPILED = compile_policies(*FULL_SET)
FULL_SET_WITH_TICKER = compile_policies(*FULL_SET, TICKER_DEFEATS_FAST_PATH)


def _run(eng: PolicyEngine, steps) -> list:
    out = []
    now = 0.0
    for dt, vol, trend in steps:
        now = round(now + dt, 6)
        eng.evaluate(features(vol_bps=vol, trend_bps=trend, uptime_s=now), now)
        out.append((now, sorted(k for k in eng.firing() if not k.startswith("ticker.")), eng.states(),
                    eng.effects))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0]),
                          st.sampled_from([0, 8, 12, 22, 28, 35]),
                          st.sampled_from([0, 1, -6])), min_size=5, max_size=60))
def test_fast_path_gives_the_same_decisions_as_stepping_every_tick(steps):
    fast = PolicyEngine(FULL_SET_COMPILED)
    always = PolicyEngine(FULL_SET_WITH_TICKER)   # a condition that changes every tick
    assert _run(fast, steps) == _run(always, steps)


# -- the incremental fast path against the step-everything reference ------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["vol_bps", "trend_bps", "inventory_units", "sigma_1m_bps",
                                           "realized_pnl_5m", "neg_pnl_slices", "unhedged_exposure_s",
                                           "guard_block_s", "hit_fast_frac", "fill_count"]),
                          st.floats(-40, 40, allow_nan=False), st.integers(1, 40)),
                min_size=1, max_size=40))
def test_incremental_stepping_matches_stepping_every_rule(changes):
    """The shipped policies, driven by random feature changes, decide exactly the same on every
    tick whether the engine steps only what changed or everything."""
    from pathlib import Path

    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES
    from lighter_bot import BotConfig as Config
    from runtime.features import FeatureStore

    compiled = load_policy_set([Path(__file__).resolve().parent.parent / "policies"], FEATURE_NAMES)
    fast, reference = PolicyEngine(compiled), PolicyEngine(compiled, incremental=False)
    features = dict(FeatureStore(Config()).values)
    features.update(mid=185.0, best_bid=184.99, best_ask=185.01)
    now = 0.0
    for name, value, ticks in changes:
        features[name] = value
        for _ in range(ticks):
            now += 0.25
            a, b = fast.evaluate(features, now), reference.evaluate(features, now)
            assert a.effects == b.effects, now
            assert fast.firing() == reference.firing(), now
            assert fast.states() == reference.states(), now
