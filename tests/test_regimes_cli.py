"""`lighter-bot analyze` end to end: a replay's ledger and rules plus the SOL klines give report.md,
the datasets and the plots, with each suggestion replayed by policy diff; Lighter candles fetched
through the adapter's REST client from the fake server (pagination over the 500 cap, s or ms);
bad inputs give one located line and exit 1; the script wrapper."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lighter_bot import cli

REPO = Path(__file__).resolve().parent.parent
KLINES = REPO / "tests" / "fixtures" / "replay" / "solusdt_binance-usdm-perp_1m_head.csv"
RUN = REPO / "tests" / "fixtures" / "regimes"
SOL = REPO / "profiles" / "market_2.yaml"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))


def analyze(capsys, *argv: str):
    code = cli(["analyze", *argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out


def test_a_replay_then_analyze_end_to_end(tmp_path, capsys):
    """Replay the committed SOL klines, then analyze its ledger and rules with the same klines."""
    pytest.importorskip("matplotlib", reason="the report's plots need matplotlib: pip install -e '.[plots]'")
    replay_dir = tmp_path / "replay"
    code = cli(["replay", "--data", str(KLINES), "--profile", str(SOL), "--policies", str(REPO / "policies"),
                "--step", "1", "--report", str(replay_dir), "--no-plots", "--cache", str(tmp_path / "cache")])
    assert code == 0
    capsys.readouterr()
    # The committed fixture the notebook reads is this replay's output (regenerate it if this fails).
    for name in ("fills.jsonl", "rules.jsonl"):
        assert (replay_dir / name).read_text() == (RUN / name).read_text(), (
            f"tests/fixtures/regimes/{name} is stale: the replay changed; regenerate it with the command in "
            "tests/fixtures/README.md")
    report = tmp_path / "analysis"
    code, out = analyze(capsys, "--ledger", str(replay_dir / "fills.jsonl"), "--rules", str(replay_dir / "rules.jsonl"),
                        "--candles", str(KLINES), "--report", str(report), "--data", str(KLINES), "--profile", str(SOL),
                        "--policies", str(REPO / "policies"), "--step", "1", "--cache", str(tmp_path / "cache"))
    assert code == 0, out.err
    text = (report / "report.md").read_text()
    assert "| high | up | 7 |" in text and "| low | down | 7 |" in text          # the buckets, named
    assert "Consistently negative:" in text and "95% bootstrap confidence interval" in text
    assert "klines are the weakest replay input" in text and "guard engagements marked" in text
    assert "trend_guard.down (engaged in more than half the slices)" in text
    for png in ("buckets.png", "pnl_vs_inventory.png", "cumulative_pnl.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG", png
    buckets = json.loads((report / "buckets.json").read_text())
    assert buckets["window"]["slices"] == 61 and len(buckets["buckets"]["mtm"]) == 9
    slices = (report / "slices.csv").read_text().splitlines()
    assert len(slices) == 62 and "guard:trend_guard.down_s" in slices[0]
    # Every screened suggestion was replayed (with --data): its edited policies and policy diff are in the report.
    assert len(buckets["verdicts"]) == len(buckets["suggestions"])
    if not buckets["suggestions"]:
        assert "No threshold change" in text
    for verdict in buckets["verdicts"]:
        diff = json.loads((Path(verdict["folder"]) / "diff.json").read_text())
        assert diff["policy_changes"][0].startswith(f"{verdict['suggestion']}: ")
        assert f"suggestion: {verdict['suggestion']}" in out.out


def test_a_suggestion_is_recommended_only_when_its_policy_diff_replay_improves(tmp_path):
    """verify() on the committed klines: the edited policy folder and its diff land in the report, and
    the verdict is the replay's mark-to-market delta, whatever the screen thought."""
    import adapters.replay as backend
    from lighter_bot import BotConfig, load_config
    from runtime.service import replay as replay_cli
    from runtime.service.regimes.suggest import Coverage, Suggestion
    from runtime.service.regimes.verify import verify

    config, _ = replay_cli.apply_profile(load_config(None), SOL, BotConfig)
    data = backend.load_data([KLINES], None, tmp_path / "cache", None, None)
    screen = Coverage(-8.0, 1, 0.5, 0.1, -1.0)
    proposals = [Suggestion("trend_guard", "down_trigger_bps", "", -6.0, value, screen, screen) for value in (-8.0, -20.0)]
    verdicts = verify(proposals, REPO / "policies", config, data, backend, 1.0, tmp_path / "report")
    assert [v.suggestion.proposed for v in verdicts] == [-8.0, -20.0]
    for v in verdicts:
        assert v.recommended == (v.diff["metrics"]["mtm_pnl"]["delta"] > 0)
        assert v.diff["policy_changes"][0] == f"trend_guard.down_trigger_bps: -6 -> {v.suggestion.proposed:g}"
        edited = (v.folder / "policies" / "trend_guard.yaml").read_text()
        assert f"down_trigger_bps: {v.suggestion.proposed:g} " in edited
        assert (v.folder / "diff.md").read_text().startswith("policy diff  A = ")
    assert verdicts[0].diff["ticks"]["differing_ticks"] > 0


