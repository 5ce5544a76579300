"""The policy test runner (rules.testing) and `lighter-bot policy test` / `policy check`.

Policies and test files are real files in tmp_path; the runner drives the production
loader and engine, so these tests also pin down the time semantics a trader writes
expectations against (series held until changed, one-step lag of active()).
"""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from rules.testing import run_policy_tests
from runtime.catalog import FEATURE_NAMES
from lighter_bot import cli as main
from lighter_bot import load_config
from runtime.features import FeatureStore

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
BASELINE = FeatureStore(load_config(None)).values


def run(paths):
    return run_policy_tests(paths, FEATURE_NAMES, BASELINE)


@pytest.fixture
def policies(tmp_path) -> Path:
    """A copy of the shipped policies/ (with its tests/) to break on purpose."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def write_test(folder: Path, name: str, text: str) -> Path:
    path = folder / "tests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


VOL_CASE = """\
policies: [../volatility_pause.yaml]
cases:
  - name: pauses at 30 bps
    series:
      - {at: 0s, vol_bps: 29.9}
      - {at: 10s, vol_bps: 30}
    expect:
      - at: 10s
        firing: [volatility_pause.pause]
"""


# -- the shipped tests ---------------------------------------------------------------------------

def test_shipped_policy_tests_pass():
    report = run([POLICIES])
    assert report.ok, "\n".join(map(str, report.problems + report.failures))
    assert report.cases_passed >= 40 and report.cases_failed == 0


def test_every_shipped_policy_has_its_own_test_file():
    policies = {p.stem for p in POLICIES.glob("*.yaml")}
    tests = {p.stem.removesuffix("_test") for p in (POLICIES / "tests").glob("*_test.yaml")}
    assert policies <= tests, f"policies without tests/<name>_test.yaml: {sorted(policies - tests)}"


def test_rules_package_imports_neither_runtime_nor_adapters():
    for path in (ROOT / "rules").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.split(".")[0] in {"runtime", "adapters"}, f"{path.name} imports {name}"


# -- results and failure output ------------------------------------------------------------------

def test_a_wrong_expectation_prints_file_case_time_exp_and_got(policies):
    path = write_test(policies, "wrong_test.yaml", VOL_CASE.replace("at: 10s\n        firing",
                                                                    "at: 9s\n        firing"))
    report = run([path])
    assert not report.problems
    assert [str(f) for f in report.failures] == [
        f'{path}:8: case "pauses at 30 bps", t=9s, firing: exp: [volatility_pause.pause] got: []']
    assert report.summary() == "0 cases passed, 1 failed"


def test_every_failure_of_every_case_is_collected(policies):
    path = write_test(policies, "many_test.yaml", """\
policies: [../volatility_pause.yaml]
cases:
  - name: right
    series: [{at: 0s, vol_bps: 31}]
    expect:
      - {at: 0s, firing: [volatility_pause.pause]}
  - name: wrong twice
    series: [{at: 0s, vol_bps: 31}]
    expect:
      - at: 0s
        not_firing: [volatility_pause.pause]
        effects: {pause_bid: false, size_mult: 0.5}
      - at: 2s
        gauges: {maker_volatility_pause_active: 0}
  - name: wrong state of a phase
    series: [{at: 0s, sigma_1m_bps: 10}]
    expect:
      - at: 1s
        phases: {volatility_pause.high_vol_clip: pending}
""")
    report = run([path])
    lines = [str(f) for f in report.failures]
    assert lines == [
        f'{path}:10: case "wrong twice", t=0s, not_firing: exp: none of [volatility_pause.pause] '
        f'got: [volatility_pause.pause]',
        f'{path}:10: case "wrong twice", t=0s, effects.pause_bid: exp: false got: true',
        f'{path}:10: case "wrong twice", t=0s, effects.size_mult: exp: 0.5 got: 1',
        f'{path}:13: case "wrong twice", t=2s, gauges.maker_volatility_pause_active: exp: 0 got: 1',
        f'{path}:18: case "wrong state of a phase", t=1s, phases.volatility_pause.high_vol_clip: '
        f'exp: pending got: firing',
    ]
    assert (report.cases_passed, report.cases_failed) == (1, 2)


def test_firing_exactly_and_state_mismatches(policies):
    path = write_test(policies, "exact_test.yaml", """\
cases:
  - name: exact
    series: [{at: 0s, vol_bps: 31}]
    expect:
      - at: 0s
        firing_exactly: [volatility_pause.pause]
        states: {regimes: aggressive}
""")
    failures = [str(f) for f in run([path]).failures]
    assert failures == [
        f'{path}:5: case "exact", t=0s, firing_exactly: exp: [volatility_pause.pause] '
        f'got: [edge_first.modest_size, edge_first.no_chase, volatility_pause.pause]',
        f'{path}:5: case "exact", t=0s, states.regimes: exp: aggressive got: defensive']


def test_without_a_policies_key_the_whole_parent_folder_is_loaded(policies):
    path = write_test(policies, "whole_test.yaml", """\
