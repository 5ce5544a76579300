"""`scripts/suggest_market_targets.py` against the fake Lighter server's five markets: ranked,
each score the weighted sum of the parts it shows, within the request budget; clear errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lighter_harness import require_lighter_sdk

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=6, trade_interval_s=3600.0)).start()
    yield server
    server.stop()


def ranked(fake, capsys, *extra: str) -> list[dict]:
    from adapters.lighter.suggest_markets import main

    assert main(["--base-url", fake.url, "--pace", "0", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_ranks_and_explains_within_the_request_budget(fake, capsys):
    from adapters.lighter.suggest_markets import WEIGHTS

    before = len(fake.requests)
    rows = ranked(fake, capsys, "--top", "3", "--balance-usd", "1000")
    paths = [p for _, p in fake.requests[before:]]
    # one details, one funding, a book for each of the 2 x 3 best candidates (5 markets)
    assert paths.count("/api/v1/orderBookDetails") == 1 and paths.count("/api/v1/funding-rates") == 1
    assert paths.count("/api/v1/orderBookOrders") == 5 and len(paths) == 7
    assert len(rows) == 3
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for r in rows:
        assert r["score"] == pytest.approx(sum(w * r["parts"][k] for k, w in WEIGHTS.items()))
        assert set(r["parts"]) == set(WEIGHTS) and all(0 <= v <= 1 for v in r["parts"].values())


def test_a_markets_parts_by_hand(fake, capsys):
    hype = ranked(fake, capsys, "--target-symbol", "hype", "--balance-usd", "1000")
    # static book: 400 ticks of 0.0001 around 40 -> 10 bps; 10 levels of 50 HYPE a side, all within 10 bps
    assert hype["spread_bps"] == pytest.approx(10.0)
    assert hype["parts"]["spread"] == pytest.approx(1.0)
    assert hype["depth_usd"] == pytest.approx(20 * 50 * 40, rel=0.01)
    assert hype["clip_usd"] == pytest.approx(21.0)                 # 0.5 HYPE x 40 x 1.05 (above $10 x 1.05)
    assert hype["parts"]["depth"] == pytest.approx(1 / (1 + 40000 / (20 * 21.0)), rel=0.01)
    assert hype["range_bps"] == pytest.approx(1200)                 # a 12 % day
    assert hype["parts"]["volatility"] == pytest.approx(1 - 1200 / 1500)
    assert hype["parts"]["volume"] == pytest.approx((7.30103 - 5) / 4, rel=1e-4)   # $20m
    assert hype["funding_rate"] == pytest.approx(0.005)             # lighter's rate, not binance's
    assert hype["parts"]["funding"] == pytest.approx(0.5)


def test_a_small_balance_marks_markets_whose_minimum_is_too_big(fake, capsys):
    rows = {r["symbol"]: r for r in ranked(fake, capsys, "--top", "5", "--balance-usd", "30")}
    assert rows["SOL"]["notes"] == [] and rows["SOL"]["clip_usd"] == pytest.approx(10.5)
    for symbol in ("ETH", "BTC", "HYPE", "XRP"):                    # minimum orders $15.75 .. $44.10
        assert rows[symbol]["parts"]["size_fit"] == 0.0 and "too big" in rows[symbol]["notes"][0]


def test_the_table_and_the_detail_view(fake, capsys):
    from adapters.lighter.suggest_markets import main

    assert main(["--base-url", fake.url, "--pace", "0", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["#", "symbol", "id", "score"] and "why the first one" in out
    assert main(["--base-url", fake.url, "--pace", "0", "--target-symbol", "SOL"]) == 0
    out = capsys.readouterr().out
    assert "SOL (market 2): score" in out and "minimum order $10.50" in out and "funding -0.0020 %/h" in out


def test_errors_are_one_line_and_non_zero(fake, capsys):
    from adapters.lighter.suggest_markets import apply_book, main, Market
    from adapters.lighter.tool_rest import ToolError

    assert main(["--base-url", fake.url, "--pace", "0", "--target-symbol", "DOGE"]) == 1
    assert "no active perp market 'DOGE'" in capsys.readouterr().err
    assert main(["--base-url", "http://127.0.0.1:9", "--pace", "0"]) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert main(["--top", "0"]) == 1 and "--top" in capsys.readouterr().err
    with pytest.raises(ToolError, match="malformed response: book of X: `price`"):
        apply_book(Market(1, "X", 1.0, 1.0, 1.0, 10.0), {"asks": [{"remaining_base_amount": "1"}], "bids": []})


def test_the_script_help_and_a_bad_flag():
    script = [sys.executable, str(REPO / "scripts" / "suggest_market_targets.py")]
    ok = subprocess.run([*script, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and "--target-symbol" in ok.stdout
    bad = subprocess.run([*script, "--top", "ten"], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "invalid int value" in bad.stderr and "Traceback" not in bad.stderr