def test_without_a_rules_log_the_guard_columns_say_not_available(tmp_path, capsys):
    report = tmp_path / "a"
    code, out = analyze(capsys, "--ledger", str(RUN / "fills.jsonl"), "--candles", str(KLINES), "--report", str(report),
                        "--no-plots")
    assert code == 0, out.err
    assert "guard engagements: not available" in (report / "report.md").read_text()
    assert (report / "slices.csv").read_text().startswith("# guard columns: not available")
    assert "Not checked by a replay" in (report / "report.md").read_text() or \
        "No threshold change" in (report / "report.md").read_text()


def test_the_docs_page_states_its_commands_and_carries_its_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the page's plots need matplotlib: pip install -e '.[plots]'")
    doc = tmp_path / "docs" / "page.md"
    code, out = analyze(capsys, "--ledger", str(RUN / "fills.jsonl"), "--rules", str(RUN / "rules.jsonl"),
                        "--candles", str(KLINES), "--report", str(tmp_path / "r"), "--doc", str(doc),
                        "--doc-command", "lighter-bot replay --data X")
    assert code == 0, out.err
    text = doc.read_text()
    assert "lighter-bot replay --data X\nlighter-bot analyze --ledger" in text
    assert "--doc-command" not in text
    assert (doc.parent / "page_buckets.png").exists() and "](page_buckets.png)" in text


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: ["--ledger", str(d / "missing.jsonl")], "missing.jsonl: no such ledger file"),
    (lambda d: ["--ledger", str(_broken_ledger(d))], "broken.jsonl:3: "),
    (lambda d: ["--candles", str(_short_candles(d))], "but the replay runs"),
    (lambda d: ["--candles", str(d / "none.csv")], "none.csv: cannot read the candles"),
    (lambda d: ["--candles", "lighter:sol"], "expected lighter:MARKET_ID"),
    (lambda d: ["--rules", str(d / "nope.jsonl")], "nope.jsonl: cannot read the rules file"),
    (lambda d: ["--slice", "0"], "--slice: expected a positive number"),
    (lambda d: ["--candles"], "--candles: required"),
])
def test_bad_inputs_are_one_located_line_and_exit_1(tmp_path, capsys, mutate, expected):
    argv = {"--ledger": [str(RUN / "fills.jsonl")], "--candles": [str(KLINES)], "--rules": [str(RUN / "rules.jsonl")]}
    extra = mutate(tmp_path)
    if extra[0] in argv:
        argv[extra[0]] = extra[1:]
        extra = []
    flat = [x for flag, values in argv.items() if values for x in (flag, *values)]
    code, out = analyze(capsys, *flat, *extra, "--report", str(tmp_path / "r"), "--no-plots")
    assert code == 1
    assert expected in out.err and out.err.count("\n") == 1, out.err


def _broken_ledger(folder: Path) -> Path:
    lines = (RUN / "fills.jsonl").read_text().splitlines()
    lines[2] = lines[2][:40]
    path = folder / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _short_candles(folder: Path) -> Path:
    path = folder / "short.csv"
    path.write_text("\n".join(KLINES.read_text().splitlines()[:100]) + "\n")
    return path


# -- Lighter candles through the adapter, on the fake server --------------------------------------

def _kline_rows():
    rows = []
    for line in KLINES.read_text().splitlines()[1:]:
        t, *values = line.split(",")
        rows.append((int(t), *map(float, values)))
    return rows


@pytest.fixture(scope="module")
def fake():
    pytest.importorskip("aiohttp", reason="the fake Lighter server needs aiohttp: pip install -e '.[lighter]'")
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=3, trade_interval_s=3600.0, candles=_kline_rows())).start()
    yield server
    server.stop()


