"""The paper exchange, through the `Venue` port only: what the runtime (and a user reading
its logs) would notice. Markets are scripted per scenario so each test sees the regime
it needs on cue; the few statistical checks use tolerances far outside the noise."""
from __future__ import annotations

import asyncio
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import open_venue
from adapters.paper.venue import PaperVenue
from adapters.paper.config import PaperConfig, ScriptStep
from lighter_bot import BotConfig as Config
from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, Fill, MarketTrade, OrderAccepted, OrderCanceled, OrderOpen,
                            OrderRejected, OrdersSnapshot, PositionSnapshot, VenueStatus)
from runtime.intents import CancelAll, CancelOrder, PlaceOrder
from runtime.market import MarketSpec
from runtime.ports import VenueError

SOL = MarketSpec(market_id=2, symbol="SOL", price_decimals=3, size_decimals=3, min_base_units=0.061, min_quote=10.0)
RUNTIME_TICK_S = 0.25   # the runtime's default tick: how often it drains


# The mechanics tests in this file (matching prices, codes, budgets, snapshots) run on an ideal
# venue: no latency, first in every queue, unless a test sets those fields itself. The queue,
# partial-fill, latency and outage tests at the end set them.
IDEAL = {"latency_s": 0.0, "response_latency_s": 0.0, "queue_position": False}


def started(paper: PaperConfig, market: MarketSpec = SOL, start_ts: float = 0.0) -> PaperVenue:
    paper = paper.model_copy(update={k: v for k, v in IDEAL.items() if k not in paper.model_fields_set})
    venue = PaperVenue(market, paper, start_ts)
    asyncio.run(venue.start())
    return venue


def scripted(*steps: tuple[str, float], **fields) -> PaperConfig:
    return PaperConfig(script=tuple(ScriptStep(regime=r, duration_s=d) for r, d in steps), **fields)


def run(venue: PaperVenue, start_s: float, end_s: float, every_s: float = RUNTIME_TICK_S) -> list[Event]:
    """Drain the venue the way the runtime does: every `every_s` from start to end."""
    events: list[Event] = []
    steps = round((end_s - start_s) / every_s)
    for i in range(1, steps + 1):
        events += venue.drain(start_s + i * every_s)
    return events


def trading(events: list[Event]) -> list[Event]:
    """Our orders' events only: without the market, the budget, venue status and snapshots."""
    return [e for e in events if not isinstance(e, (BookTop, MarketTrade, BudgetUpdate, VenueStatus, PositionSnapshot,
                                                    OrdersSnapshot))]


def books(events: list[Event]) -> list[BookTop]:
    return [e for e in events if isinstance(e, BookTop)]


def of_type(events: list[Event], kind: type, client_id: int | None = None) -> list:
    return [e for e in events if isinstance(e, kind)
            and (client_id is None or getattr(e, "client_id", None) == client_id)]


def mid(book: BookTop) -> float:
    return (book.bid_px + book.ask_px) / 2


def last_book(venue: PaperVenue, now: float) -> BookTop:
    """Advance to `now` and return the book then in force (the last BookTop seen so far)."""
    seen = books(venue.drain(now))
    assert seen, "expected at least one book update"
    return seen[-1]


def quote(client_id: int, side: str, price: float, size: float = 0.064, tif: str = "post_only",
          reduce_only: bool = False) -> PlaceOrder:
    purpose = "hedge" if tif == "ioc" else "quote"
    return PlaceOrder(client_id, side, price, size, tif, purpose, reduce_only=reduce_only)


# -- the simulated market --------------------------------------------------------------

def test_same_seed_same_stream_different_seed_different_stream():
    def stream(seed: int, every_s: float) -> list[Event]:
        venue = started(PaperConfig(seed=seed))
        events = venue.drain(0.0)
        bid = books(events)[-1].bid_px
        venue.submit([quote(1, "buy", round(bid - 0.01, 3)), quote(2, "buy", 0.5, tif="ioc")], 0.0)
        return events + run(venue, 0.0, 120.0, every_s)

    assert stream(7, 0.25) == stream(7, 0.25)
    # The market does not depend on how often the runtime drains.
    assert [e for e in stream(7, 0.25) if isinstance(e, (BookTop, MarketTrade))] == \
        [e for e in stream(7, 1.0) if isinstance(e, (BookTop, MarketTrade))]
    assert books(stream(7, 0.25)) != books(stream(8, 0.25))


