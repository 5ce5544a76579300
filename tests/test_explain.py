"""`lighter-bot explain`: firing rules, contributions and merged effects for one feature vector.

Run through `lighter_bot.cli` with the shipped policies; the numbers asserted are the
seed's (policies/*.yaml), merged as rules/effects.py says.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from lighter_bot import cli as main
from lighter_bot import load_config
from rules.explain import explain, hold_step_s, pin_states
from runtime.features import FeatureStore

POLICIES = Path(__file__).resolve().parent.parent / "policies"
BASELINE = FeatureStore(load_config(None)).values


def run_explain(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["explain", "--policies", str(POLICIES), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def row(out: str, *cells: str) -> bool:
    """Whether the output has a table row with exactly these cells (any column widths)."""
    return re.search(r"^" + r"\s+".join(map(re.escape, cells)) + r"\s*$", out, re.M) is not None


def test_pnl_guard_in_a_down_trend_merges_every_contribution(capsys):
    code, out, err = run_explain(capsys, "--set", "trend_bps=-8", "realized_pnl_5m=-0.2", "mid=185",
                                 "--state", "regimes=defensive")
    assert code == 0, err
    for rule in ("pnl_guard.guard", "trend_guard.down", "trend_guard.down_cooldown", "edge_first.modest_size"):
        assert re.search(rf"^{re.escape(rule)}\s+\S", out, re.M), rule
    assert row(out, "pnl_guard.guard", "spread_add_bps", "4")
    assert row(out, "trend_guard.down", "spread_add_bps", "6")
    assert row(out, "regimes[defensive]", "size_mult", "0.7")
    assert row(out, "spread_add_bps", "12", "sum")
    assert row(out, "size_mult", "0.56", "product")
    assert row(out, "hedge_clip_mult", "0.65", "product")
    assert row(out, "hedge_max_slippage_bps", "9", "min")
    assert row(out, "hedge_cross_bps", "7", "min")
    assert row(out, "pause_bid", "true", "or")
    assert "regimes = defensive (pinned by --state)" in out


def test_holds_count_as_satisfied_and_the_output_says_so(capsys):
    # hedger_escalation.guard_emergency needs the inventory guard to have blocked for 10 s
    code, out, _ = run_explain(capsys, "--set", "inventory_units=0.25", "mid=185")
    assert code == 0
    assert re.search(r"^hedger_escalation\.guard_emergency\s+the inventory guard", out, re.M)
    assert row(out, "hedge_clip_mult", "1.4", "product")
    assert "every `for` hold counts as satisfied" in out


def test_unpinned_machines_follow_their_transitions(capsys):
    code, out, _ = run_explain(capsys)
    assert code == 0
    # the baseline is calm (trend 0, no guard), so the regime settles aggressive after its 60 s hold
    assert "regimes = aggressive (reached by its transitions)" in out
    assert row(out, "regimes[aggressive]", "spread_add_bps", "-1")


def test_a_features_file_then_set_flags(tmp_path, capsys):
    features = tmp_path / "burst.yaml"
    features.write_text("vol_bps: 35\nsigma_1m_bps: 12\ninventory_frac: 0.1\n")
    code, out, _ = run_explain(capsys, "--features", str(features), "--set", "sigma_1m_bps=5")
    assert code == 0
    assert re.search(r"^volatility_pause\.pause\s", out, re.M)
    assert not re.search(r"^volatility_pause\.high_vol_clip\s", out, re.M)     # --set wins over the file
    assert row(out, "pause_bid", "true", "or") and row(out, "pause_ask", "true", "or")
    assert f"then {features}, then --set" in out


def test_config_constants_come_from_the_config(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("risk:\n  max_position_units: 0.2\n")
    code, out, _ = run_explain(capsys, "--config", str(config), "--set", "inventory_units=0.15", "mid=185")
    assert code == 0
    assert re.search(r"^inventory_guard\.block_bids\s", out, re.M)    # 0.15 + 0.072 > 0.2
    code, out, _ = run_explain(capsys, "--set", "inventory_units=0.15", "mid=185")
    assert not re.search(r"^inventory_guard\.block_bids\s", out, re.M)   # not with the default 0.3


@pytest.mark.parametrize("args,message", [
    (["--set", "vol_bp=31"], "--set: vol_bp=31: unknown feature 'vol_bp'; did you mean vol_bps?"),
    (["--set", "vol_bps=high"], "--set: vol_bps=high: expected a finite number for vol_bps, got 'high'"),
    (["--set", "vol_bps=nan"], "--set: vol_bps=nan: expected a finite number for vol_bps, got 'nan'"),
    (["--set", "vol_bps"], "--set: 'vol_bps': expected NAME=VALUE, e.g. --set vol_bps=31"),
    (["--state", "regimes=calm"], "--state: regimes=calm: regimes has no state 'calm'; "
                                  "expected one of: aggressive, defensive"),
    (["--state", "regime=defensive"], "--state: regime=defensive: unknown state machine 'regime'; "
                                      "did you mean regimes?"),
])
def test_bad_flags_name_the_flag_and_what_was_expected(capsys, args, message):
    code, out, err = run_explain(capsys, *args)
    assert code == 1 and out == ""
    assert err.strip() == message
    assert "Traceback" not in err


def test_bad_features_file_gives_located_errors(tmp_path, capsys):
    features = tmp_path / "f.yaml"
    features.write_text("vol_bps: 31\ntrend_bsp: -8\nmid: abc\n")
    code, _, err = run_explain(capsys, "--features", str(features))
    assert code == 1
    assert err.splitlines() == [f"{features}:2:1: trend_bsp: unknown feature 'trend_bsp'; did you mean trend_bps?",
                                f"{features}:3:1: mid: expected a finite number, got 'abc'"]
    code, _, err = run_explain(capsys, "--features", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.startswith(f"{tmp_path / 'missing.yaml'}: cannot read --features file: No such file")


def test_explain_api_settles_and_pins():
    compiled = load_policy_set([POLICIES], FEATURE_NAMES)
    step = hold_step_s(compiled)
    assert step > max(max(r.for_s, r.keep_for_s, r.cooldown_s) for r in compiled.rules)
    assert step > max(m.min_dwell_s for m in compiled.machines)
    pinned_set, pinned = pin_states(compiled, ["regimes=aggressive"])
    ex = explain(pinned_set, BASELINE, {"trend_bps": -8.0}, pinned)
    assert ex.settled and ex.states == {"regimes": "aggressive"}
    assert ex.effects["spread_add_bps"] == pytest.approx(5.0)     # 6 (down-trend) - 1 (aggressive)
    free = explain(compiled, BASELINE, {"trend_bps": -8.0})
    assert free.states == {"regimes": "defensive"}
    assert free.effects["spread_add_bps"] == pytest.approx(8.0)