cases:
  - name: live set
    expect:
      - {at: 0s, firing_exactly: [edge_first.modest_size, edge_first.no_chase], states: {regimes: defensive}}
""")
    report = run([path])
    assert report.ok, report.failures


def test_series_values_hold_until_changed_and_active_lags_one_step(policies):
    path = write_test(policies, "lag_test.yaml", """\
policies: [../hit_quality.yaml]
interval: 250ms
cases:
  - name: lag
    series:
      - {at: 0s, fill_count: 10, hit_fast_frac: 0.9, inventory_units: 0.01}
      - {at: 1s, hit_fast_frac: 0.1}
    expect:
      - {at: 0s, firing_exactly: [hit_quality.toxic_flow]}
      - {at: 250ms, firing_exactly: [hit_quality.toxic_flow, hit_quality.skew_bid]}
      - {at: 750ms, firing_exactly: [hit_quality.toxic_flow, hit_quality.skew_bid]}
      - {at: 1s, firing_exactly: [hit_quality.skew_bid]}
      - {at: 1250ms, firing_exactly: []}
""")
    report = run([path])
    assert report.ok, "\n".join(map(str, report.failures + report.problems))


DIVIDE_POLICY = """\
policy: divide
rules:
  - name: per_unit
    when: 1 / mid > 0
"""
DIVIDE_TEST = """\
policies: [../divide.yaml]
cases:
  - name: mid is zero
    expect:
      - {at: 0s, not_firing: [divide.per_unit]}
  - name: mid is set
    series: [{at: 0s, mid: 185}]
    expect:
      - {at: 0s, firing: [divide.per_unit]}
"""


def test_a_rule_that_raises_fails_its_case_and_the_run_goes_on(policies):
    (policies / "divide.yaml").write_text(DIVIDE_POLICY)
    path = write_test(policies, "divide_test.yaml", DIVIDE_TEST)
    report = run([path])
    assert [f.case for f in report.failures] == ["mid is zero"]
    assert (report.cases_passed, report.cases_failed) == (1, 1)


def test_a_rule_that_raises_is_reported_as_a_rule_error(policies):
    (policies / "divide.yaml").write_text(DIVIDE_POLICY)
    path = write_test(policies, "divide_test.yaml", DIVIDE_TEST)
    failures = [str(f) for f in run([path]).failures]
    assert len(failures) == 1
    assert failures[0].startswith(f'{path}:5: case "mid is zero", t=0s, rule errors: exp: none '
                                  f'got: divide.per_unit: ZeroDivisionError')


def test_initial_state_effects_apply_from_the_first_step(policies):
    path = write_test(policies, "initial_test.yaml", """\
policies: [../regimes.yaml, ../pnl_guard.yaml, ../volatility_pause.yaml]
cases:
  - name: defensive from the start
    expect:
      - {at: 0s, states: {regimes: defensive}, effects: {size_mult: 0.7, spread_add_bps: 2}}
