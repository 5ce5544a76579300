"""The whole bot on the paper exchange, minutes of simulated market per scenario.

Each scenario is built for some of the seed's guards (a volatility burst, trends, a
throttled hedger in a squeeze, informed flow) and asserts what a trader would look
for: fills on both sides, inventory inside the hard limits at every tick, each
policy firing in the scenario made for it and its gauges moving, and no order left
open at the end.
"""
from __future__ import annotations

import pytest

from paper_harness import config_with, run_paper

TICKS_PER_S = 4


def script(*steps):
    return [{"regime": regime, "duration_s": seconds} for regime, seconds in steps]


SCENARIOS = {
    "volatility_burst": dict(
        config=config_with(**{"venue.paper": {"script": script(("calm", 60), ("volatile", 120), ("calm", 300))}}),
        seconds=480,
        rules=["volatility_pause.pause", "volatility_pause.high_vol_clip", "edge_first.modest_size"],
        gauges=["maker_volatility_pause_active", "maker_high_vol_clip_active"]),
    "trends": dict(
        config=config_with(**{"venue.paper": {"script": script(("calm", 120), ("trend_up", 90), ("calm", 60),
                                                                ("trend_down", 90), ("calm", 240)), "seed": 3}}),
        seconds=600,
        rules=["trend_guard.up", "trend_guard.down", "trend_guard.down_cooldown",
               "hedger_escalation.force_aggressive"],
        gauges=["maker_trend_up_guard", "maker_trend_down_guard", "maker_trend_down_cooldown_active",
                "maker_regime_state", "hedger_force_aggressive"]),
    "throttled_hedger_squeeze": dict(
        config=config_with(hedger={"cooldown_s": 120.0},
                           **{"venue.paper": {"script": script(("calm", 30), ("trend_up", 300)),
                                              "sweep_prob": 0.3, "seed": 2}}),
        seconds=660,
        rules=["inventory_guard.block_asks", "hedger_escalation.guard_emergency", "pnl_guard.guard"],
        gauges=["maker_guard_block_active", "hedger_guard_emergency", "maker_pnl_guard_active"]),
    "informed_flow": dict(
        config=config_with(**{"venue.paper": {"script": script(("trend_up", 200), ("trend_down", 200)),
                                              "sweep_prob": 0.4, "sweep_depth_bps_mean": 10}}),
        seconds=400,
        rules=["hit_quality.toxic_flow", "hit_quality.skew_ask", "edge_first.no_chase"],
        gauges=["maker_hit_quality_guard"]),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request):
    spec = SCENARIOS[request.param]
    return spec, run_paper(spec["config"], spec["seconds"])


def test_quotes_fill_on_both_sides(scenario):
    _, run = scenario
    assert run.fills_by_side["buy"] > 0 and run.fills_by_side["sell"] > 0


def test_inventory_never_beyond_the_hard_limits(scenario):
    spec, run = scenario
    limits = spec["config"].risk
    assert run.max_abs_inventory <= limits.max_position_units + 1e-9
    assert run.max_abs_notional <= limits.max_inventory_notional * 1.02   # the mid can move after a fill


def test_each_policy_fires_in_the_scenario_built_for_it(scenario):
    spec, run = scenario
    silent = [rule for rule in spec["rules"] if run.firing[rule] == 0]
    assert not silent, f"never fired: {silent}; fired: {dict(run.firing)}"


def test_guard_gauges_change_during_the_run(scenario):
    spec, run = scenario
    flat = [g for g in spec["gauges"] if len(run.gauge_values[g]) < 2]
    assert not flat, f"gauges that never changed: {flat}"


def test_every_order_is_canceled_at_the_end(scenario):
    _, run = scenario
    assert run.venue.open_orders() == []
    assert run.trader.orders.orders == {}


def test_every_starter_policy_fires_in_some_scenario():
    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES
    from paper_harness import POLICIES

    covered = {rule for spec in SCENARIOS.values() for rule in spec["rules"]}
    policies = {rule.policy for rule in load_policy_set([POLICIES], FEATURE_NAMES).rules}
    assert policies <= {rule.split(".")[0] for rule in covered} | {"regimes"}
    gauges = {g for spec in SCENARIOS.values() for g in spec["gauges"]}
    assert "maker_regime_state" in gauges
