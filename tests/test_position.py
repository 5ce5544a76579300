"""The position book alone: fills booked once, snapshots compared as of what they include, funding as cash."""
from __future__ import annotations

import pytest

from runtime.events import Fill, Funding, PositionSnapshot
from runtime.position import PositionBook

LOT = 0.001


def fill(seq: int, side: str = "buy", size: float = 0.1, price: float = 100.0, trade_id: str | None = None) -> Fill:
    return Fill(float(seq), 1, side, price, size, "maker", trade_id=trade_id or f"t{seq}", seq=seq)


def test_a_stale_snapshot_is_compared_without_the_fills_after_it():
    book = PositionBook(LOT)
    book.orders_sent()
    book.fill(fill(1), 1.0)
    book.fill(fill(2), 2.0)
    book.snapshot(PositionSnapshot(2.5, 0.1, 100.0, None, as_of_seq=1), 3.0, 100.0)   # knew only fill 1
    assert book.units == pytest.approx(0.2) and book.mismatches_total == 0


def test_a_snapshot_ahead_of_our_fills_waits_for_them_then_gives_up_after_the_grace():
    book = PositionBook(LOT, grace_s=2.0)
    book.orders_sent()
    book.snapshot(PositionSnapshot(1.0, 0.1, 100.0, None, as_of_seq=1), 1.0, 100.0)
    assert book.units == 0.0 and book.mismatches_total == 0                # waiting for fill 1
    book.settle(2.5, 100.0)
    assert book.units == 0.0                                                # still within the grace
    book.settle(3.1, 100.0)
    assert book.units == pytest.approx(0.1) and book.mismatches_total == 1  # fill 1 never came: venue wins
    assert book.fifo.realized_total == 0.0
    outcome, realized = book.fill(fill(1), 4.0)                             # it comes after all
    assert (outcome, realized) == ("covered", 0.0) and book.units == pytest.approx(0.1)


def test_a_trade_id_is_booked_once_and_funding_once_per_seq():
    book = PositionBook(LOT)
    assert book.fill(fill(1, trade_id="a"), 1.0)[0] == "booked"
    assert book.fill(fill(1, trade_id="a"), 2.0)[0] == "duplicate"
    assert book.units == pytest.approx(0.1) and book.duplicates_total == 1
    assert book.funding(Funding(3.0, -0.02, 0.0001, seq=2))
    assert not book.funding(Funding(3.0, -0.02, 0.0001, seq=2))
    assert book.fifo.realized_total == pytest.approx(-0.02)


def test_a_position_inherited_from_an_earlier_run_is_seeded_not_a_mismatch():
    book = PositionBook(LOT)
    book.snapshot(PositionSnapshot(0.0, -0.2, 101.0, 5.0, as_of_seq=40), 0.0, 100.0)
    assert book.units == pytest.approx(-0.2) and book.fifo.avg_entry == pytest.approx(101.0)
    assert [c.reason for c in book.corrections] == ["seeded"] and book.mismatches_total == 0