""")
    report = run([path])
    assert report.ok, "\n".join(map(str, report.failures))


# -- malformed test files -------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    (VOL_CASE.replace("    series:", "    serie:"),
     "4:5: cases[0].serie: unknown key, did you mean cases[0].series?"),
    (VOL_CASE.replace("vol_bps: 29.9", "vol_bp: 29.9"),
     "5:18: cases[0].series[0].vol_bp: unknown feature 'vol_bp': expected a catalog feature "
     "(see `lighter-bot features`), did you mean vol_bps?"),
    (VOL_CASE.replace("vol_bps: 29.9", "vol_bps: high"),
     "5:18: cases[0].series[0].vol_bps: expected a finite number, got 'high'"),
    (VOL_CASE.replace("{at: 10s,", "{at: 10,"),
     '6:10: cases[0].series[1].at: expected a duration like "10s" (units ms, s, m, h), got 10'),
    (VOL_CASE.replace("{at: 10s,", "{"), "6:9: cases[0].series[1]: required key `at` is missing"),
    (VOL_CASE.replace("- at: 10s", "- at: 10"),
     '8:9: cases[0].expect[0].at: expected a duration like "10s" (units ms, s, m, h), got 10'),
    (VOL_CASE.replace("[volatility_pause.pause]", "[volatility_pause.paus]"),
     "9:18: cases[0].expect[0].firing[0]: unknown rule 'volatility_pause.paus'; did you mean volatility_pause.pause?"),
    (VOL_CASE + "        effects: {pause: true}\n",
     "10:19: cases[0].expect[0].effects.pause: unknown effect 'pause'; did you mean pause_bid?"),
    (VOL_CASE + "        effects: {pause_bid: 1}\n",
     "10:19: cases[0].expect[0].effects.pause_bid: expected true or false, got 1"),
    (VOL_CASE + "        gauges: {maker_vol: 1}\n",
     "10:18: cases[0].expect[0].gauges.maker_vol: unknown gauge 'maker_vol'; expected one of: "
     "maker_high_vol_clip_active, maker_volatility_pause_active"),
    (VOL_CASE + "        states: {regimes: defensive}\n",
     "10:18: cases[0].expect[0].states.regimes: unknown state machine 'regimes'; expected one of: none in this set"),
    (VOL_CASE.replace("../volatility_pause.yaml", "../volatility.yaml"),
     "1:12: policies[0]: no such policy file or folder"),
    (VOL_CASE.replace("  - name: pauses at 30 bps", "  - name: pauses at 30 bps\n    name: again"),
     "4:5: cases[0].name: duplicate key"),
    (VOL_CASE.replace("cases:", "cases: [").replace("  - name", "  name", 1),
     "invalid YAML"),
])
def test_malformed_test_files_give_located_errors(policies, text, expected):
    path = write_test(policies, "bad_test.yaml", text)
    report = run([path])
    assert not report.files and not report.failures
    messages = [str(p) for p in report.problems]
    assert any(m.startswith(f"{path}:") and expected in m for m in messages), messages


def test_times_must_fall_on_the_interval(policies):
    path = write_test(policies, "grid_test.yaml", "interval: 2s\n" + VOL_CASE.replace("{at: 10s,", "{at: 9s,"))
    messages = [str(p) for p in run([path]).problems]
    assert messages == [f"{path}:7:10: cases[0].series[1].at: 9s is not a multiple of the interval (2s); "
                        f"the clock only stops at multiples of it"]


def test_a_broken_policy_under_test_is_reported_with_its_own_location(policies):
    text = (policies / "volatility_pause.yaml").read_text().replace("vol_bps >= pause_vol_bps",
                                                                   "vol_bsp >= pause_vol_bps")
    (policies / "volatility_pause.yaml").write_text(text)
    path = write_test(policies, "vol_test.yaml", VOL_CASE)
    messages = [str(p) for p in run([path]).problems]
    assert any(m.startswith(f"{policies / 'volatility_pause.yaml'}:") and "unknown name 'vol_bsp'" in m
               for m in messages), messages
    assert f"{path}:1:1: policies: the policy set under test does not load (problems above)" in messages


# -- the CLI ------------------------------------------------------------------------------------

def test_cli_policy_test_passes_on_the_shipped_policies(capsys):
    assert main(["policy", "test", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^policy tests: \d+ cases passed, 0 failed$", out, re.M), out


def test_cli_policy_check_runs_the_tests_too(capsys):
    assert main(["policy", "check", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: 8 policy files") and re.search(r"policy tests: \d+ cases passed, 0 failed", out)


def test_cli_policy_check_fails_when_a_threshold_breaks_a_test(policies, capsys):
    path = policies / "volatility_pause.yaml"
    path.write_text(path.read_text().replace("pause_vol_bps: 30 ", "pause_vol_bps: 25 "))
    assert main(["policy", "check", str(policies)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("ok: 8 policy files")        # the schema is fine; the behaviour is not
    assert f'{policies}/tests/volatility_pause_test.yaml:12: case "pauses at 30 bps, not at 29.9", t=9s, ' \
           f'not_firing: exp: none of [volatility_pause.pause] got: [volatility_pause.pause]' in out
    assert re.search(r"policy tests: \d+ cases passed, [1-9]\d* failed", out)
    assert main(["policy", "test", str(policies)]) == 1


def test_cli_malformed_test_file_exits_1_with_a_located_error(policies, capsys):
    write_test(policies, "bad_test.yaml", VOL_CASE.replace("    series:", "    serie:"))
    assert main(["policy", "check", str(policies)]) == 1
    captured = capsys.readouterr()
    assert f"{policies}/tests/bad_test.yaml:4:5: cases[0].serie: unknown key" in captured.err
    assert "1 file could not be used" in captured.out
    assert "Traceback" not in captured.err


def test_cli_check_without_tests_is_fine_but_test_without_tests_is_not(tmp_path, capsys):
    shutil.copy(POLICIES / "edge_first.yaml", tmp_path / "edge_first.yaml")
    assert main(["policy", "check", str(tmp_path)]) == 0
    assert "policy tests: none found" in capsys.readouterr().out
    assert main(["policy", "test", str(tmp_path)]) == 1
    assert "no policy tests found" in capsys.readouterr().err


def test_cli_policy_test_accepts_test_files_directly(capsys):
    assert main(["policy", "test", str(POLICIES / "tests" / "pnl_guard_test.yaml")]) == 0
    assert "policy tests: 6 cases passed, 0 failed" in capsys.readouterr().out


def test_cli_policy_test_on_a_missing_path(tmp_path, capsys):
    assert main(["policy", "test", str(tmp_path / "nope")]) == 1
    assert f"{tmp_path / 'nope'}: no such file or folder" in capsys.readouterr().err
