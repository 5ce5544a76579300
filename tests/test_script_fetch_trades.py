"""`scripts/fetch_trades.py` against the fake Lighter server: pagination past one page, FIFO PnL
with fees and a mark, CSV/JSON, and a clear error with a non-zero exit for each way it can fail."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lighter_harness import require_lighter_sdk

REPO = Path(__file__).resolve().parent.parent
ACCOUNT, MARKET = 1001, 2
OTHER = 555


@pytest.fixture(scope="module")
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=3, trade_interval_s=3600.0)).start()
    yield server
    server.stop()


def token(account: int = ACCOUNT) -> str:
    return f"{int(time.time()) + 600}:{account}:3:{'ab' * 40}"


def trade(trade_id: int, side: str, price: str, size: str, maker: bool, fee: int | None = None,
          market: int = MARKET) -> dict:
    """A trade as /api/v1/trades sends it (§3.3), from ACCOUNT's side: `side` it bought or sold."""
    ours_ask = side == "sell"
    t = {"trade_id": trade_id, "tx_hash": f"{trade_id:080x}", "type": "trade", "market_id": market,
         "size": size, "price": price, "usd_amount": f"{float(size) * float(price):.6f}",
         "ask_id": 1, "bid_id": 2, "ask_client_id": 0, "bid_client_id": 0,
         "ask_account_id": ACCOUNT if ours_ask else OTHER, "bid_account_id": OTHER if ours_ask else ACCOUNT,
         "is_maker_ask": ours_ask if maker else not ours_ask, "block_height": 1000 + trade_id,
         "timestamp": 1_764_000_000_000 + trade_id * 1000}
    if fee:   # zero fees are omitted, as Lighter does
        t["maker_fee" if maker else "taker_fee"] = fee
    return t


def seed(fake, trades: list[dict]) -> None:
    def do():
        fake.trades[:] = [t for t in fake.trades if ACCOUNT not in (t["ask_account_id"], t["bid_account_id"])]
        fake.trades.extend(trades)
    fake.call(do)


def run(fake, *extra: str, base_url: str | None = None, env_token: str | None = None, with_token: bool = True):
    from adapters.lighter.fetch_trades import main

    argv = ["--base-url", base_url or fake.url, "--account", str(ACCOUNT), "--market-id", str(MARKET),
            "--mark-mid", "104", *extra]
    if with_token:
        argv += ["--token", token()]
    return main(argv)


def test_fifo_pnl_fees_and_unrealized_by_hand(fake, capsys, tmp_path):
    # buy 1 @100 (maker, 200e-6 fee rate), buy 1 @102 (taker, 500e-6), sell 1.5 @105 (maker, no fee)
    seed(fake, [trade(11, "buy", "100.000", "1.000", True, 200), trade(12, "buy", "102.000", "1.000", False, 500),
                trade(13, "sell", "105.000", "1.500", True)])
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert run(fake, "--json", str(out_json), "--csv", str(out_csv)) == 0
    report = json.loads(out_json.read_text())["report"]
    fees = 100 * 200e-6 + 102 * 500e-6
    assert report["fees"] == pytest.approx(fees)
    assert report["realized_before_fees"] == pytest.approx(5.0 + 1.5)   # (105-100)*1 + (105-102)*0.5
    assert report["realized"] == pytest.approx(6.5 - fees)
    assert report["position"] == pytest.approx(0.5)
    assert report["avg_entry"] == pytest.approx(102.0)
    assert report["unrealized"] == pytest.approx((104 - 102) * 0.5)
    assert report["total"] == pytest.approx(6.5 - fees + 1.0)
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("trade_id,") and len(rows) == 4
    assert rows[1].split(",")[2:4] == ["buy", "maker"]
    table = capsys.readouterr().out
    assert "realized (FIFO)" in table and "+1.000000  marked at mid 104" in table


