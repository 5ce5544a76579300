"""FIFO position: what a trader reads off the PnL line must add up."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.pnl import DUST_UNITS, FifoPosition

TOLERANCE_QUOTE = 1e-6

fills = st.lists(
    st.tuples(
        st.sampled_from(["buy", "sell"]),
        st.floats(min_value=1.0, max_value=1000.0),     # price
        st.floats(min_value=0.001, max_value=5.0),      # size
        st.floats(min_value=-0.01, max_value=0.05),     # fee (negative = rebate)
    ),
    max_size=40,
)


@given(fills, st.floats(min_value=1.0, max_value=1000.0))
def test_total_pnl_is_conserved(sequence, mark):
    """Realized + unrealized is exactly the cash we moved plus what we hold, marked."""
    position = FifoPosition()
    cash_quote = 0.0
    for side, price, size, fee in sequence:
        position.apply(side, price, size, fee)
        cash_quote += (-price * size if side == "buy" else price * size) - fee
    expected = cash_quote + position.units * mark
    assert position.realized_total + position.unrealized(mark) == pytest.approx(expected, abs=TOLERANCE_QUOTE)


@given(fills)
def test_units_are_the_signed_sum_of_fills(sequence):
    position = FifoPosition()
    signed = 0.0
    for side, price, size, fee in sequence:
        position.apply(side, price, size, fee)
        signed += size if side == "buy" else -size
    assert position.units == pytest.approx(signed, abs=1e-9)


@given(fills)
def test_realized_total_is_the_sum_of_returned_pnl(sequence):
    position = FifoPosition()
    returned = sum(position.apply(*fill) for fill in sequence)
    assert position.realized_total == pytest.approx(returned, abs=TOLERANCE_QUOTE)


@given(st.floats(min_value=1.0, max_value=1000.0), st.floats(min_value=1.0, max_value=1000.0),
       st.floats(min_value=0.001, max_value=5.0))
def test_round_trip_realizes_price_difference(buy_px, sell_px, size):
    position = FifoPosition()
    assert position.apply("buy", buy_px, size) == 0.0
    assert position.apply("sell", sell_px, size) == pytest.approx((sell_px - buy_px) * size)
    assert position.units == 0.0
    assert position.avg_entry == 0.0
    assert position.unrealized(123.0) == 0.0


def test_short_round_trip_profits_when_price_falls():
    position = FifoPosition()
    position.apply("sell", 110.0, 2.0)
    assert position.apply("buy", 100.0, 2.0) == pytest.approx(20.0)


def test_fee_is_deducted_from_realized():
    position = FifoPosition()
    assert position.apply("buy", 100.0, 1.0, fee=0.05) == pytest.approx(-0.05)
    assert position.apply("sell", 101.0, 1.0, fee=0.05) == pytest.approx(0.95)
    assert position.realized_total == pytest.approx(0.9)


def test_oldest_lot_closes_first():
    position = FifoPosition()
    position.apply("buy", 100.0, 1.0)
    position.apply("buy", 110.0, 1.0)
    assert position.avg_entry == pytest.approx(105.0)
    # FIFO: the sell closes the 100 lot, not the 110 one (average cost would say +5).
    assert position.apply("sell", 120.0, 1.0) == pytest.approx(20.0)
    assert position.avg_entry == pytest.approx(110.0)
    assert position.unrealized(120.0) == pytest.approx(10.0)


def test_partial_close_keeps_the_rest_at_its_price():
    position = FifoPosition()
    position.apply("buy", 100.0, 3.0)
    assert position.apply("sell", 102.0, 1.0) == pytest.approx(2.0)
    assert position.units == pytest.approx(2.0)
    assert position.avg_entry == pytest.approx(100.0)
    assert position.lot_count == 1


def test_close_across_several_lots():
    position = FifoPosition()
    position.apply("sell", 100.0, 1.0)
    position.apply("sell", 104.0, 1.0)
    position.apply("sell", 108.0, 1.0)
    # Closes 1 @100 (-2), 1 @104 (+2) and half of the 108 lot (+3).
    assert position.apply("buy", 102.0, 2.5) == pytest.approx(3.0)
    assert position.units == pytest.approx(-0.5)
    assert position.avg_entry == pytest.approx(108.0)


def test_flip_long_to_short_in_one_fill():
    position = FifoPosition()
    position.apply("buy", 100.0, 1.0)
    assert position.apply("sell", 105.0, 3.0) == pytest.approx(5.0)
    assert position.units == pytest.approx(-2.0)
    assert position.avg_entry == pytest.approx(105.0)    # the new short opened at the flip price
    assert position.unrealized(100.0) == pytest.approx(10.0)


def test_flip_short_to_long_in_one_fill():
    position = FifoPosition()
    position.apply("sell", 100.0, 0.5)
    assert position.apply("buy", 90.0, 1.5) == pytest.approx(5.0)
    assert position.units == pytest.approx(1.0)
    assert position.avg_entry == pytest.approx(90.0)


def test_float_dust_does_not_leave_a_ghost_lot():
    position = FifoPosition()
    position.apply("buy", 100.0, 0.3)
    position.apply("sell", 101.0, 0.1)
    position.apply("sell", 101.0, 0.2)     # 0.3 - 0.1 - 0.2 is ~3e-17 in floats
    assert position.lot_count == 0
    assert position.units == 0.0
    assert position.avg_entry == 0.0


def test_dust_threshold_is_tiny():
    assert DUST_UNITS <= 1e-12
    position = FifoPosition()
    position.apply("buy", 100.0, 1e-6)
    assert position.units == pytest.approx(1e-6)   # real (small) sizes are kept