def test_fetching_pages_backwards_over_the_500_cap(fake):
    from adapters.lighter.candles import fetch_candles
    from adapters.lighter.tool_rest import ToolRest

    rows = _kline_rows()
    before = len([p for _, p in fake.requests if p == "/api/v1/candles"])
    with ToolRest(fake.url) as rest:
        got = fetch_candles(rest, 2, rows[0][0] / 1000, rows[-1][0] / 1000)
        assert [r[0] for r in got] == [r[0] / 1000 for r in rows] and got[7][1:5] == rows[7][1:5]
        pages = len([p for _, p in fake.requests if p == "/api/v1/candles"]) - before
        assert pages == 1           # 300 bars: one page
        # The fake's own synthetic series over 1,200 minutes needs three pages of at most 500.
    from adapters.lighter.fake_server import FakeLighter, FakeSettings
    synthetic = FakeLighter(FakeSettings(seed=5, trade_interval_s=3600.0)).start()
    try:
        with ToolRest(synthetic.url) as rest:
            start = 1_746_000_000
            bars = fetch_candles(rest, 2, start, start + 1199 * 60)
            again = fetch_candles(rest, 2, start, start + 1199 * 60)
        assert len(bars) == 1200 and bars == again
        assert all(b[0] - a[0] == 60 for a, b in zip(bars, bars[1:]))
        assert len([p for _, p in synthetic.requests if p == "/api/v1/candles"]) == 2 * 3
    finally:
        synthetic.stop()


def test_the_candles_endpoint_takes_seconds_or_milliseconds(fake):
    import httpx

    first = _kline_rows()[0][0]
    answers = [httpx.get(f"{fake.url}/api/v1/candles", params={
        "market_id": 2, "resolution": "1m", "start_timestamp": first // div, "end_timestamp": (first + 240_000) // div,
        "count_back": 10}).json() for div in (1, 1000)]
    assert answers[0] == answers[1] and len(answers[0]["c"]) == 5 and answers[0]["r"] == "1m"
    assert answers[0]["c"][0]["t"] == first
    missing = httpx.get(f"{fake.url}/api/v1/candles", params={"market_id": 2, "resolution": "1m"})
    assert missing.status_code == 400 and missing.json()["code"] == 20001


def test_analyze_on_lighter_candles_matches_the_kline_file(tmp_path, capsys, fake):
    common = ["--ledger", str(RUN / "fills.jsonl"), "--rules", str(RUN / "rules.jsonl"), "--no-plots"]
    code, out = analyze(capsys, *common, "--candles", "lighter:2", "--rest", fake.url, "--report", str(tmp_path / "l"))
    assert code == 0, out.err
    code, out = analyze(capsys, *common, "--candles", str(KLINES), "--report", str(tmp_path / "k"))
    assert code == 0, out.err
    code, out = analyze(capsys, *common, "--market-id", "2", "--rest", fake.url, "--report", str(tmp_path / "m"))
    assert code == 0, out.err
    fetched, local = (json.loads((tmp_path / d / "buckets.json").read_text()) for d in ("l", "k"))
    assert json.loads((tmp_path / "m" / "buckets.json").read_text())["buckets"] == fetched["buckets"]
    assert fetched["buckets"] == local["buckets"] and fetched["suggestions"] == local["suggestions"]
    saved = list((tmp_path / "l").glob("candles_lighter_2_*.csv"))
    assert saved and "Lighter candles, market 2" in (tmp_path / "l" / "report.md").read_text()


def test_an_unreachable_lighter_is_one_line(tmp_path, capsys):
    code, out = analyze(capsys, "--ledger", str(RUN / "fills.jsonl"), "--candles", "lighter:2", "--rest",
                        "http://127.0.0.1:1", "--report", str(tmp_path / "r"), "--no-plots")
    assert code == 1 and "--candles lighter:2: cannot reach http://127.0.0.1:1" in out.err


# -- the script ------------------------------------------------------------------------------------

def test_the_script_runs_the_same_command(tmp_path):
    script = [sys.executable, str(REPO / "scripts" / "regime_analysis.py")]
    ok = subprocess.run([*script, "--ledger", str(RUN / "fills.jsonl"), "--candles", str(KLINES), "--report",
                         str(tmp_path / "r"), "--no-plots"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "slices of 300 s" in ok.stdout and (tmp_path / "r" / "report.md").exists()
    bad = subprocess.run([*script, "--ledger", "nope.jsonl", "--candles", str(KLINES)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 1 and "nope.jsonl: no such ledger file" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.skipif(not (SHARED / "klines_1m").is_dir(), reason=f"shared data not found at {SHARED} "
                    "(set LIGHTER_BOT_SHARED_DATA)")
def test_the_shared_sol_klines_cover_the_committed_run(tmp_path, capsys):
    """The committed replay's ledger analysed with the shared month of SOL perp klines (the doc's candles)."""
    month = SHARED / "klines_1m" / "SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv"
    code, out = analyze(capsys, "--ledger", str(RUN / "fills.jsonl"), "--rules", str(RUN / "rules.jsonl"),
                        "--candles", str(month), "--report", str(tmp_path / "r"), "--no-plots")
    assert code == 0, out.err
    assert json.loads((tmp_path / "r" / "buckets.json").read_text())["window"]["slices"] == 61