def test_paginates_past_one_page_and_keeps_the_newest(fake):
    from adapters.lighter.fetch_trades import fetch_trades, fifo_report
    from adapters.lighter.tool_rest import ToolRest
    from runtime.pnl import FifoPosition

    # 250 trades alternating buy/sell around a drifting price, plus other markets' trades
    trades = [trade(100 + i, "buy" if i % 3 else "sell", f"{100 + (i % 7) * 0.25:.3f}", "0.100", i % 2 == 0, 150)
              for i in range(250)]
    trades += [trade(900 + i, "buy", "50.000", "1.000", True, market=0) for i in range(5)]
    seed(fake, trades)
    with ToolRest(fake.url) as rest:
        raw = fetch_trades(rest, ACCOUNT, MARKET, 200, token())
        assert rest.requests == 2
    ids = [t["trade_id"] for t in raw]
    assert ids == list(range(349, 149, -1))          # the newest 200, newest first, no repeats
    fills, report = fifo_report(raw, ACCOUNT, MARKET, 101.0)
    expected = FifoPosition()
    for t in sorted(trades[50:250], key=lambda t: t["trade_id"]):
        side = "sell" if t["ask_account_id"] == ACCOUNT else "buy"
        expected.apply(side, float(t["price"]), float(t["size"]), float(t["price"]) * 0.1 * 150e-6)
    assert report.trades == 200 and [f.trade_id for f in fills] == list(range(150, 350))
    assert report.realized == pytest.approx(expected.realized_total)
    assert report.position == pytest.approx(expected.units)
    assert report.unrealized == pytest.approx(expected.unrealized(101.0))


def test_a_rate_limit_waits_for_the_servers_hint_and_retries(fake):
    seed(fake, [trade(21, "buy", "100.000", "1.000", True)])
    fake.faults.trades_rate_limited = 1
    started = time.monotonic()
    assert run(fake) == 0
    assert time.monotonic() - started >= 0.9        # Retry-After: 1


def test_a_rate_limit_that_persists_fails_clearly(fake, capsys):
    fake.faults.trades_rate_limited = 5
    try:
        assert run(fake, "--retries", "0") == 1
    finally:
        fake.faults.trades_rate_limited = 0
    assert "rate limited" in capsys.readouterr().err


def test_a_bad_token_is_an_http_error(fake, capsys):
    from adapters.lighter.fetch_trades import main

    code = main(["--base-url", fake.url, "--account", str(ACCOUNT), "--market-id", str(MARKET),
                 "--mark-mid", "1", "--token", token(account=7)])
    assert code == 1
    assert "HTTP 401, Lighter code 20013" in capsys.readouterr().err


def test_the_token_comes_from_the_environment(fake, monkeypatch, capsys):
    seed(fake, [trade(31, "sell", "100.000", "1.000", True)])
    monkeypatch.delenv("LIGHTER_API_BEARER", raising=False)
    assert run(fake, with_token=False) == 1
    assert "LIGHTER_API_BEARER" in capsys.readouterr().err
    monkeypatch.setenv("LIGHTER_API_BEARER", "Bearer " + token())
    assert run(fake, with_token=False) == 0
    assert "position        -1" in capsys.readouterr().out


def test_a_malformed_trade_is_reported_not_a_traceback(fake, capsys):
    broken = trade(41, "buy", "100.000", "1.000", True)
    del broken["price"]
    seed(fake, [trade(40, "buy", "100.000", "1.000", True), broken])
    assert run(fake) == 1
    assert "malformed response: trade 41" in capsys.readouterr().err


def test_an_unreachable_host(capsys):
    from adapters.lighter.fetch_trades import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]   # closed once the block ends: nothing listens there
    code = main(["--base-url", f"http://127.0.0.1:{port}", "--account", "1", "--market-id", "2",
                 "--mark-mid", "1", "--token", "x"])
    assert code == 1
    assert "cannot reach http://127.0.0.1" in capsys.readouterr().err


def test_the_script_help_and_a_bad_flag():
    script = [sys.executable, str(REPO / "scripts" / "fetch_trades.py")]
    ok = subprocess.run([*script, "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "--mark-mid" in ok.stdout and "LIGHTER_API_BEARER" in ok.stdout
    bad = subprocess.run([*script, "--base-url", "http://127.0.0.1:1", "--account", "1", "--market-id", "2",
                          "--mark-mid", "1", "--limit", "lots"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid int value" in bad.stderr and "Traceback" not in bad.stderr
    zero = subprocess.run([*script, "--base-url", "http://127.0.0.1:1", "--account", "1", "--market-id", "2",
                           "--mark-mid", "1", "--limit", "0", "--token", "x"], capture_output=True, text=True,
                          timeout=60)
    assert zero.returncode == 1 and "--limit must be at least 1" in zero.stderr
