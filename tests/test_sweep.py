"""`lighter-bot replay --sweep`: the same table in this process, on worker processes and on Ray;
values set through the policy loader and the config model (their refusals located); the edge
and noise warnings; rules coverage per value and overall."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

from lighter_bot import cli
from rules.errors import PolicyError
from rules.loader import load_texts, read_policy_texts
from rules.overrides import set_params
from runtime.catalog import FEATURE_NAMES
from runtime.service.sweep_spec import MAX_COMBINATIONS, parse_range
from runtime.service.sweep_stats import block_bootstrap, edge_warnings, noise_check

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "replay"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))
SOL_PROFILE, BTC_PROFILE = REPO / "profiles" / "market_2.yaml", REPO / "profiles" / "market_1.yaml"
POLICIES = REPO / "policies"
# 2.5 h of SOL 1-minute klines at a 1 s step: about 0.35 s a replay, with fills and guards firing.
SOL_KLINES = (FIXTURES / "solusdt_binance-usdm-perp_1m_head.csv", "--profile", str(SOL_PROFILE),
              "--step", "1", "--to", "2025-05-04T18:00:00Z")


def sweep(tmp_path, capsys, *sweeps, data=SOL_KLINES, extra=(), report="report"):
    out_dir = tmp_path / report
    code = cli(["replay", "--data", *map(str, data), "--policies", str(POLICIES), "--report", str(out_dir),
                "--cache", str(tmp_path / "cache"), *[a for s in sweeps for a in ("--sweep", s)], *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out_dir, out


def load(report: Path) -> dict:
    return json.loads((report / "sweep.json").read_text())


# -- the table, wherever it runs -----------------------------------------------------------------

def test_ten_values_give_the_same_table_in_this_process_and_on_two_workers(tmp_path, capsys):
    code, one, out = sweep(tmp_path, capsys, "maker.spread_bps=4:13:1", extra=("--no-plots",), report="one")
    assert code == 0, out.err
    code, two, out2 = sweep(tmp_path, capsys, "maker.spread_bps=4:13:1", extra=("--workers", "2", "--no-plots"),
                            report="two")
    assert code == 0, out2.err
    assert (one / "sweep.json").read_bytes() == (two / "sweep.json").read_bytes()
    assert (one / "sweep.md").read_bytes() == (two / "sweep.md").read_bytes()
    assert out.out == out2.out and "on 2 worker processes" in out2.err
    report = load(one)
    assert [r["values"]["maker.spread_bps"] for r in report["rows"]] == [float(v) for v in range(4, 14)]
    assert report["params"] == [{"name": "maker.spread_bps", "kind": "config", "values": [float(v) for v in range(4, 14)]}]
    assert report["objective"]["metric"] == "realized_pnl" and report["objective"]["max_abs_inventory"] == 0.3
    # The value changes what the bot does: not every row is the same.
    assert len({(r["realized_pnl"], r["fills"]) for r in report["rows"]}) > 3
    best = max(report["rows"], key=lambda r: r["realized_pnl"])
    assert report["best"]["values"] == best["values"]
    assert "wall" not in json.dumps(report) and "seconds" not in json.dumps(report)


def test_edge_and_noise_warnings_end_to_end(tmp_path, capsys):
    # 13 bps is best by realized PnL, at the top of the range, and its lead over the runner-up
    # is inside the bootstrap interval of the slices.
    code, report_dir, out = sweep(tmp_path, capsys, "maker.spread_bps=4:13:1", extra=("--no-plots",))
    assert code == 0
    report = load(report_dir)
    assert report["best"]["values"] == {"maker.spread_bps": 13.0}
    assert any(w.startswith("edge: the best maker.spread_bps = 13 is the highest") for w in report["warnings"])
    low, high = report["noise"]["interval"]
    assert low <= 0 <= high and any(w.startswith("noise:") for w in report["warnings"])
    assert "WARNING edge" in out.out and "WARNING noise" in out.out
    # Inside 8..12, 9 bps is best, neither at an edge nor within the noise.
    code, report_dir, out = sweep(tmp_path, capsys, "maker.spread_bps=8:12:1", extra=("--no-plots",), report="inner")
    report = load(report_dir)
    assert report["best"]["values"] == {"maker.spread_bps": 9.0} and report["warnings"] == []
    assert report["noise"]["interval"][0] > 0 and "WARNING" not in out.out


def test_a_policy_param_sweep_reports_coverage_per_value_and_overall(tmp_path, capsys):
    code, report_dir, out = sweep(tmp_path, capsys, "trend_guard.down_trigger_bps=-10:-6:2", extra=("--no-plots",))
    assert code == 0, out.err
    report = load(report_dir)
    rows = report["rows"]
    assert [r["values"]["trend_guard.down_trigger_bps"] for r in rows] == [-10.0, -8.0, -6.0]
    assert report["params"][0]["kind"] == "policy"
    assert len({r["policies_version"] for r in rows}) == 3          # each value is its own policy set
    # A trigger further from zero pauses bids for less time.
    assert rows[0]["paused_s"] < rows[-1]["paused_s"]
    assert all(r["paused_s"] <= r["ticks"] * 1.0 for r in rows)      # time with a side paused, not a sum per policy
    overall = report["coverage"]["never_fired"]
    assert "inventory_guard.block_bids" in overall
    assert all(set(overall) <= set(r["never_fired"]) for r in rows)
    assert "rules coverage: never fired under any value: " in out.out


def test_two_parameters_make_a_grid_and_a_heat_map(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install -e '.[plots]'")
    code, report_dir, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", "hit_quality.widen_bps=3:5:2")
    assert code == 0, out.err
    report = load(report_dir)
    grid = [(r["values"]["maker.spread_bps"], r["values"]["hit_quality.widen_bps"]) for r in report["rows"]]
    assert grid == [(9.0, 3.0), (9.0, 5.0), (10.0, 3.0), (10.0, 5.0)]          # the first parameter outermost
    assert "maker.spread_bps / hit_quality.widen_bps" in out.out
    assert any(line.strip().startswith("10, 5 ") for line in out.out.splitlines())     # values in --sweep order
    png = (report_dir / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_the_inventory_bound_keeps_a_value_from_being_best(tmp_path, capsys):
    # Unbounded first, then a bound just under the unbounded best's max |inventory|: that value
    # (and every row as high) drops out, and the best is the best of the rows left (on this data
    # some rows stay under it).
    code, report_dir, out = sweep(tmp_path, capsys, "hit_quality.widen_bps=0:6:1",
                                  extra=("--no-plots", "--objective", "mtm_pnl", "--max-inventory", "1"), report="free")
    free = load(report_dir)
    top = next(r for r in free["rows"] if r["values"] == free["best"]["values"])
    bound = top["max_abs_inventory"] - 0.001
    code, report_dir, out = sweep(tmp_path, capsys, "hit_quality.widen_bps=0:6:1", extra=(
        "--no-plots", "--objective", "mtm_pnl", "--max-inventory", f"{bound:g}"), report="bounded")
    report = load(report_dir)
    assert report["objective"]["text"] == f"maximise mark-to-market PnL among values whose max |inventory| <= {bound:g}"
    within = [r for r in report["rows"] if r["max_abs_inventory"] <= bound]
    assert 0 < len(within) < len(report["rows"])
    assert [r["within_inventory_bound"] for r in report["rows"]] == [r["max_abs_inventory"] <= bound for r in report["rows"]]
    assert report["best"]["values"] != free["best"]["values"]
    assert report["best"]["values"] == max(within, key=lambda r: r["mtm_pnl"])["values"]
    assert "(over bound)" in out.out
    code, report_dir, out = sweep(tmp_path, capsys, "hit_quality.widen_bps=0:6:1",
                                  extra=("--no-plots", "--max-inventory", "0.01"), report="none")
    report = load(report_dir)
    assert code == 0 and report["best"] is None and report["warnings"][0].startswith("bound: no value")


# -- Ray -------------------------------------------------------------------------------------------

def test_ray_gives_the_same_table_as_two_workers(tmp_path, capsys, ray_local):
    args = ("maker.spread_bps=4:13:1",)
    code, local, out = sweep(tmp_path, capsys, *args, extra=("--workers", "2", "--no-plots"), report="local")
    assert code == 0, out.err
    code, on_ray, out_ray = sweep(tmp_path, capsys, *args, extra=("--ray", "auto", "--no-plots"), report="ray")
    assert code == 0, out_ray.err
    assert "on Ray (auto)" in out_ray.err
    assert (local / "sweep.json").read_bytes() == (on_ray / "sweep.json").read_bytes()
    assert (local / "sweep.md").read_bytes() == (on_ray / "sweep.md").read_bytes()
    assert ray_local.is_initialized()          # the sweep joined the session's instance and left it running


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: the full recorded files are not on this machine")
def test_ten_values_on_a_shared_file_match_between_two_workers_and_ray(tmp_path, capsys, ray_local):
    data = (SHARED / "klines_1m" / "SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv", "--profile",
            str(SOL_PROFILE), "--step", "1", "--from", "2025-05-10T00:00:00Z", "--to", "2025-05-10T01:00:00Z")
    code, local, out = sweep(tmp_path, capsys, "trend_guard.down_trigger_bps=-12:-3:1", data=data,
                             extra=("--workers", "2", "--no-plots"), report="local")
    assert code == 0, out.err
    code, on_ray, out = sweep(tmp_path, capsys, "trend_guard.down_trigger_bps=-12:-3:1", data=data,
                              extra=("--ray", "auto", "--no-plots"), report="ray")
    assert code == 0, out.err
    rows = load(local)["rows"]
    assert len(rows) == 10
    # A down-trend trigger closer to zero keeps bids off for longer; never more than the hour replayed.
    assert rows[0]["paused_s"] < rows[-1]["paused_s"] <= 3600
    assert (local / "sweep.json").read_bytes() == (on_ray / "sweep.json").read_bytes()


# -- ranges, names and refused values --------------------------------------------------------------

def test_a_range_includes_stop_on_the_grid_without_float_drift():
    assert parse_range("a.b=0.1:0.5:0.1").values == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert parse_range("a.b=-10:-2:4").values == (-10.0, -6.0, -2.0)
    assert parse_range("a.b=1:2:0.4").values == (1.0, 1.4, 1.8)          # 2 is off the grid
    assert parse_range("a.b=5:5:1").values == (5.0,)


@pytest.mark.parametrize("text,says", [
    ("a.b=1:2:0", "STEP must be > 0"),
    ("a.b=3:1:1", "STOP (1) is below START (3)"),
    ("a.b=1:2", "expected NAME=START:STOP:STEP"),
    ("a.b=x:2:1", "must be numbers"),
    ("spread=1:2:1", "expected policy.param or a config key"),
    (f"a.b=0:{MAX_COMBINATIONS}:1", f"at most {MAX_COMBINATIONS}"),
])
def test_bad_ranges_are_refused_with_the_reason(text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_range(text)


def test_a_bad_range_on_the_command_line_exits_2_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["replay", "--data", str(SOL_KLINES[0]), "--sweep", "maker.spread_bps=9:1:1"])
    assert exit_info.value.code == 2 and "STOP (1) is below START (9)" in capsys.readouterr().err


def test_a_param_is_set_in_the_text_keeping_comments_and_lines():
    texts = read_policy_texts([POLICIES])
    changed = set_params(texts, {("trend_guard", "down_trigger_bps"): -8.5, ("inventory_guard", "backoff"): 7.0})
    before, after = dict(texts), dict(changed)
    trend = next(p for p in before if Path(p).name == "trend_guard.yaml")
    guard = next(p for p in before if Path(p).name == "inventory_guard.yaml")
    old_lines, new_lines = before[trend].splitlines(), after[trend].splitlines()
    assert len(old_lines) == len(new_lines)
    assert [n for o, n in zip(old_lines, new_lines) if o != n] == [
        "  down_trigger_bps: -8.5           # seed: down-trend trigger -6 bps"]
    assert '  backoff: "7s"' in after[guard]                # a duration param takes seconds
    assert all(after[p] == before[p] for p in before if p not in (trend, guard))
    assert load_texts(changed, FEATURE_NAMES).version != load_texts(texts, FEATURE_NAMES).version


def test_unknown_policies_and_params_name_what_exists():
    texts = read_policy_texts([POLICIES])
    with pytest.raises(PolicyError, match=r"no policy named 'trend_gard' \(policies: edge_first, .*trend_guard"):
        set_params(texts, {("trend_gard", "down_trigger_bps"): 1.0})
    with pytest.raises(PolicyError, match=r"has no param 'down_bps' \(its params: down_spread_add_bps, down_trigger_bps"):
        set_params(texts, {("trend_guard", "down_bps"): 1.0})


@pytest.mark.parametrize("spec,says", [
    # The policy loader's own located refusal: a negative duration is not a duration.
    ("inventory_guard.backoff=-5:5:5", "inventory_guard.yaml:8:1: params: param backoff: expected a number, "
                                       "true/false or a duration like \"30s\", got '-5s'"),
    ("maker.spread_bps=-2:2:1", "at maker.spread_bps=-2 the config is refused: maker.spread_bps"),
    ("maker.spread_bpz=1:2:1", "no config key maker.spread_bpz (keys there: "),
    ("trend_gard.x=1:2:1", "'trend_gard' is neither a policy (policies: edge_first"),
    ("trend_guard.nope=1:2:1", "policy 'trend_guard' has no param 'nope'"),
    ("market.symbol=1:2:1", "a sweep sets numbers; this key is 'SOL'"),
])
def test_a_refused_value_or_name_stops_the_sweep_before_it_runs(tmp_path, capsys, spec, says):
    code, report_dir, out = sweep(tmp_path, capsys, spec)
    assert code == 1 and says in out.err
    assert not report_dir.exists()


def test_a_policy_named_like_a_config_section_is_refused_as_ambiguous(tmp_path, capsys):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "maker.yaml").write_text("policy: maker\nparams:\n  spread_bps: 3\nrules:\n  - name: wide\n"
                                       "    when: vol_bps > 100\n    then: {spread_add_bps: spread_bps}\n")
    code = cli(["replay", "--data", str(SOL_KLINES[0]), *SOL_KLINES[1:], "--policies", str(folder),
                "--cache", str(tmp_path / "cache"), "--sweep", "maker.spread_bps=1:2:1"])
    err = capsys.readouterr().err
    assert code == 1 and "'maker' is both a policy and a config section" in err


def test_more_than_two_parameters_or_assert_are_refused(tmp_path, capsys):
    code, _, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", "hit_quality.widen_bps=3:4:1",
                         "trend_guard.resume_bps=5:6:1")
    assert code == 1 and "at most two parameters" in out.err
    expect = tmp_path / "expect.yaml"
    expect.write_text("- ticks > 0\n")
    code, _, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", extra=("--assert", str(expect)))
    assert code == 1 and "--assert checks one replay's summary" in out.err


# -- the warnings on constructed inputs ------------------------------------------------------------

def test_the_edge_warning_names_the_parameter_and_the_end():
    grids = [("maker.spread_bps", (4.0, 5.0, 6.0)), ("trend_guard.down_trigger_bps", (-10.0, -8.0))]
    assert edge_warnings((5.0, -9.0), grids[:1] + [("x.y", (-10.0, -9.0, -8.0))]) == []
    low = edge_warnings((4.0, -9.0), grids[:1] + [("x.y", (-10.0, -9.0, -8.0))])
    assert len(low) == 1 and "maker.spread_bps = 4 is the lowest value swept (4..6)" in low[0]
    both = edge_warnings((6.0, -8.0), grids)
    assert len(both) == 2 and "highest" in both[0] and "trend_guard.down_trigger_bps = -8 is the highest" in both[1]
    assert edge_warnings((5.0,), [("a.b", (5.0,))]) == []          # one value has no edge to speak of


def _row(slices):
    return {"slices_realized": slices, "slices_mtm": slices}


def test_the_noise_warning_when_the_lead_is_within_the_bootstrap_spread():
    # The runner-up is the best's slices with the sign of the noise flipped: same mean, big swings.
    swings = [0.3, -0.28, 0.25, -0.31, 0.29, -0.27, 0.3, -0.26, 0.28, -0.3, 0.27, -0.29, 0.31, -0.25, 0.26, -0.28]
    best = _row([0.01 + s for s in swings])
    runner_up = _row([0.0 - s for s in swings])
    boot, warnings = noise_check(best, runner_up, "realized_pnl")
    assert boot["interval"][0] < 0 < boot["interval"][1]
    assert len(warnings) == 1 and warnings[0].startswith("noise: best minus runner-up is +")


def test_no_noise_warning_when_the_best_leads_in_every_slice():
    best = _row([0.02, 0.03, 0.025, 0.02, 0.03, 0.02, 0.028, 0.022, 0.02, 0.03, 0.021, 0.026])
    runner_up = _row([0.0] * 12)
    boot, warnings = noise_check(best, runner_up, "mtm_pnl")
    assert boot["interval"][0] > 0 and warnings == []
    assert noise_check(best, runner_up, "fills") == (None, [])      # fills have no PnL slices


def test_the_bootstrap_is_deterministic_and_its_interval_holds_the_difference():
    diffs = [0.01, -0.02, 0.03, 0.0, 0.015, -0.01, 0.02, 0.005, -0.004, 0.012]
    first, second = block_bootstrap(diffs), block_bootstrap(diffs)
    assert first == second and first["block_slices"] == 3 and first["slices"] == 10
    assert first["interval"][0] <= first["difference"] <= first["interval"][1]


def test_each_data_file_is_its_own_task_and_a_row_adds_them_up(tmp_path, capsys):
    one_day = SOL_KLINES
    copy = tmp_path / "second_day.csv"
    copy.write_bytes(SOL_KLINES[0].read_bytes())
    code, single, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", data=one_day, extra=("--no-plots",),
                              report="single")
    assert code == 0, out.err
    code, double, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", data=(one_day[0], copy, *one_day[1:]),
                              extra=("--no-plots", "--workers", "2"), report="double")
    assert code == 0, out.err
    assert "2 values x 2 files = 4 replays" in out.err
    one, two = load(single), load(double)
    assert [d["file"] for d in two["data"]] == [SOL_KLINES[0].name, "second_day.csv"]
    for a, b in zip(one["rows"], two["rows"]):
        assert b["realized_pnl"] == pytest.approx(2 * a["realized_pnl"]) and b["fills"] == 2 * a["fills"]
        assert b["max_abs_inventory"] == a["max_abs_inventory"] and b["ticks"] == 2 * a["ticks"]


def test_ray_missing_is_a_clear_message_naming_the_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)          # as if Ray were not installed: import fails
    code, report_dir, out = sweep(tmp_path, capsys, "maker.spread_bps=9:10:1", extra=("--ray", "auto"))
    assert code == 1 and "--ray needs Ray: pip install -e '.[cluster]'" in out.err
    assert not report_dir.exists()


def test_a_flat_sweep_says_so_instead_of_naming_an_edge(tmp_path, capsys):
    # 6.5 s of BTC depth: no fill at any spread, so no value is better than another.
    data = (FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz", "--profile", str(BTC_PROFILE))
    code, report_dir, out = sweep(tmp_path, capsys, "maker.spread_bps=4:6:1", data=data, extra=("--no-plots",))
    report = load(report_dir)
    assert code == 0 and report["warnings"][0].startswith("flat: every value within the bound gives the same realized PnL")
    assert not any(w.startswith("edge") for w in report["warnings"])
