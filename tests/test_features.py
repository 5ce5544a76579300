"""The feature store, checked as a trader would see it: event in, number out."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.catalog import CATALOG, FEATURE_NAMES, NEVER_AGE_S, describe_catalog
from lighter_bot import BotConfig as Config
from runtime.events import (
    BookTop,
    Fill,
    MarketTrade,
    OrderOpen,
    OrderCanceled,
    OrderRejected,
    PositionSnapshot,
)
from runtime.features import RETURN_SAMPLE_MIN_S, SIGMA_WINDOW_S, FeatureStore

HALF_SPREAD = 0.01

SPEC_ORDER = (
    "mid", "best_bid", "best_ask", "market_spread_bps", "book_age_s", "vol_bps", "sigma_1m_bps",
    "trend_bps", "inventory_units", "inventory_frac", "inventory_notional", "unrealized_pnl",
    "realized_pnl_total", "realized_pnl_5m", "realized_pnl_30m", "neg_pnl_slices", "fill_count",
    "last_fill_age_s", "hit_fast_frac", "markout_bps", "guard_block_s", "unhedged_exposure_s",
    "uptime_s", "trading_state", "open_orders", "venue_budget_frac", "size_min_units", "size_max_units",
    "max_position_units", "max_inventory_notional", "soft_cap_units", "hedge_trigger_units",
    "hedge_target_units", "hedge_standdown_s", "hedge_retrace_bps",
)


def make_store(**sections) -> FeatureStore:
    return FeatureStore(Config.model_validate(sections))


def book(store: FeatureStore, ts: float, mid: float) -> None:
    store.apply(BookTop(ts, mid - HALF_SPREAD, 1.0, mid + HALF_SPREAD, 1.0))


def fill(store: FeatureStore, ts: float, side: str, price: float, size: float,
         client_id: int = 0, liquidity: str = "maker", fee: float = 0.0) -> None:
    store.apply(Fill(ts, client_id, side, price, size, liquidity, fee))


def var_rate(store: FeatureStore) -> float:
    """vol_bps back to the EWMA variance rate (log-return^2 per second)."""
    return (store.values["vol_bps"] / 1e4) ** 2 / 60.0


# -- catalog -------------------------------------------------------------------------------

def test_catalog_is_the_specified_list_in_order():
    assert tuple(f.name for f in CATALOG) == SPEC_ORDER
    assert FEATURE_NAMES.keys() == frozenset(SPEC_ORDER)
    assert all(f.unit and f.meaning and "\n" not in f.meaning for f in CATALOG)


def test_every_feature_is_present_at_construction():
    store = make_store()
    assert set(store.values) == FEATURE_NAMES.keys()
    assert not store.ready
    assert store.values["last_fill_age_s"] == NEVER_AGE_S
    assert store.values["hedge_trigger_units"] == Config().hedger.trigger_units
    assert (store.values["hedge_standdown_s"], store.values["hedge_retrace_bps"]) == \
        (Config().hedger.standdown_s, Config().hedger.retrace_bps)
    assert store.values["max_inventory_notional"] == Config().risk.max_inventory_notional


def test_values_is_one_dict_for_the_store_lifetime():
    store = make_store()
    values = store.values
    book(store, 1.0, 100.0)
    fill(store, 1.5, "buy", 100.0, 0.1)
    store.advance(400.0)
    assert store.values is values
    assert set(values) == FEATURE_NAMES.keys()


def test_describe_catalog_lists_every_feature():
    table = describe_catalog()
    assert table.splitlines()[0].split() == ["name", "unit", "meaning"]
    for feature in CATALOG:
        assert feature.name in table


def test_unknown_event_type_is_an_error():
    with pytest.raises(TypeError):
        make_store().apply("not an event")


# -- book ------------------------------------------------------------------------------------

def test_book_top_sets_mid_spread_and_age():
    store = make_store()
    store.apply(BookTop(10.0, 99.99, 1.0, 100.01, 2.0))
    values = store.values
    assert store.ready
    assert values["mid"] == pytest.approx(100.0)
    assert (values["best_bid"], values["best_ask"]) == (99.99, 100.01)
    assert values["market_spread_bps"] == pytest.approx(2.0)
    store.advance(13.5)
    assert values["book_age_s"] == pytest.approx(3.5)


def test_vol_rises_on_a_jump_and_halves_its_variance_after_one_halflife():
    halflife_s = 30.0
    store = make_store(maker={"volatility": {"halflife_s": halflife_s}})
    for second in range(10):
        book(store, float(second), 100.0)
    assert store.values["vol_bps"] == 0.0
    book(store, 10.0, 101.0)
    jumped = var_rate(store)
    assert store.values["vol_bps"] > 10.0
    for second in range(11, 11 + int(halflife_s)):   # one halflife of calm one-second samples
        book(store, float(second), 101.0)
    assert var_rate(store) == pytest.approx(jumped / 2.0, rel=1e-9)
    assert store.values["vol_bps"] == pytest.approx(math.sqrt(60.0 * jumped / 2.0) * 1e4, rel=1e-9)


def test_vol_ignores_updates_closer_than_the_sampling_interval():
    store = make_store()
    book(store, 0.0, 100.0)
    # The touch flickers every millisecond, then stays put: only the return over
    # >= RETURN_SAMPLE_MIN_S is sampled, and it is zero.
    for step in range(1, 200):
        book(store, step * 0.001, 100.0 + (0.05 if step % 2 else 0.0))
    book(store, 0.2 + RETURN_SAMPLE_MIN_S, 100.0)
    assert store.values["vol_bps"] == 0.0
    book(store, 0.2 + RETURN_SAMPLE_MIN_S, 100.5)       # dt == 0: the mid moves, vol waits
    assert store.values["mid"] == pytest.approx(100.5)
    assert store.values["vol_bps"] == 0.0


def test_sigma_1m_forgets_moves_older_than_60_s():
    store = make_store()
    book(store, 0.0, 100.0)
    book(store, 10.2, 101.0)                            # one 1% return, in second 10
    expected = abs(math.log(101.0 / 100.0)) * 1e4
    assert store.values["sigma_1m_bps"] == pytest.approx(expected)
    store.advance(10.0 + SIGMA_WINDOW_S - 0.5)          # second 69: second 10 is still in the window
    assert store.values["sigma_1m_bps"] == pytest.approx(expected)
    store.advance(10.0 + SIGMA_WINDOW_S)                # second 70: it left
    assert store.values["sigma_1m_bps"] == 0.0


def _brute_sigma_bps(books: list[tuple[float, float]], current_sec: int) -> float:
    """Straight from the definition: sampled returns in the last 60 one-second buckets."""
    squares = []
    anchor_ts, anchor_mid = books[0] if books else (0.0, 0.0)
    for ts, mid in books[1:]:
        if ts - anchor_ts >= RETURN_SAMPLE_MIN_S:
            squares.append((math.floor(ts), math.log(mid / anchor_mid) ** 2))
            anchor_ts, anchor_mid = ts, mid
    return math.sqrt(math.fsum(sq for sec, sq in squares if sec > current_sec - SIGMA_WINDOW_S)) * 1e4


steps = st.lists(
    st.tuples(
        st.sampled_from(["book", "book", "book", "advance"]),
        st.one_of(st.floats(0.0, 0.3), st.floats(0.0, 5.0), st.floats(0.0, 70.0)),    # time step, s
        st.one_of(st.floats(-0.05, 0.05), st.floats(-1e-6, 1e-6)),                     # log return
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_sigma_ring_agrees_with_brute_force(sequence):
    store = make_store()
    now, mid = 1000.0, 100.0
    books: list[tuple[float, float]] = []
    for action, dt, log_ret in sequence:
        now += dt
        if action == "book":
            mid *= math.exp(log_ret)
            book(store, now, mid)
            books.append((now, mid))
        else:
            store.advance(now)
        expected = _brute_sigma_bps(books, math.floor(now))
        assert store.values["sigma_1m_bps"] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_trend_over_the_lookback():
    store = make_store(maker={"trend": {"lookback_s": 45.0}})
    for second in range(0, 11):
        book(store, float(second), 100.0 + second)
    # Less than a lookback of history: measured from the oldest sample.
    assert store.values["trend_bps"] == pytest.approx((110.0 / 100.0 - 1.0) * 1e4)
    for second in range(11, 101):
        book(store, float(second), 100.0 + second)
    # At t=100 the mid standing 45 s ago (t=55) was 155.
    assert store.values["trend_bps"] == pytest.approx((200.0 / 155.0 - 1.0) * 1e4)


def test_trend_fades_on_the_clock_when_the_book_goes_quiet():
    store = make_store(maker={"trend": {"lookback_s": 45.0}})
    for second in range(0, 10):
        book(store, float(second), 100.0)
    book(store, 10.0, 101.0)
    store.advance(20.0)
    assert store.values["trend_bps"] == pytest.approx(100.0)
    store.advance(55.0)                                   # t-45 = 10: the 101 mid is the reference now
    assert store.values["trend_bps"] == pytest.approx(0.0)


# -- fills, inventory, PnL --------------------------------------------------------------------

def test_inventory_and_unrealized_follow_fills_and_the_mid():
    store = make_store(inventory={"soft_cap_units": 0.2})
    book(store, 0.0, 100.0)
    fill(store, 1.0, "buy", 100.0, 0.1)
    values = store.values
    assert values["inventory_units"] == pytest.approx(0.1)
    assert values["inventory_frac"] == pytest.approx(0.5)
    assert values["inventory_notional"] == pytest.approx(10.0)
    book(store, 2.0, 102.0)
    assert values["unrealized_pnl"] == pytest.approx(0.2)
    assert values["inventory_notional"] == pytest.approx(10.2)
    fill(store, 3.0, "sell", 102.0, 0.3)
    assert values["inventory_units"] == pytest.approx(-0.2)
    assert values["inventory_frac"] == pytest.approx(-1.0)
    assert values["fill_count"] == 2.0


def test_realized_pnl_windows_hold_a_round_trip_then_drop_it():
    store = make_store(features={"pnl_slice_s": 300.0, "edge_window_s": 1800.0})
    store.advance(0.0)
    book(store, 0.0, 100.0)
    fill(store, 10.0, "buy", 100.0, 0.1)
    fill(store, 20.0, "sell", 101.0, 0.1, fee=0.01)
    values = store.values
    assert values["realized_pnl_5m"] == pytest.approx(0.09)
    assert values["realized_pnl_30m"] == pytest.approx(0.09)
    assert values["realized_pnl_total"] == pytest.approx(0.09)
    store.advance(319.0)
    assert values["realized_pnl_5m"] > 0.0
    store.advance(320.0)
    assert values["realized_pnl_5m"] == 0.0
    assert values["realized_pnl_30m"] == pytest.approx(0.09)
    store.advance(1820.0)
    assert values["realized_pnl_30m"] == 0.0
    assert values["realized_pnl_total"] == pytest.approx(0.09)


def test_windows_return_exactly_to_zero():
    """No -3e-17 residue that a `realized_pnl_5m < 0` rule would read as a loss."""
    store = make_store()
    store.advance(0.0)
    for step, (buy_px, sell_px) in enumerate([(100.0, 100.1), (100.2, 100.0), (100.3, 100.4)]):
        fill(store, step * 2.0, "buy", buy_px, 0.3)
        fill(store, step * 2.0 + 1.0, "sell", sell_px, 0.3)
    store.advance(1000.0)
    assert store.values["realized_pnl_5m"] == 0.0


def _losing_trip(store: FeatureStore, ts: float) -> None:
    fill(store, ts, "buy", 100.0, 0.1)
    fill(store, ts + 1.0, "sell", 99.0, 0.1)


def test_neg_pnl_slices_counts_losing_slices_and_resets_on_a_winner():
    store = make_store(features={"pnl_slice_s": 300.0})
    store.advance(0.0)
    _losing_trip(store, 10.0)
    store.advance(299.0)
    assert store.values["neg_pnl_slices"] == 0.0          # the slice is not complete yet
    store.advance(300.0)
    assert store.values["neg_pnl_slices"] == 1.0
    _losing_trip(store, 310.0)
    store.advance(600.0)
    assert store.values["neg_pnl_slices"] == 2.0
    fill(store, 610.0, "buy", 100.0, 0.1)
    fill(store, 611.0, "sell", 100.5, 0.1)
    store.advance(900.0)
    assert store.values["neg_pnl_slices"] == 0.0


def test_a_slice_without_fills_resets_neg_pnl_slices():
    store = make_store(features={"pnl_slice_s": 300.0})
    store.advance(0.0)
    _losing_trip(store, 10.0)
    store.advance(300.0)
    assert store.values["neg_pnl_slices"] == 1.0
    store.advance(600.0)
    assert store.values["neg_pnl_slices"] == 0.0
    _losing_trip(store, 610.0)
    store.advance(5000.0)                                  # many quiet slices at once
    assert store.values["neg_pnl_slices"] == 0.0
    _losing_trip(store, 5010.0)
    store.advance(5100.0)                                  # slices stay aligned to the first tick
    assert store.values["neg_pnl_slices"] == 1.0


def test_fill_age_and_uptime():
    store = make_store()
    store.advance(100.0)
    assert store.values["last_fill_age_s"] == NEVER_AGE_S
    fill(store, 101.0, "buy", 100.0, 0.1)
    store.advance(104.0)
    assert store.values["last_fill_age_s"] == pytest.approx(3.0)
    assert store.values["uptime_s"] == pytest.approx(4.0)


def test_hit_fast_frac_over_the_last_maker_fills():
    store = make_store(features={"hit_fast_ms": 1000.0, "hit_window_fills": 3})
    values = store.values
    store.apply(OrderOpen(0.0, 1, "buy", 100.0, 0.1))
    fill(store, 0.4, "buy", 100.0, 0.1, client_id=1)                 # hit right after posting
    assert values["hit_fast_frac"] == 1.0
    store.apply(OrderOpen(1.0, 2, "sell", 101.0, 0.1))
    fill(store, 9.0, "sell", 101.0, 0.1, client_id=2)                # rested 8 s
    assert values["hit_fast_frac"] == pytest.approx(0.5)
    store.apply(OrderOpen(10.0, 3, "buy", 100.0, 0.1))
    fill(store, 10.1, "buy", 100.0, 0.1, client_id=3, liquidity="taker")   # not a maker fill
    assert values["hit_fast_frac"] == pytest.approx(0.5)
    for client_id in (4, 5):
        store.apply(OrderOpen(20.0, client_id, "buy", 100.0, 0.1))
        fill(store, 25.0, "buy", 100.0, 0.1, client_id=client_id)
    # Window of 3 maker fills: slow, slow, slow (the fast one fell out).
    assert values["hit_fast_frac"] == 0.0


def test_order_tracking_forgets_finished_orders():
    store = make_store()
    store.apply(OrderOpen(0.0, 1, "buy", 100.0, 0.2))
    store.apply(OrderOpen(0.0, 2, "buy", 100.0, 0.2))
    store.apply(OrderOpen(0.0, 3, "buy", 100.0, 0.2))
    fill(store, 1.0, "buy", 100.0, 0.1, client_id=1)
    assert 1 in store._orders                                         # partly filled: still resting
    fill(store, 2.0, "buy", 100.0, 0.1, client_id=1)
    store.apply(OrderCanceled(2.0, 2, "requested"))
    store.apply(OrderRejected(2.0, 3, 21706, "too small"))
    assert store._orders == {}


def test_markout_uses_the_mid_standing_at_the_horizon():
    store = make_store(features={"markout_horizon_s": 5.0})
    book(store, 0.0, 100.0)
    fill(store, 0.0, "buy", 100.0, 0.1)
    book(store, 3.0, 100.5)
    book(store, 6.0, 101.0)           # the horizon (t=5) passed while 100.5 was standing
    assert store.values["markout_bps"] == pytest.approx(50.0)
    fill(store, 7.0, "sell", 101.0, 0.1)
    book(store, 8.0, 101.202)         # the market went up after we sold: adverse
    store.advance(12.0)
    sell_markout = (101.0 / 101.202 - 1.0) * 1e4
    assert store.values["markout_bps"] == pytest.approx((50.0 + sell_markout) / 2.0)


def test_markout_ignores_taker_fills():
    store = make_store()
    book(store, 0.0, 100.0)
    fill(store, 0.0, "buy", 100.0, 0.1, liquidity="taker")
    book(store, 1.0, 90.0)
    store.advance(100.0)
    assert store.values["markout_bps"] == 0.0


# -- timers and runtime notes -----------------------------------------------------------------

def test_guard_block_timer_runs_while_blocked_and_resets():
    store = make_store()
    store.note_quote_blocked(True, 10.0)
    store.advance(15.0)
    assert store.values["guard_block_s"] == pytest.approx(5.0)
    store.note_quote_blocked(True, 16.0)
    assert store.values["guard_block_s"] == pytest.approx(6.0)
    store.note_quote_blocked(False, 17.0)
    assert store.values["guard_block_s"] == 0.0
    store.note_quote_blocked(True, 20.0)
    store.advance(21.0)
    assert store.values["guard_block_s"] == pytest.approx(1.0)


def test_unhedged_exposure_timer_runs_above_the_trigger_and_resets():
    store = make_store(hedger={"trigger_units": 0.05, "target_units": 0.02})
    book(store, 0.0, 100.0)
    fill(store, 1.0, "buy", 100.0, 0.1)
    store.advance(4.0)
    assert store.values["unhedged_exposure_s"] == pytest.approx(3.0)
    fill(store, 5.0, "sell", 100.0, 0.08)
    assert store.values["unhedged_exposure_s"] == 0.0
    store.advance(6.0)
    assert store.values["unhedged_exposure_s"] == 0.0
    fill(store, 7.0, "sell", 100.0, 0.1)                 # short beyond the trigger counts too
    store.advance(9.0)
    assert store.values["unhedged_exposure_s"] == pytest.approx(2.0)


def test_trading_state_and_open_orders_are_reported():
    store = make_store()
    store.note_trading_state(2, 3)
    assert store.values["trading_state"] == 2.0
    assert store.values["open_orders"] == 3.0


# -- reconciliation ---------------------------------------------------------------------------

def test_snapshot_that_disagrees_replaces_inventory_without_inventing_pnl():
    store = make_store()
    book(store, 0.0, 100.0)
    fill(store, 1.0, "buy", 100.0, 0.1)
    book(store, 2.0, 102.0)
    store.apply(PositionSnapshot(3.0, 0.15, entry_price=100.5))   # we missed a 0.05 buy
    values = store.values
    assert values["inventory_units"] == pytest.approx(0.15)
    assert store.position.units == pytest.approx(0.15)
    assert store.position.avg_entry == pytest.approx(100.5)      # the venue's entry price, not the mid
    assert values["unrealized_pnl"] == pytest.approx(0.15 * (102.0 - 100.5))
    assert store.position_book.mismatches_total == 1
    store.apply(PositionSnapshot(4.0, 0.0))              # and then a missed close
    assert values["inventory_units"] == 0.0
    assert values["realized_pnl_total"] == 0.0           # no fill we saw realized anything: none is invented
    assert store.position_book.mismatches_total == 2


def test_snapshot_that_agrees_changes_nothing():
    store = make_store()
    book(store, 0.0, 100.0)
    fill(store, 1.0, "buy", 100.0, 0.064)
    store.apply(PositionSnapshot(2.0, 0.0640000001))
    assert store.values["inventory_units"] == pytest.approx(0.064)
    assert store.position.lot_count == 1


def test_snapshot_before_any_price_is_marked_at_the_first_mid():
    store = make_store()
    store.apply(PositionSnapshot(0.0, -0.1))             # restart with an open short, no entry price known
    assert store.values["inventory_units"] == pytest.approx(-0.1)
    book(store, 1.0, 100.0)
    assert store.position.units == pytest.approx(-0.1)
    assert store.position.avg_entry == pytest.approx(100.0)
    assert store.values["unrealized_pnl"] == pytest.approx(0.0)
    store.apply(MarketTrade(2.0, 101.0, 1.0, "buy"))
    fill(store, 2.0, "buy", 99.0, 0.1)
    assert store.values["realized_pnl_total"] == pytest.approx(0.1)
    assert store.values["inventory_units"] == 0.0


def test_a_restart_seeds_the_position_at_the_venues_entry_price():
    store = make_store()
    store.apply(PositionSnapshot(0.0, 0.2, entry_price=180.0, as_of_seq=40))
    book(store, 1.0, 185.0)
    assert store.position.units == pytest.approx(0.2)
    assert store.position.avg_entry == pytest.approx(180.0)
    assert store.values["unrealized_pnl"] == pytest.approx(1.0)   # marked against 180, not the first mid
    assert store.position_book.mismatches_total == 0              # a seed is not a mismatch


def test_a_batch_of_book_updates_published_once_leaves_what_applying_each_leaves():
    """The Trader folds a batch's book updates into the store and publishes the book's features
    once (FeatureStore.book_event(.., publish=False) + publish_book()); every value must be what
    applying each event in turn leaves, fills and snapshots between the updates included."""
    import asyncio

    from adapters.paper.venue import PaperVenue
    from lighter_bot import BotConfig
    from runtime.events import BookTop
    from runtime.market import market_spec

    config = BotConfig()
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    asyncio.run(venue.start())
    one_by_one, batched = FeatureStore(config), FeatureStore(config)
    events = venue.drain(120.0)
    events.insert(5, BookTop(events[5].ts, 0.0, 185.0, 1.0, 1.0))      # a one-sided book in between
    fills = [Fill(e.ts, 1, "buy" if i % 2 else "sell", e.bid_px, 0.061, "maker", trade_id=f"t{i}", seq=i + 1)
             for i, e in enumerate(events[10::40]) if isinstance(e, BookTop)]
    for fill in fills:                                                 # fills land between book updates
        events.insert(next(i for i, e in enumerate(events) if e.ts >= fill.ts) + 1, fill)
    for start in range(0, len(events), 7):                             # batches of seven events
        batch = events[start:start + 7]
        booked = False
        for event in batch:
            one_by_one.apply(event)
            if type(event) is BookTop:
                booked = batched.book_event(event, False) or booked
            else:
                batched.apply(event)
        if booked:
            batched.publish_book()
        assert batched.values == one_by_one.values
    assert fills
