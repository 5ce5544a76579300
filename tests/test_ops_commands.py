"""The seed's commands as it writes them: `python scripts/metrics_tool.py ...`, `python scripts/dump_metrics.py`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.service.ledger import FillsLedger, read_records

REPO = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000.0


def tool(cwd: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def fill(n: int, ts: float, side: str, price: float, liquidity: str = "maker", size: float = 1.0) -> dict:
    return {"type": "fill", "ts": ts, "client_id": n, "side": side, "price": price, "size": size,
            "liquidity": liquidity, "fee": 0.01, "purpose": "quote", "trade_id": f"t-{n}", "seq": n, "decision": 1}


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    """A ledger: a lot bought 7 h ago at 100, sold in the window at 101; a round trip in the last 5 min."""
    ledger = FillsLedger(tmp_path / "data" / "metrics" / "fills.jsonl", market="SOL", market_id=2)
    ledger.bind(mid=lambda: 100.0, policy_version=lambda: "v1")
    for record in (fill(1, NOW - 7 * 3600, "buy", 100.0), fill(2, NOW - 3 * 3600, "sell", 101.0, "taker"),
                   fill(3, NOW - 200, "buy", 102.0), fill(4, NOW - 100, "sell", 102.5)):
        ledger.write(record)
    ledger.write({"type": "funding", "ts": NOW - 50, "amount": 0.2, "rate": 0.0001, "seq": 5})
    ledger.close()
    return tmp_path


def test_window_6h_counts_fills_volume_split_and_fifo_pnl(ledger_dir):
    result = tool(ledger_dir, "metrics_tool.py", "--json", "window", "--hours", "6", "--now", str(NOW))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["fills"], summary["buys"], summary["sells"], summary["maker"], summary["taker"]) == (3, 1, 2, 2, 1)
    # The sale 3 h ago closes the lot bought before the window: +1.0, and the round trip +0.5, less 3 fees.
    assert summary["realized_pnl"] == pytest.approx(1.0 + 0.5 - 0.03 + 0.2)
    assert summary["fees"] == pytest.approx(0.03) and summary["funding"] == pytest.approx(0.2)
    assert summary["volume_quote"] == pytest.approx(101.0 + 102.0 + 102.5)
    assert summary["inventory_change_units"] == pytest.approx(-1.0)


def test_window_300s_with_slices_and_a_table_by_default(ledger_dir):
    result = tool(ledger_dir, "metrics_tool.py", "--json", "window", "--seconds", "300", "--now", str(NOW),
                  "--slice-seconds", "150")
    summary = json.loads(result.stdout)
    assert summary["fills"] == 2 and [s["fills"] for s in summary["slices"]] == [1, 1]
    table = tool(ledger_dir, "metrics_tool.py", "window", "--seconds", "300", "--now", str(NOW))
    assert table.returncode == 0 and "whole window" in table.stdout and "+0.680000" in table.stdout


def test_dump_lists_every_record(ledger_dir):
    result = tool(ledger_dir, "metrics_tool.py", "--json", "dump")
    assert [r["type"] for r in json.loads(result.stdout)] == ["fill"] * 4 + ["funding"]
    table = tool(ledger_dir, "metrics_tool.py", "dump")
    assert table.returncode == 0 and "5 records" in table.stdout and "funding" in table.stdout


def test_dump_of_a_missing_or_corrupt_ledger_is_a_located_error(tmp_path, ledger_dir):
    missing = tool(tmp_path / "data", "metrics_tool.py", "dump")
    assert missing.returncode == 1 and "no fills ledger here" in missing.stderr and "Traceback" not in missing.stderr
    path = ledger_dir / "data" / "metrics" / "fills.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["{not json"] + lines[2:]) + "\n")
    corrupt = tool(ledger_dir, "metrics_tool.py", "dump")
    assert corrupt.returncode == 1
    assert f"{Path('data/metrics/fills.jsonl')}:3:" in corrupt.stderr and "Traceback" not in corrupt.stderr


def test_a_bad_flag_is_a_usage_error(ledger_dir):
    result = tool(ledger_dir, "metrics_tool.py", "window", "--hours", "-6")
    assert result.returncode == 2 and "expected a positive number" in result.stderr


def test_reset_refuses_without_confirm_then_moves_the_ledger_aside(ledger_dir):
    path = ledger_dir / "data" / "metrics" / "fills.jsonl"
    refused = tool(ledger_dir, "metrics_tool.py", "reset")
    assert refused.returncode == 2 and "--confirm" in refused.stderr and path.exists()
    done = tool(ledger_dir, "metrics_tool.py", "--json", "reset", "--confirm")
    assert done.returncode == 0, done.stderr
    moved = Path(ledger_dir / json.loads(done.stdout)["moved_to"])
    assert not path.exists() and (moved / "fills.jsonl").read_text().count("\n") == 5   # kept, not deleted


def test_import_json_reports_bad_records_by_location_and_never_duplicates(ledger_dir):
    backfill = ledger_dir / "data" / "metrics" / "backfill.json"
    backfill.write_text(json.dumps([
        {"ts": NOW - 10, "side": "buy", "price": 103.0, "size": 1.0, "trade_id": "t-4"},        # already held
        {"ts": NOW - 9, "side": "buy", "price": 103.0, "size": 1.0, "trade_id": "x-1"},
        {"ts": NOW - 8, "side": "hold", "price": 103.0, "size": 1.0, "trade_id": "x-2"},       # bad side
        {"ts": NOW - 7, "side": "sell", "price": -1, "size": 1.0, "trade_id": "x-3"},          # bad price
        {"ts": NOW - 6, "side": "sell", "price": 104.0, "size": 1.0, "trade_id": "x-4", "fee": 0.02},
    ]))
    result = tool(ledger_dir, "metrics_tool.py", "--json", "import-json", "--input", "data/metrics/backfill.json")
    assert result.returncode == 1                   # some records were bad: say so in the exit code
    assert json.loads(result.stdout) == {"imported": 2, "duplicates_skipped": 1, "bad": 2,
                                         "ledger": "data/metrics/fills.jsonl"}
    assert "backfill.json: record 3: side: expected buy or sell, got 'hold'" in result.stderr
    assert "backfill.json: record 4: price: expected a number > 0, got -1" in result.stderr
    again = tool(ledger_dir, "metrics_tool.py", "--json", "import-json", "--input", "data/metrics/backfill.json")
    assert json.loads(again.stdout)["imported"] == 0 and json.loads(again.stdout)["duplicates_skipped"] == 3
    ids = [r["trade_id"] for _, _, r in read_records(ledger_dir / "data" / "metrics" / "fills.jsonl")
           if r["type"] == "fill"]
    assert ids == ["t-1", "t-2", "t-3", "t-4", "x-1", "x-4"]


def test_import_of_a_missing_file_is_an_error(ledger_dir):
    result = tool(ledger_dir, "metrics_tool.py", "import-json", "--input", "nope.json")
    assert result.returncode == 1 and "nope.json: no such file" in result.stderr


def test_dump_metrics_of_an_unreachable_bot_is_an_error(tmp_path):
    result = tool(tmp_path, "dump_metrics.py", "--filter", "portfolio_", "--url", "http://127.0.0.1:9/metrics")
    assert result.returncode == 1 and "cannot reach the bot at http://127.0.0.1:9/metrics" in result.stderr
    assert "Traceback" not in result.stderr