@pytest.mark.parametrize("regime, drift_bps_per_min", [("trend_up", 20.0), ("trend_down", -20.0)])
def test_trend_script_moves_mid_by_drift_times_duration(regime, drift_bps_per_min):
    duration_s = 300.0
    moves_bps = []
    for seed in range(5):
        venue = started(scripted((regime, duration_s), seed=seed))
        start_mid = mid(last_book(venue, 0.0))
        end_mid = mid(last_book(venue, duration_s))
        moves_bps.append(math.log(end_mid / start_mid) * 1e4)
    expected_bps = drift_bps_per_min * duration_s / 60.0
    # Noise over 5 min is ~13 bps per run (6 bps/sqrt(min)); the mean of 5 runs is within ~6.
    assert statistics.mean(moves_bps) == pytest.approx(expected_bps, rel=0.25)
    assert all(move * expected_bps > 0 for move in moves_bps)


def test_a_45s_trend_reaches_the_seed_trend_trigger():
    """The default trend regime exists to trip the +12 bps / 45 s trend filter."""
    reached = 0
    for seed in range(10):
        venue = started(scripted(("calm", 10.0), ("trend_up", 45.0), seed=seed))
        before = mid(last_book(venue, 10.0))
        after = mid(last_book(venue, 55.0))
        reached += math.log(after / before) * 1e4 >= 12.0
    assert reached >= 6


def realized_vol_bps_per_min(events: list[Event], start_s: float, end_s: float) -> float:
    """Sigma of one-second mid log-returns, scaled to one minute."""
    mids, book_iter, current = [], iter(books(events)), None
    pending = next(book_iter)
    for second in range(int(start_s), int(end_s) + 1):
        while pending is not None and pending.ts <= second:
            current, pending = pending, next(book_iter, None)
        mids.append(mid(current))
    returns = [math.log(b / a) for a, b in zip(mids, mids[1:])]
    return statistics.pstdev(returns) * 1e4 * math.sqrt(60.0)


def test_volatile_regime_is_much_wilder_than_calm():
    venue = started(scripted(("calm", 600.0), ("volatile", 600.0), seed=3))
    events = venue.drain(0.0) + run(venue, 0.0, 1200.0, every_s=5.0)
    calm = realized_vol_bps_per_min(events, 0.0, 600.0)
    volatile = realized_vol_bps_per_min(events, 600.0, 1200.0)
    defaults = PaperConfig().regimes
    # Calm = diffusion plus the sweeps' price impact: SOL's calm 1-minute sigma is about 4-8 bps.
    assert 4.0 < calm < 8.0
    assert volatile == pytest.approx(defaults.volatile.vol_bps_per_min, rel=0.2)
    assert volatile > 30.0 > 4 * calm


def test_script_holds_its_last_regime_and_markov_chain_visits_every_regime():
    venue = started(scripted(("calm", 10.0), ("volatile", 5.0)))
    venue.drain(3600.0)
    assert venue.regime == "volatile"

    venue = started(PaperConfig(seed=11))
    seen = set()
    for second in range(0, 4 * 3600, 5):
        venue.drain(float(second))
        seen.add(venue.regime)
    assert seen == {"calm", "trend_up", "trend_down", "volatile"}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), half_spread_bps=st.floats(0.01, 25.0),
       price_decimals=st.integers(1, 4), start_price=st.floats(1.0, 5000.0))
def test_book_is_uncrossed_quantized_and_prints_trade_at_or_through_the_touch(seed, half_spread_bps,
                                                                              price_decimals, start_price):
    market = MarketSpec(2, "SOL", price_decimals, 3, 0.001, 0.0)
    venue = started(scripted(("volatile", 30.0), seed=seed, half_spread_bps=half_spread_bps,
                             start_price=start_price), market=market)
    events = venue.drain(30.0)
    scale = 10**price_decimals
    book = None
    for event in events:
        if isinstance(event, BookTop):
            assert event.bid_px < event.ask_px
            for px in (event.bid_px, event.ask_px):
                assert px * scale == pytest.approx(round(px * scale), abs=1e-6)
            book = event
        elif isinstance(event, MarketTrade):
            # A print trades at the touch of the side it hits, or sweeps further into the book.
            if event.aggressor == "buy":
                assert event.price >= book.ask_px
            else:
                assert event.price <= book.bid_px
            assert event.price * scale == pytest.approx(round(event.price * scale), abs=1e-6)
            assert event.size > 0
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert all(e.ts <= 30.0 for e in events)


