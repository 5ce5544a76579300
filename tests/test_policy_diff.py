"""`lighter-bot policy diff A B --data FILE...`: one changed threshold shows as exactly that
rule's changed behaviour, a comment-only change as no difference, git revisions as arguments,
located errors for bad arguments."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lighter_bot import cli

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"
SOL_TRADES = Path(__file__).parent / "fixtures" / "replay" / "solusd_gemini-spot_trades_head.csv"
SOL = REPO / "profiles" / "market_2.yaml"
THRESHOLD = ("  up_trigger_bps: 12 ", "  up_trigger_bps: 8  ")
COMMENT = ("# seed: up-trend trigger +12 bps", "# the trigger, in bps over the lookback")


def edited_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(POLICIES, folder)
    path = folder / "trend_guard.yaml"
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return folder


def diff(tmp_path, capsys, a, b, report="report", extra=()):
    argv = ["policy", "diff", str(a), str(b), "--data", str(SOL_TRADES), "--profile", str(SOL), "--step", "1",
            "--cache", str(tmp_path / "cache"), *extra]
    if report:
        argv += ["--report", str(tmp_path / report)]
    code = cli(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out, (json.loads((tmp_path / report / "diff.json").read_text()) if report and code == 0 else None)


def test_one_changed_threshold_reports_that_rules_changed_behaviour(tmp_path, capsys):
    edited = edited_copy(tmp_path, "edited", *THRESHOLD)
    code, out, d = diff(tmp_path, capsys, POLICIES, edited)
    assert code == 0, out.err
    assert d["policy_changes"] == ["trend_guard.up_trigger_bps: 12 -> 8",
                                   "rule changed (timers reset): trend_guard.up"]
    assert not d["no_difference"]
    # A lower trigger: the up-trend guard fires more often and for longer ...
    up = d["rules"]["trend_guard.up"]
    assert up["edited"] and up["fired"]["delta"] > 0 and up["active_s"]["delta"] > 0
    # ... and it is the only edited rule; the others differ only through feedback (fills).
    assert [rule for rule, r in d["rules"].items() if r["edited"]] == ["trend_guard.up"]
    ticks = d["ticks"]
    assert 0 < ticks["differing_ticks"] < ticks["ticks"]
    # trend_guard.up asks for spread_add_bps only; other effects differ through other fills.
    assert "spread_add_bps" in ticks["effects"]
    assert ticks["longest_stretch"]["ticks"] >= 1 and ticks["first_times"]
    assert ticks["first_times"] == sorted(ticks["first_times"])
    for key, m in d["metrics"].items():
        assert m["delta"] == pytest.approx(m["b"] - m["a"], abs=1e-9), key
    assert "effects differ on" in out.out and "trend_guard.up *" in out.out
    assert "volatility_pause.pause" in d["never_fired"]
    assert "rules coverage: never fired in either run:" in out.out


def test_the_same_inputs_give_a_byte_identical_diff_json(tmp_path, capsys):
    edited = edited_copy(tmp_path, "edited", *THRESHOLD)
    diff(tmp_path, capsys, POLICIES, edited, report="one", extra=("--no-plots",))
    diff(tmp_path, capsys, POLICIES, edited, report="two", extra=("--no-plots",))
    assert (tmp_path / "one" / "diff.json").read_bytes() == (tmp_path / "two" / "diff.json").read_bytes()
    assert not (tmp_path / "one" / "diff.png").exists()


def test_a_comment_only_change_reports_no_difference(tmp_path, capsys):
    edited = edited_copy(tmp_path, "comment", *COMMENT)
    code, out, d = diff(tmp_path, capsys, POLICIES, edited)
    assert code == 0, out.err
    assert d["no_difference"] and d["policy_changes"] == [] and d["rules"] == {}
    assert d["ticks"]["differing_ticks"] == 0 and d["ticks"]["ticks"] > 1000
    assert d["ticks"]["longest_stretch"] is None
    assert all(m["delta"] == 0 for m in d["metrics"].values())
    assert d["metrics"]["fills"]["a"] > 0        # the runs did trade: zero deltas are not zero activity
    assert "no difference: identical effects on every one of" in out.out


def test_the_plot_is_drawn_when_matplotlib_is_installed(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install -e '.[plots]'")
    edited = edited_copy(tmp_path, "edited", *THRESHOLD)
    code, _, _ = diff(tmp_path, capsys, POLICIES, edited)
    assert code == 0
    assert (tmp_path / "report" / "diff.png").read_bytes()[:4] == b"\x89PNG"


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *argv],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_revisions_and_the_working_tree(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(POLICIES, repo / "policies")
    git(repo, "add", "policies")
    git(repo, "commit", "-qm", "shipped")
    path = repo / "policies" / "trend_guard.yaml"
    path.write_text(path.read_text().replace(*THRESHOLD))
    git(repo, "commit", "-qam", "lower the up-trend trigger")
    path.write_text(path.read_text().replace(*COMMENT))          # uncommitted, comment only
    monkeypatch.chdir(repo)
    code, out, d = diff(tmp_path, capsys, "HEAD~1", "main", report="revs")
    assert code == 0, out.err
    assert d["a"]["spec"] == "HEAD~1" and d["b"]["spec"] == "main"
    assert d["policy_changes"] == ["trend_guard.up_trigger_bps: 12 -> 8",
                                   "rule changed (timers reset): trend_guard.up"]
    assert d["rules"]["trend_guard.up"]["fired"]["delta"] > 0
    monkeypatch.chdir(repo / "policies")        # revisions and WORKTREE mean the top level's policies/
    code, out, d = diff(tmp_path, capsys, "HEAD", "WORKTREE", report="worktree")
    assert code == 0, out.err
    assert d["no_difference"] and d["policy_changes"] == [] and d["a"]["version"] != d["b"]["version"]
    # A revision's set is the folder's set: the same version as the shipped folder.
    code, out, d = diff(tmp_path, capsys, "HEAD~1", POLICIES, report="same")
    assert code == 0 and d["a"]["version"] == d["b"]["version"] and d["no_difference"]


def one_error_line(out) -> str:
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    return lines[0]


def test_an_unknown_revision_is_one_located_line(tmp_path, capsys):
    code, out, _ = diff(tmp_path, capsys, POLICIES, "no-such-revision-xyz", report=None)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith("no-such-revision-xyz: ") and "B: " in line and "not a git revision" in line


def test_a_missing_folder_is_one_located_line(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "policies"
    code, out, _ = diff(tmp_path, capsys, missing, POLICIES, report=None)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith(f"{missing}: A: no such policy folder")


def test_a_broken_policy_in_b_is_one_located_line(tmp_path, capsys):
    broken = edited_copy(tmp_path, "broken", "when: trend_bps >= up_trigger_bps",
                         "when: trend_bps >= no_such_feature_or_param")
    code, out, _ = diff(tmp_path, capsys, POLICIES, broken, report=None)
    assert code == 1
    line = one_error_line(out)
    assert line.startswith(f"{broken / 'trend_guard.yaml'}:15:") and "no_such_feature_or_param" in line
    assert not (tmp_path / "report").exists()


def test_coverage_lists_states_never_entered(tmp_path, capsys):
    # 6.5 s of BTC depth: the regime needs 60 s of calm to turn aggressive, so it never does.
    argv = ["policy", "diff", str(POLICIES), str(POLICIES), "--data",
            str(Path(__file__).parent / "fixtures" / "replay" / "btcusdt_binance-usdm_raw_head.ndjson.gz"),
            "--profile", str(REPO / "profiles" / "market_1.yaml"), "--cache", str(tmp_path / "cache"),
            "--report", str(tmp_path / "report"), "--no-plots"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    d = json.loads((tmp_path / "report" / "diff.json").read_text())
    assert d["never_entered"] == ["regimes.aggressive"] and d["no_difference"]
    assert "states never entered in either run: regimes.aggressive" in out
    # On 1.8 h of SOL trades both regimes are entered.
    code, _, d = diff(tmp_path, capsys, POLICIES, POLICIES, report="sol", extra=("--no-plots",))
    assert code == 0 and d["never_entered"] == []
