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


# -- the ordered shortcut: fills in seq order are summed from the end, as a full scan would --------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_book_steps = st.lists(st.one_of(
    st.tuples(st.just("fill"), st.integers(1, 40), st.sampled_from(["buy", "sell"]), st.sampled_from([0.1, 0.2, 0.35])),
    st.tuples(st.just("snapshot"), st.integers(0, 45), st.sampled_from([-0.3, 0.0, 0.1, 0.2, 0.5]), st.just(0.0)),
    st.tuples(st.just("settle"), st.just(0), st.just(""), st.just(0.0))), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_book_steps, st.booleans())
def test_a_book_summing_the_newest_fills_compares_snapshots_as_one_that_scans_them_all(steps, in_order):
    """While fills arrive in seq order, `_compare` reads the fills after a snapshot from the end of
    what it remembers instead of scanning all of it. Fills in order (and, drawn as they come, out of
    order, which must turn the shortcut off) must give the corrections, positions and counts of a
    book that always scans."""
    import dataclasses

    if in_order:
        fills = sorted(s[1] for s in steps if s[0] == "fill")
        it = iter(fills)
        steps = [(k, next(it), side, size) if k == "fill" else (k, a, side, size) for k, a, side, size in steps]
    books = [PositionBook(LOT, grace_s=2.0), PositionBook(LOT, grace_s=2.0)]
    for book in books:
        book.orders_sent()
    now = 0.0
    for n, (kind, seq, arg, size) in enumerate(steps):
        now += 1.0
        for book in books:
            if kind == "fill":
                book.fill(Fill(now, 1, arg, 100.0, size, "maker", trade_id=f"t{n}", seq=seq), now)
            elif kind == "snapshot":
                book.snapshot(PositionSnapshot(now, arg, 100.0, None, as_of_seq=seq), now, 100.0)
            else:
                book.settle(now, 100.0)
        books[1]._recent_ordered = False
        a, b = books
        assert (a.units, a.mismatches_total, a.covered_total, a.stale_snapshots_total, a.last_seq) == \
            (b.units, b.mismatches_total, b.covered_total, b.stale_snapshots_total, b.last_seq)
        assert [dataclasses.astuple(c) for c in a.corrections] == [dataclasses.astuple(c) for c in b.corrections]