# -- our orders ------------------------------------------------------------------------

def test_post_only_that_would_cross_is_accepted_then_canceled():
    venue = started(PaperConfig())
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "buy", book.ask_px), quote(2, "sell", book.bid_px)], 1.0)
    events = venue.drain(1.0)
    for client_id in (1, 2):
        mine = [e for e in events if getattr(e, "client_id", None) == client_id]
        assert [type(e) for e in mine] == [OrderAccepted, OrderCanceled]
        assert mine[1].reason == "canceled-post-only"
    assert venue.open_orders() == []


def test_resting_bid_fills_as_maker_at_our_price_when_the_market_trades_through():
    venue = started(scripted(("calm", 5.0), ("trend_down", 600.0), seed=2))
    book = last_book(venue, 5.0)
    our_px = round(book.bid_px - 0.05, 3)          # about 2.7 bps under the bid
    venue.submit([quote(1, "buy", our_px, size=0.072)], 5.0)
    events = run(venue, 5.0, 120.0)
    assert of_type(events, OrderAccepted, 1)
    fills = of_type(events, Fill, 1)
    assert fills and sum(f.size for f in fills) == pytest.approx(0.072)
    assert all(f.liquidity == "maker" and f.price == our_px and f.side == "buy" for f in fills)
    # Filled only once the market reached our price, never before.
    reached = min(e.ts for e in events if (isinstance(e, BookTop) and e.ask_px <= our_px)
                  or (isinstance(e, MarketTrade) and e.aggressor == "sell" and e.price <= our_px))
    assert fills[0].ts == reached
    assert venue.open_orders() == []


def test_maker_fee_is_charged_on_notional():
    venue = started(scripted(("trend_down", 600.0), seed=2, maker_fee_bps=2.0))
    book = last_book(venue, 0.0)
    venue.submit([quote(1, "buy", round(book.bid_px - 0.02, 3))], 0.0)
    fills = of_type(run(venue, 0.0, 120.0), Fill, 1)
    assert fills and all(f.fee == pytest.approx(f.price * f.size * 2e-4) for f in fills)


def test_ioc_fills_at_the_touch_within_its_limit():
    venue = started(PaperConfig(taker_fee_bps=3.0))
    book = last_book(venue, 1.0)
    limit = round(book.ask_px * 1.001, 3)            # 10 bps past the ask
    venue.submit([quote(1, "buy", limit, size=0.1, tif="ioc")], 1.0)
    events = trading(venue.drain(1.0))
    assert [type(e) for e in events] == [OrderAccepted, Fill]
    fill = events[1]
    assert fill.liquidity == "taker" and fill.size == pytest.approx(0.1)
    assert book.ask_px <= fill.price <= limit
    assert fill.price - book.ask_px <= 0.002           # 0.1 SOL moves the price about 1 tick
    assert fill.fee == pytest.approx(fill.price * 0.1 * 3e-4)


def test_ioc_beyond_its_limit_is_canceled_and_a_big_one_fills_partly():
    venue = started(PaperConfig())
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "sell", round(book.bid_px + 0.001, 3), size=0.1, tif="ioc")], 1.0)
    events = trading(venue.drain(1.0))
    assert [type(e) for e in events] == [OrderAccepted, OrderCanceled]
    assert events[1].reason == "canceled-too-much-slippage"

    # 50 SOL at 0.5 bps per SOL is ~25 bps of impact; a limit 2 ticks past the ask takes only part.
    limit = round(book.ask_px + 0.002, 3)
    venue.submit([quote(2, "buy", limit, size=50.0, tif="ioc")], 1.0)
    events = trading(venue.drain(1.0))
    assert [type(e) for e in events] == [OrderAccepted, Fill, OrderCanceled]
    assert 0 < events[1].size < 50.0 and events[1].price <= limit
    assert events[2].reason == "canceled"


def test_gtc_that_crosses_takes_the_touch_and_one_that_does_not_rests():
    venue = started(PaperConfig())
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "buy", round(book.ask_px + 0.005, 3), tif="gtc"),
                  quote(2, "sell", round(book.ask_px + 0.05, 3), tif="gtc")], 1.0)
    events = venue.drain(1.0)
    assert [type(e) for e in of_type(events, object, 1)] == [OrderAccepted, Fill]
    assert of_type(events, Fill, 1)[0].liquidity == "taker"
    assert [o.client_id for o in venue.open_orders()] == [2]


