"""What the maker sends under each quoting effect: the orders the Trader hands the venue, not the
merged number (tests/test_hedger.py does the same for the hedge effects)."""
from __future__ import annotations

import pytest

from runtime.intents import PlaceOrder
from test_trader import UP, book, make, write_policy

BPS = 1e-4
MID = 185.0


def sent_under(tmp_path, then: str) -> tuple[dict[str, PlaceOrder], list[dict]]:
    folder = write_policy(tmp_path / "p", f"""
policy: p
rules:
  - name: r
    when: mid > 0
    then: {then}
""")
    trader, sink, feed = make(folder)
    intents = feed.tick(0.0, UP, book(0.0, MID))
    quotes = {i.side: i for i in intents if isinstance(i, PlaceOrder) and i.purpose == "quote"}
    return quotes, sink.records


def distance_bps(order: PlaceOrder) -> float:
    return abs(order.price - MID) / MID / BPS


@pytest.mark.parametrize("then, bid_bps, ask_bps", [
    ("{}", 6, 6),                                    # half of the 12 bps baseline each side
    ("{spread_add_bps: 6}", 9, 9),                   # addend, split over both sides
    ("{spread_add_bps: 500}", 16, 16),               # clamped to max_spread_add_bps (20)
    ("{spread_add_bps: -500}", 3.5, 3.5),            # clamped to -max_spread_cut_bps (5)
    ("{bid_spread_add_bps: 4}", 10, 6),              # one side only
    ("{ask_spread_add_bps: -500}", 6, 2),            # clamped, and never nearer than min_spread_bps / 2
])
def test_spread_effects_move_the_prices_sent(tmp_path, then, bid_bps, ask_bps):
    quotes, _ = sent_under(tmp_path, then)
    assert distance_bps(quotes["buy"]) == pytest.approx(bid_bps, abs=0.06)    # one 0.001 tick is 0.054 bps
    assert distance_bps(quotes["sell"]) == pytest.approx(ask_bps, abs=0.06)


@pytest.mark.parametrize("then, size", [
    ("{size_mult: 0.9}", 0.063),        # 0.064 x 1.1 (calm) x 0.9
    ("{size_mult: 0.1}", 0.061),        # clamped to size_min_units
    ("{size_mult: 5}", 0.072),          # clamped to size_max_units
    ("{size_cap_units: 0.062}", 0.062),
])
def test_size_effects_set_the_sizes_sent(tmp_path, then, size):
    quotes, _ = sent_under(tmp_path, then)
    assert quotes["buy"].size == quotes["sell"].size == size


def test_a_size_cap_under_the_venue_minimum_sends_no_quote_and_the_trace_says_why(tmp_path):
    quotes, records = sent_under(tmp_path, "{size_cap_units: 0.05}")
    assert quotes == {}
    [blocked] = [r for r in records if r["type"] == "quote_blocked"]
    assert blocked["bid"] == blocked["ask"] == "size_cap"


def test_pause_sends_only_the_other_side(tmp_path):
    quotes, records = sent_under(tmp_path, "{pause: bid}")
    assert set(quotes) == {"sell"}
    assert [r["bid"] for r in records if r["type"] == "quote_blocked"] == ["pause"]


def test_bid_cooldown_holds_the_bid_back_after_a_bid_fill(tmp_path):
    from runtime.events import Fill

    folder = write_policy(tmp_path / "p", """
policy: p
rules:
  - name: r
    when: mid > 0
    then: {bid_cooldown_s: 30}
""")
    trader, sink, feed = make(folder)
    first = {i.side: i for i in feed.tick(0.0, UP, book(0.0, MID)) if isinstance(i, PlaceOrder)}
    bid = first["buy"]
    fill = Fill(1.0, bid.client_id, "buy", bid.price, bid.size, "maker", trade_id="t1", seq=1)
    sent = feed.tick(2.0, fill, book(2.0, MID))
    assert not [i for i in sent if isinstance(i, PlaceOrder) and i.side == "buy"]
    for now in (10.0, 20.0, 30.5):
        assert not [i for i in feed.tick(now, book(now, MID)) if isinstance(i, PlaceOrder) and i.side == "buy"]
    assert [i for i in feed.tick(31.5, book(31.5, MID)) if isinstance(i, PlaceOrder) and i.side == "buy"]


@pytest.mark.parametrize("then, state", [("{reduce_only: true}", "REDUCING"), ("{halt: true}", "HALTED")])
def test_reduce_only_and_halt_send_no_quote_that_could_grow_a_flat_position(tmp_path, then, state):
    quotes, records = sent_under(tmp_path, then)
    assert quotes == {}
    assert [r["state"] for r in records if r["type"] == "trading_state"][-1].upper() == state
