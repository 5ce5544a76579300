"""`lighter-bot replay`: a report for every input kind, byte-identical summaries, --assert,
market profiles that refuse data they do not fit, located errors."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lighter_bot import cli

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "replay"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))
BTC, SOL = REPO / "profiles" / "market_1.yaml", REPO / "profiles" / "market_2.yaml"
POLICIES = REPO / "policies"
KEYS = {"realized_pnl", "mtm_pnl", "fees", "volume", "fills", "max_abs_inventory", "tx_per_min",
        "quoted_both_sides_frac", "paused_seconds", "rules", "never_fired", "never_entered", "pnl_by_guard", "hedge_slippage_bps",
        "data", "fill_model", "ticks", "orders"}


def replay(tmp_path, capsys, *files, profile=BTC, extra=(), plots=("--no-plots",)):
    report = tmp_path / "report"
    code = cli(["replay", "--data", *map(str, files), "--profile", str(profile), "--policies", str(POLICIES),
                "--report", str(report), "--cache", str(tmp_path / "cache"), *plots, *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, report, out


@pytest.mark.parametrize("files,profile,mode", [
    (["btcusdt_binance-usdm_raw_head.ndjson.gz"], BTC, "l2"),
    (["btc_lighter-perp_ws_capture_head.json.gz"], BTC, "l2"),
    (["btcusdt_binance-usdm_bbo_head.csv", "btcusdt_binance-usdm_trades_head.csv"], BTC, "bbo"),
    (["btc_lighter-perp_trades_ws_head.csv"], BTC, "trades"),
    (["solusd_gemini-spot_trades_head.csv"], SOL, "trades"),
    (["solusdt_binance-usdm-perp_1m_head.csv"], SOL, "klines"),
    (["sol_lighter-candles_1m_pages.json"], SOL, "klines"),
])
def test_every_input_kind_replays_to_a_sane_report(tmp_path, capsys, files, profile, mode):
    extra = ("--to", "2025-05-04T16:03:00Z", "--step", "1") if mode == "klines" else ()
    code, report, out = replay(tmp_path, capsys, *[FIXTURES / f for f in files], profile=profile, extra=extra)
    assert code == 0, out.err
    summary = json.loads((report / "summary.json").read_text())
    assert KEYS <= set(summary)
    assert summary["data"]["mode"] == mode and summary["ticks"] > 0
    assert [f["name"] for f in summary["data"]["files"]] == files
    assert summary["fill_model"]["rules"] and summary["quoted_both_sides_frac"] >= 0
    # Coverage: the regime machine starts defensive, so only states it never reached are listed.
    assert "regimes.defensive" not in summary["never_entered"]
    assert set(summary["never_entered"]) <= {"regimes.aggressive"}
    assert "# Replay summary" in out.out and (report / "summary.md").read_text() in out.out + "\n"


def test_the_same_inputs_give_a_byte_identical_summary(tmp_path, capsys):
    fixture = FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz"
    _, first, _ = replay(tmp_path / "a", capsys, fixture)           # converts
    _, second, _ = replay(tmp_path / "a", capsys, fixture)          # from the cache
    assert (first / "summary.json").read_bytes() == (second / "summary.json").read_bytes()
    (tmp_path / "b").mkdir()
    _, third, _ = replay(tmp_path / "b", capsys, fixture)
    assert (first / "summary.json").read_bytes() == (third / "summary.json").read_bytes()


def test_a_queue_and_fills_show_in_the_ledger_and_summary(tmp_path, capsys):
    # The bbo+trades fixture moves enough in 10 s at a 0.1 s step for the maker to be filled.
    code, report, _ = replay(tmp_path, capsys, FIXTURES / "btc_lighter-perp_ws_capture_head.json.gz",
                             extra=("--step", "0.1"))
    summary = json.loads((report / "summary.json").read_text())
    ledger = (report / "fills.jsonl").read_text().splitlines()
    assert len(ledger) == summary["fills"]["total"]
    assert sum(summary["fills"]["by_side_liquidity"].values()) == summary["fills"]["total"]


def test_assert_names_each_failed_expectation(tmp_path, capsys):
    expect = tmp_path / "expect.yaml"
    expect.write_text("- max_abs_inventory <= 0.2\n- ticks > 1000000\n- never_fired: []\n- fills.total >= 0\n"
                      "- no_such_key == 1\n")
    code, _, out = replay(tmp_path, capsys, FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz",
                          extra=("--assert", str(expect)))
    assert code == 1
    failed = [line for line in out.err.splitlines() if "FAILED" in line]
    assert len(failed) == 3
    assert any("ticks > 1000000 (actual:" in line for line in failed)
    assert any("never_fired: []" in line for line in failed)
    assert any("no summary key 'no_such_key'" in line for line in failed)
    expect.write_text("- max_abs_inventory <= 0.2\n- realized_pnl: '>= -0.5'\n")
    code, _, out = replay(tmp_path, capsys, FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz",
                          extra=("--assert", str(expect)))
    assert code == 0 and "all 2 expectations hold" in out.err


def test_data_that_does_not_fit_the_profile_is_refused(tmp_path, capsys):
    code, report, out = replay(tmp_path, capsys, FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz", profile=SOL)
    assert code == 1 and "outside profile" in out.err and "price_range" in out.err
    assert not report.exists()
    code, _, out = replay(tmp_path, capsys, FIXTURES / "solusd_gemini-spot_trades_head.csv", profile=BTC)
    assert code == 1 and "SOL" not in out.err and "BTC" in out.err


def test_without_a_profile_btc_prices_under_the_sol_config_are_refused(tmp_path, capsys):
    code = cli(["replay", "--data", str(FIXTURES / "btcusdt_binance-usdm_bbo_head.csv"), "--policies", str(POLICIES),
                "--cache", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "do not fit the config's market (SOL)" in err and "profiles/market_1.yaml" in err


def test_bad_data_in_a_replay_is_located_not_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("ts_ms,price,qty,side\n1,100,1,buy\n2,100,-1,sell\n")
    code, _, out = replay(tmp_path, capsys, bad, profile=SOL)
    assert code == 1 and f"{bad}:3: qty: expected a positive number" in out.err


SHARED_RUNS = [   # (file, profile, extra arguments, None or what the refusal says)
    ("l2_binance_raw/BTCUSDT_binance-usdm_raw_20240718.ndjson.gz", BTC, (), None),
    ("l2_binance_raw/ETHUSDT_binance-usdm_bbo_2024-07-18T23-57_2024-07-19T00-05.csv", SOL,
     ("--to", "2024-07-18T23:59:00Z"), "outside profile"),          # ETH fits neither profile
    ("lighter/BTC_lighter-perp_ws_capture_2025-12-10_raw.json.gz", BTC, (), None),
    ("lighter/BTC_lighter-perp_trades_ws_2025-12-10.csv", BTC, (), None),
    ("trades/SOLUSD_gemini-spot_trades_2025-10-10.csv", SOL, ("--to", "2025-10-10T00:20:00Z"), None),
    ("trades/BTCUSD_gemini-spot_trades_2025-10-10.csv", BTC, ("--to", "2025-10-10T00:20:00Z"), None),
    # SOL at $21 (2023): the profile's 0.064 SOL quote is $1.39, under Lighter's $10 minimum.
    ("klines_1m/SOLUSDT_binance-spot_1m_2023-03-16_2023-05-01.csv", SOL,
     ("--from", "2023-03-24T12:00:00Z", "--to", "2023-03-24T15:00:00Z", "--step", "1"), "do not fit profile"),
    ("klines_1m/SOLUSDT_binance-usdm-perp_1m_2025-05-04_2025-06-03.csv", SOL, ("--to", "2025-05-04T17:00:00Z",
                                                                                "--step", "1"), None),
]


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: the full recorded files are not on this machine")
@pytest.mark.parametrize("name,profile,extra,refused", SHARED_RUNS, ids=[r[0].split("/")[1][:40] for r in SHARED_RUNS])
def test_shared_files_replay_to_a_report(tmp_path, capsys, name, profile, extra, refused):
    """Each shared file (windows of the long ones, to keep the suite fast)."""
    code, report, out = replay(tmp_path, capsys, SHARED / name, profile=profile, extra=extra)
    if refused:
        assert code == 1 and refused in out.err
        return
    assert code == 0, out.err
    summary = json.loads((report / "summary.json").read_text())
    assert summary["ticks"] > 10 and summary["data"]["files"][0]["sha256"]


def test_the_ci_example_replay_step_passes(tmp_path, capsys, monkeypatch):
    """docs/ci/policy-check.yml's replay step, as written there (from the repo root)."""
    monkeypatch.chdir(REPO)
    step = (REPO / "docs" / "ci" / "policy-check.yml").read_text().split("lighter-bot replay", 1)[1].split()
    step = [arg if arg != "replay-report" else str(tmp_path / "report") for arg in step]
    code = cli(["replay", *step, "--cache", str(tmp_path / "cache")])
    assert code == 0 and "all 5 expectations hold" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [
    ("- max_abs_inventory 0.2\n", "item 1: 'max_abs_inventory 0.2': expected `KEY OP VALUE`"),
    ("just text\n", "expected a list of expectations"),
    ("- [1, 2\n", "not valid YAML"),
])
def test_a_bad_expectations_file_is_one_located_line(tmp_path, capsys, text, expected):
    expect = tmp_path / "expect.yaml"
    expect.write_text(text)
    code, report, out = replay(tmp_path, capsys, FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz",
                               extra=("--assert", str(expect)))
    assert code == 1 and f"error: {expect}" in out.err and expected in out.err and not report.exists()


def test_the_report_has_its_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install -e '.[plots]'")
    code, report, out = replay(tmp_path, capsys, FIXTURES / "solusd_gemini-spot_trades_head.csv", profile=SOL,
                               plots=())
    assert code == 0, out.err
    for name in ("price.png", "inventory.png", "pnl.png", "rules.png"):
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_matplotlib_the_report_says_its_plots_were_skipped(tmp_path, capsys, monkeypatch):
    from runtime.service import replay_plots
    monkeypatch.setattr(replay_plots, "available", lambda: False)
    code, report, out = replay(tmp_path, capsys, FIXTURES / "solusd_gemini-spot_trades_head.csv", profile=SOL,
                               plots=())
    assert code == 0, out.err
    assert "plots skipped: matplotlib is not installed (pip install 'lighter-bot[plots]')" in out.err
    assert (report / "summary.json").is_file() and not list(report.glob("*.png"))