@pytest.mark.parametrize("size, price_offset, why", [
    (0.05, 0.0, "below min_base_units"),
    (0.0645, 0.0, "not a whole number of lots"),
    (0.064, 0.0005, "not a whole number of ticks"),
])
def test_invalid_amounts_are_rejected_with_21706(size, price_offset, why):
    venue = started(PaperConfig())
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "buy", round(book.bid_px - 0.01, 3) + price_offset, size=size)], 1.0)
    events = trading(venue.drain(1.0))
    assert [(type(e), e.code) for e in events] == [(OrderRejected, 21706)], why
    assert venue.open_orders() == []


def test_notional_below_min_quote_is_rejected_with_21706():
    venue = started(PaperConfig(start_price=100.0))
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "buy", round(book.bid_px - 0.01, 3), size=0.061)], 1.0)   # ~6.1 < 10 quote
    assert [(type(e), e.code) for e in trading(venue.drain(1.0))] == [(OrderRejected, 21706)]


def test_duplicate_live_client_id_is_rejected_with_21728():
    venue = started(PaperConfig())
    bid = last_book(venue, 1.0).bid_px
    venue.submit([quote(1, "buy", round(bid - 0.05, 3)), quote(1, "buy", round(bid - 0.06, 3))], 1.0)
    events = trading(venue.drain(1.0))
    assert [type(e) for e in events] == [OrderAccepted, OrderOpen, OrderRejected]
    assert events[2].code == 21728
    assert [o.price for o in venue.open_orders()] == [round(bid - 0.05, 3)]


def test_cancel_cancel_all_and_stop_leave_no_open_orders():
    venue = started(PaperConfig())
    bid, ask = (lambda b: (b.bid_px, b.ask_px))(last_book(venue, 1.0))
    venue.submit([quote(1, "buy", round(bid - 0.1, 3)), quote(2, "sell", round(ask + 0.1, 3)),
                  quote(3, "buy", round(bid - 0.2, 3))], 1.0)
    venue.drain(1.0)
    assert {o.client_id for o in venue.open_orders()} == {1, 2, 3}

    venue.submit([CancelOrder(1), CancelOrder(1)], 1.0)
    events = trading(venue.drain(1.0))
    assert (type(events[0]), events[0].reason) == (OrderCanceled, "requested")
    # A cancel of an order that is not live is refused as Lighter does (21600), as a *cancel* refusal:
    # the order it names is not thereby known to be gone.
    assert (type(events[1]), events[1].code) == (CancelRejected, 21600)

    venue.submit([CancelAll("halt")], 1.0)
    assert {(e.client_id, e.reason) for e in trading(venue.drain(1.0))} == {(2, "requested"), (3, "requested")}
    assert venue.open_orders() == []

    venue.submit([quote(4, "buy", round(bid - 0.1, 3))], 1.0)
    venue.drain(1.0)
    venue.submit([quote(5, "sell", round(ask + 0.1, 3))], 1.0)   # still in flight at stop
    asyncio.run(venue.stop())
    asyncio.run(venue.stop())
    final = trading(venue.drain(2.0))
    assert {(e.client_id, e.reason) for e in final} == {(4, "requested"), (5, "requested")}
    assert venue.open_orders() == []
    assert venue.drain(3.0) == []
    with pytest.raises(VenueError):
        venue.submit([quote(6, "buy", round(bid - 0.1, 3))], 3.0)


def test_reduce_only_never_grows_the_position():
    venue = started(PaperConfig())
    book = last_book(venue, 1.0)
    venue.submit([quote(1, "sell", round(book.bid_px * 0.999, 3), size=0.1, tif="ioc", reduce_only=True)], 1.0)
    events = trading(venue.drain(1.0))
    assert [type(e) for e in events] == [OrderAccepted, OrderCanceled]
    assert events[1].reason == "canceled-reduce-only"

    venue.submit([quote(2, "buy", round(book.ask_px * 1.001, 3), size=0.1, tif="ioc")], 1.0)
    venue.submit([quote(3, "sell", round(book.bid_px * 0.999, 3), size=0.2, tif="ioc", reduce_only=True)], 1.0)
    events = venue.drain(1.0)
    assert sum(f.size for f in of_type(events, Fill, 3)) == pytest.approx(0.1)
    assert venue.position_units == pytest.approx(0.0)


