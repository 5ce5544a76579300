"""The fills ledger on its own: rotation under a burst, torn lines, an unwritable disk, rebuilds."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runtime.pnl import FifoPosition
from runtime.service.ledger import FillsLedger, Problem, ledger_files, read_records, rebuild


def fill(n: int, side: str = "buy", price: float = 100.0, size: float = 0.1, fee: float = 0.001) -> dict:
    return {"type": "fill", "ts": 1000.0 + n, "client_id": n, "side": side, "price": price, "size": size,
            "liquidity": "maker" if n % 3 else "taker", "fee": fee, "purpose": "quote", "trade_id": f"t-{n}",
            "seq": n, "decision": 7}


def burst(count: int) -> list[dict]:
    """Alternating buys and sells at moving prices: every fill realizes something."""
    return [fill(n, "buy" if n % 2 else "sell", 100.0 + (n % 17) * 0.01) for n in range(1, count + 1)]


def open_ledger(path: Path, **kw) -> FillsLedger:
    ledger = FillsLedger(path, market="SOL", market_id=2, **kw)
    ledger.bind(mid=lambda: 100.5, policy_version=lambda: "abc123")
    return ledger


def test_a_fill_record_carries_what_the_ledger_promises(tmp_path):
    ledger = open_ledger(tmp_path / "fills.jsonl")
    ledger.write({"type": "order", "ts": 1.0})           # not a ledger record
    ledger.write(fill(1))
    ledger.write({"type": "funding", "ts": 2.0, "amount": -0.25, "rate": 0.0001, "seq": 9})
    assert ledger.flush() and ledger.written_total == 2 and not ledger.pending
    first, second = [json.loads(line) for line in (tmp_path / "fills.jsonl").read_text().splitlines()]
    assert first == {"type": "fill", "v": 1, "market": "SOL", "market_id": 2, "ts": 1001.0, "side": "buy",
                     "price": 100.0, "size": 0.1, "fee": 0.001, "liquidity": "maker", "trade_id": "t-1",
                     "client_id": 1, "purpose": "quote", "seq": 1, "decision": 7, "mid": 100.5,
                     "policy_version": "abc123"}
    assert second["type"] == "funding" and second["amount"] == -0.25
    state = rebuild(tmp_path / "fills.jsonl", 2)
    assert state.fifo.units == pytest.approx(0.1)
    assert state.fifo.realized_total == pytest.approx(-0.001 - 0.25)   # the fee, then funding paid


def test_rotation_under_a_burst_loses_nothing_and_the_rebuild_matches_the_fills(tmp_path):
    path = tmp_path / "fills.jsonl"
    ledger = open_ledger(path, rotate_bytes=20_000, max_files=10_000)
    fills = burst(3000)
    for start in range(0, len(fills), 250):         # 250 fills a tick: a sweep
        for record in fills[start:start + 250]:
            ledger.write(record)
        assert ledger.flush()
    ledger.close()
    assert ledger.rotations_total > 20
    assert all(p.stat().st_size <= 20_000 for p in ledger_files(path))
    problems: list[Problem] = []
    records = [r for _, _, r in read_records(path, problems)]
    ids = [r["trade_id"] for r in records if r["type"] == "fill"]
    assert problems == []
    assert ids == [f"t-{n}" for n in range(1, 3001)]          # count in = count out, in order, once each
    assert sum(r["type"] == "checkpoint" for r in records) == ledger.rotations_total
    expected = FifoPosition()
    for r in fills:
        expected.apply(r["side"], r["price"], r["size"], r["fee"])
    state = rebuild(path, 2)
    assert state.fifo.realized_total == pytest.approx(expected.realized_total)
    assert state.fifo.units == pytest.approx(expected.units)


def test_old_files_past_the_window_go_and_checkpoints_keep_the_pnl(tmp_path):
    path = tmp_path / "fills.jsonl"
    clock = [10_000.0]
    ledger = open_ledger(path, rotate_bytes=5_000, window_s=3600.0, wall_clock=lambda: clock[0])
    fills = burst(400)
    for record in fills[:200]:
        ledger.write(record)
    ledger.flush()
    for file in ledger_files(path)[:-1]:            # written "two hours ago"
        os.utime(file, (clock[0] - 7200, clock[0] - 7200))
    for record in fills[200:]:
        ledger.write(record)
    ledger.flush()
    ledger.close()
    kept = [r for _, _, r in read_records(path)]
    kept_ids = {r["trade_id"] for r in kept if r["type"] == "fill"}
    assert "t-1" not in kept_ids and "t-400" in kept_ids       # the old files are gone ...
    expected = FifoPosition()
    for r in fills:
        expected.apply(r["side"], r["price"], r["size"], r["fee"])
    state = rebuild(path, 2)                                     # ... and the PnL they held is not
    assert state.fifo.realized_total == pytest.approx(expected.realized_total)


def test_a_torn_last_line_is_skipped_with_its_location_and_never_glued(tmp_path):
    path = tmp_path / "fills.jsonl"
    ledger = open_ledger(path)
    for record in burst(3):
        ledger.write(record)
    ledger.flush()
    ledger.close()
    with path.open("ab") as f:                     # a crash in the middle of the fourth record
        f.write(b'{"type":"fill","market_id":2,"side":"buy","pri')
    reopened = open_ledger(path)
    assert [str(p) for p in reopened.problems] == [
        f"{path}:4: torn last line (a write cut short by a crash), skipped"]
    assert reopened.state.fills == 3
    reopened.write(fill(4))
    reopened.flush()
    lines = path.read_text().splitlines()
    assert lines[3].endswith('"pri') and json.loads(lines[4])["trade_id"] == "t-4"
    problems: list[Problem] = []
    assert [r["trade_id"] for _, _, r in read_records(path, problems)] == ["t-1", "t-2", "t-3", "t-4"]
    assert [p.line for p in problems] == [4] and "torn" not in problems[0].reason   # a tear, now mid-file


def test_an_unwritable_ledger_holds_fills_in_memory_and_writes_them_when_it_can(tmp_path):
    """/dev/full answers every write with ENOSPC: a full disk, deterministically."""
    path = tmp_path / "fills.jsonl"
    path.symlink_to("/dev/full")
    ledger = open_ledger(path)
    for record in burst(5):
        ledger.write(record)
    assert not ledger.flush()
    assert "cannot be written: No space left on device" in ledger.failure
    assert len(ledger.pending) == 5 and ledger.written_total == 0
    ledger.write(fill(6))
    assert not ledger.flush() and len(ledger.pending) == 6
    path.unlink()                                   # space again
    assert ledger.flush()
    assert ledger.failure == "" and not ledger.pending
    assert [json.loads(line)["trade_id"] for line in path.read_text().splitlines()] == [f"t-{n}" for n in range(1, 7)]


def test_a_rebuild_follows_the_live_book_where_the_venue_corrected_it(tmp_path):
    """A position record (a venue correction) and the book state on each fill win over the replay."""
    path = tmp_path / "fills.jsonl"
    book = [0.1, 100.0, -0.001]
    ledger = open_ledger(path)
    ledger.bind(mid=lambda: 100.0, policy_version=lambda: "v", book=lambda: tuple(book))
    ledger.write(fill(1))
    book[:] = [0.3, 101.0, -0.001]                   # the venue said 0.3 at 101
    ledger.write({"type": "position_corrected", "ts": 5.0, "reason": "mismatch", "from_units": 0.1,
                  "to_units": 0.3, "venue_units": 0.3, "as_of_seq": 4})
    ledger.flush()
    state = rebuild(path, 2)
    assert state.fifo.units == pytest.approx(0.3) and state.fifo.avg_entry == pytest.approx(101.0)
    assert state.fifo.realized_total == pytest.approx(-0.001)


def test_only_this_markets_records_rebuild_its_position(tmp_path):
    path = tmp_path / "fills.jsonl"
    other = FillsLedger(path, market="ETH", market_id=0)
    other.write(fill(1, size=1.0))
    other.close()
    ours = open_ledger(path)
    assert ours.state.fills == 0 and ours.state.fifo.units == 0.0


def test_a_crash_right_after_a_rotation_still_opens_the_new_file_with_a_checkpoint(tmp_path):
    path = tmp_path / "fills.jsonl"
    ledger = open_ledger(path, rotate_bytes=3_000)
    fills = burst(40)
    for record in fills:
        ledger.write(record)
    ledger.close()
    # The crash: the live file renamed away (rotated files shifted first), the new one never created.
    for rotated in reversed(ledger_files(path)[:-1]):
        number = int(rotated.name.rsplit(".", 1)[1])
        rotated.replace(path.with_name(f"{path.name}.{number + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
    reopened = open_ledger(path)
    reopened.close()
    first = json.loads(path.read_text().splitlines()[0])
    assert first["type"] == "checkpoint"
    for rotated in ledger_files(path)[:-1]:
        rotated.unlink()              # the window passes: only the checkpoint remains
    expected = FifoPosition()
    for r in fills:
        expected.apply(r["side"], r["price"], r["size"], r["fee"])
    assert rebuild(path, 2).fifo.realized_total == pytest.approx(expected.realized_total)


def test_a_live_restart_does_not_inherit_a_paper_rehearsals_fills(tmp_path):
    """One ledger file, two venues on the same market: each rebuilds only its own position and PnL."""
    from runtime.service.ledger import FillsLedger, rebuild

    path = tmp_path / "fills.jsonl"
    paper = FillsLedger(path, market="SOL", market_id=2, venue="paper")
    paper.write({"type": "fill", "ts": 1.0, "client_id": 1, "side": "buy", "price": 185.0, "size": 0.061,
                 "liquidity": "maker", "fee": 0.0, "purpose": "quote", "trade_id": "p1", "seq": 1, "decision": 0})
    paper.flush()
    paper.close()
    assert rebuild(path, 2, venue="paper").fifo.units == pytest.approx(0.061)
    assert rebuild(path, 2, venue="lighter").fifo.units == 0.0
    live = FillsLedger(path, market="SOL", market_id=2, venue="lighter")
    assert live.state.fifo.units == 0.0 and "p1" not in live.state.trade_ids
    live.close()