def test_latency_delays_acknowledgement():
    venue = started(PaperConfig(latency_s=0.5))
    bid = last_book(venue, 10.0).bid_px
    venue.submit([quote(1, "buy", round(bid - 0.1, 3))], 10.0)
    assert not of_type(venue.drain(10.4), OrderAccepted)
    accepted = of_type(venue.drain(10.6), OrderAccepted)
    assert [e.ts for e in accepted] == [10.5]


def test_position_snapshots_match_the_sum_of_fills():
    venue = started(scripted(("volatile", 600.0), seed=5))
    events: list[Event] = venue.drain(0.0)
    client_id = 0
    for tick in range(1, 4 * 120):
        now = tick * RUNTIME_TICK_S
        book = books(events)[-1]
        if tick % 8 == 0:   # every 2 s: re-quote both sides 1 bps outside the touch
            client_id += 2
            venue.submit([CancelAll("requote"), quote(client_id, "buy", round(book.bid_px * 0.9999, 3)),
                          quote(client_id + 1, "sell", round(book.ask_px * 1.0001, 3))], now)
        events += venue.drain(now)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    fills = of_type(events, Fill)
    snapshots = of_type(events, PositionSnapshot)
    assert len(fills) > 10 and len({f.trade_id for f in fills}) == len(fills)
    assert [s.ts for s in snapshots] == [5.0 * i for i in range(len(snapshots))] and len(snapshots) >= 23
    for snapshot in snapshots:
        signed = sum(f.size if f.side == "buy" else -f.size for f in fills if f.ts <= snapshot.ts)
        assert snapshot.units == pytest.approx(signed, abs=1e-9)


def test_the_venue_must_be_started_and_says_so_with_status_events():
    venue = PaperVenue(SOL, PaperConfig())
    with pytest.raises(VenueError):
        venue.drain(1.0)
    asyncio.run(venue.start())
    asyncio.run(venue.start())                       # starting twice is harmless
    assert of_type(venue.drain(1.0), VenueStatus) == [VenueStatus(0.0, True, True, "paper venue started")]
    asyncio.run(venue.stop())
    status = of_type(venue.drain(2.0), VenueStatus)
    assert [(s.connected, s.book_synced) for s in status] == [(False, False)]


def test_open_venue_builds_the_paper_exchange_and_names_known_kinds():
    venue = open_venue("paper", Config().venue, SOL, 100.0)
    asyncio.run(venue.start())
    assert venue.market.symbol == "SOL" and venue.market.min_base_units == 0.061
    assert venue.drain(100.0)[0].ts == 100.0
    with pytest.raises(ValueError, match="paper"):
        open_venue("binance", Config().venue, SOL, 0.0)


def test_paper_config_rejects_unknown_regimes_and_partial_regime_overrides():
    with pytest.raises(ValueError, match="regime"):
        PaperConfig.model_validate({"script": [{"regime": "sideways", "duration_s": 10}]})
    with pytest.raises(ValueError, match="duration_s"):
        PaperConfig.model_validate({"script": [{"regime": "calm", "duration_s": 0}]})
    # A regime restated in YAML must be whole, so it never inherits another regime's numbers.
    with pytest.raises(ValueError, match="mean_duration_s"):
        PaperConfig.model_validate({"regimes": {"calm": {"drift_bps_per_min": 0, "vol_bps_per_min": 3,
                                                         "entry_weight": 1}}})


def test_some_prints_sweep_past_the_touch_so_quotes_outside_it_can_fill():
    venue = started(scripted(("calm", 600.0), seed=3))
    events = venue.drain(600.0)
    book = None
    depths = []
    for event in events:
        if isinstance(event, BookTop):
            book = event
        elif isinstance(event, MarketTrade):
            touch = book.ask_px if event.aggressor == "buy" else book.bid_px
            depths.append(abs(event.price / touch - 1) * 1e4)
    swept = [d for d in depths if d > 0.5]
    # defaults: 8 % of prints sweep, mean depth 5 bps
    assert 0.04 < len(swept) / len(depths) < 0.12
    assert 3.0 < sum(swept) / len(swept) < 7.5
