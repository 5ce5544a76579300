"""Quantization and sizing: every order the maker builds is one the venue accepts.

The seed bot was refused with Lighter error 21706 (order below the minimum size or notional).
These properties pin down what prevents it: prices on whole ticks and rounded away from the
touch, sizes on whole lots and never above what was asked, `min_size_at` exactly the smallest
valid size, and maker quotes valid at their own price for any mid, volatility and policy effects.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules.effects import NEUTRAL
from lighter_bot import BotConfig as Config
from runtime.config import MakerConfig
from runtime.maker import Maker
from runtime.market import MarketSpec, market_spec

SOL = market_spec(Config().market)

specs = st.builds(
    lambda price_decimals, size_decimals, min_base_lots, min_quote: MarketSpec(
        2, "SOL", price_decimals, size_decimals, round(min_base_lots * 10.0 ** -size_decimals, size_decimals),
        min_quote),
    st.integers(0, 6), st.integers(0, 6), st.integers(1, 1000), st.sampled_from([0.0, 1.0, 10.0, 25.0]),
)
prices = st.floats(0.01, 200_000, allow_nan=False)
sizes = st.floats(0, 1_000, allow_nan=False)


def whole(value: float, decimals: int) -> bool:
    """`value`, written out as it is sent, has at most `decimals` decimals (a whole number of steps)."""
    return Decimal(repr(value)).normalize().as_tuple().exponent >= -decimals


@given(specs, prices)
def test_quantized_prices_are_whole_ticks_rounded_away_from_the_touch(spec, price):
    bid = spec.quantize_price(price, "buy")
    ask = spec.quantize_price(price, "sell")
    slack = spec.tick * 1e-6
    assert whole(bid, spec.price_decimals) and whole(ask, spec.price_decimals)
    assert bid <= price + slack and price - bid < spec.tick + slack      # bids round down, by less than a tick
    assert ask >= price - slack and ask - price < spec.tick + slack      # asks round up, by less than a tick
    assert spec.price_ticks(price, "buy") <= spec.price_ticks(price, "sell")


@pytest.mark.parametrize("price, bid, ask", [
    (185.1234, 185.123, 185.124),
    (185.123, 185.123, 185.123),         # already on a tick: unchanged on both sides
    (0.1 + 0.2, 0.3, 0.3),               # 0.30000000000000004 is float noise, not a tick above 0.3
])
def test_price_quantization_examples(price, bid, ask):
    assert (SOL.quantize_price(price, "buy"), SOL.quantize_price(price, "sell")) == (bid, ask)


@given(specs, sizes)
def test_quantized_sizes_are_whole_lots_never_above_the_input(spec, size):
    q = spec.quantize_size(size)
    assert whole(q, spec.size_decimals)
    assert q <= size + spec.lot * 1e-6
    assert size - q < spec.lot * (1 + 1e-6)
    up = spec.round_up_size(size)
    assert whole(up, spec.size_decimals) and up >= size - spec.lot * 1e-6 and up - size < spec.lot * (1 + 1e-6)


def test_size_quantization_survives_float_noise():
    assert SOL.quantize_size(0.064) == 0.064             # 0.064 / 0.001 is 63.99999999999999
    assert SOL.quantize_size(0.0649) == 0.064
    assert SOL.round_up_size(0.0641) == 0.065


@settings(max_examples=300)
@given(specs, st.integers(1, 10**9))
def test_min_size_at_is_the_smallest_valid_size(spec, price_ticks):
    # Orders carry prices on the tick grid, so that is where the venue's minimum is judged.
    price = round(price_ticks / 10**spec.price_decimals, spec.price_decimals)
    size = spec.min_size_at(price)
    assert whole(size, spec.size_decimals)
    assert spec.is_valid_order(price, size)
    smaller = round(size - spec.lot, spec.size_decimals)
    if smaller > 0:
        assert not spec.is_valid_order(price, smaller)


def test_one_notional_grid_step_short_is_refused_with_fine_decimals():
    # 6 price decimals x 3 size decimals: notionals move in steps of 1e-9, so 1e-9 short is short.
    spec = MarketSpec(1, "TINY", 6, 3, 0.001, 10.0)
    assert spec.is_valid_order(0.000001, 10_000_000.0)                # exactly 10
    assert not spec.is_valid_order(0.000001, 9_999_999.999)           # 9.999999999


def test_is_valid_order_is_the_venue_minimums():
    assert SOL.is_valid_order(185.0, 0.061)
    assert not SOL.is_valid_order(185.0, 0.060)          # below min_base_units
    assert SOL.is_valid_order(164.0, 0.061)              # 10.004 quote
    assert not SOL.is_valid_order(163.0, 0.061)          # 9.943 quote < min_quote 10
    assert not SOL.is_valid_order(0.0, 1.0)
    assert SOL.min_size_at(100.0) == 0.1                  # the notional decides below ~164
    assert SOL.min_size_at(185.0) == 0.061                # min_base_units decides above


# -- the maker's sizes -------------------------------------------------------------------------------

makers = st.builds(
    lambda notional_floor, spread_bps: MakerConfig(notional_floor=notional_floor, spread_bps=spread_bps),
    st.sampled_from([0.0, 5.0, 10.0, 10.5, 20.0]), st.sampled_from([4.0, 12.0, 30.0]))
markets = st.builds(
    lambda min_base, min_quote, size_decimals: MarketSpec(2, "SOL", 3, size_decimals, min_base, min_quote),
    st.sampled_from([0.001, 0.01, 0.061, 0.1]), st.sampled_from([0.0, 1.0, 10.0]), st.sampled_from([3, 4]))
effects = st.builds(
    lambda size_mult, cap, spread_add, bid_add, ask_add: NEUTRAL._replace(
        size_mult=size_mult, size_cap_units=cap, spread_add_bps=spread_add,
        bid_spread_add_bps=bid_add, ask_spread_add_bps=ask_add),
    st.floats(0, 5), st.one_of(st.none(), st.floats(0, 1)), st.floats(-10, 40),
    st.sampled_from([0.0, 6.0, 50.0, 400.0]), st.sampled_from([0.0, 6.0, 50.0, 400.0]))


def book(mid: float) -> dict[str, float]:
    return {"mid": mid, "best_bid": mid * (1 - 1e-4), "best_ask": mid * (1 + 1e-4)}


@settings(max_examples=400, deadline=None)
@given(makers, markets, st.floats(1.0, 100_000), st.floats(0, 200), effects)
def test_maker_quotes_are_always_valid_orders_within_the_size_band(config, market, mid, vol_bps, fx):
    maker = Maker(config, market)
    plan = maker.plan({**book(mid), "vol_bps": vol_bps}, fx, now=0.0)
    quotes = [q for q in (plan.bid, plan.ask) if q is not None]
    upper = min(config.size_max_units, fx.size_cap_units if fx.size_cap_units is not None else float("inf"))
    for side, quote, reason in (("bid", plan.bid, plan.bid_blocked), ("ask", plan.ask, plan.ask_blocked)):
        if quote is None and side == "ask" or reason:
            # Only a cap the venue minimum (at the quote's price) or the notional floor cannot honour
            # leaves a side unquoted here (no pause, cooldown or risk state in this test).
            assert reason in ("size_cap", "size_max"), plan
            forced = max(market.min_size_at(mid), market.round_up_size(config.notional_floor / mid))
            assert forced > upper or side == "bid"
    for quote in quotes:
        assert market.is_valid_order(quote.price, quote.size), (quote, market)     # never error 21706
        assert whole(quote.size, market.size_decimals)
        assert quote.size <= upper + 1e-12                                           # no cap is ever exceeded
        lower = min(config.size_min_units, fx.size_cap_units if fx.size_cap_units is not None else float("inf"))
        assert quote.size >= market.quantize_size(lower) - 1e-12
        if fx.size_cap_units is None or fx.size_cap_units >= config.size_min_units:
            assert quote.size >= config.size_min_units - 1e-12


@given(st.floats(150, 250), st.floats(0, 100), st.floats(0.1, 3))
def test_default_sol_quotes_sit_in_the_seed_size_band(mid, vol_bps, size_mult):
    # At SOL prices the venue minimum (0.061) and notional floor (10.5) stay inside 0.061..0.072,
    # except where 10.5 quote needs more than 0.072 SOL (mid below ~146), which this range avoids.
    maker = Maker(Config().maker, SOL)
    fx = NEUTRAL._replace(size_mult=size_mult)
    plan = maker.plan({**book(mid), "vol_bps": vol_bps}, fx, now=0.0)
    for quote in (plan.bid, plan.ask):
        assert 0.061 <= quote.size <= 0.072
        assert SOL.is_valid_order(quote.price, quote.size)


def test_notional_floor_above_size_max_leaves_both_sides_unquoted():
    maker = Maker(Config().maker, SOL)
    plan = maker.plan({**book(100.0), "vol_bps": 0.0}, NEUTRAL, now=0.0)
    # 10.5 quote at 100 needs 0.105, above size_max 0.072: no quote rather than an oversized one
    assert plan.bid is None and plan.ask is None
    assert plan.bid_blocked == plan.ask_blocked == "size_max"
    plan = maker.plan({**book(160.0), "vol_bps": 0.0}, NEUTRAL, now=0.0)
    assert 0.066 <= plan.bid.size == plan.ask.size <= 0.072   # 10.5 / 160 is 0.066: inside the band


@pytest.mark.parametrize("cap, mid, quoted", [(0.05, 185.0, False), (0.061, 185.0, True), (0.061, 165.0, False),
                                              (0.065, 185.0, True)])
def test_a_size_cap_under_the_venue_minimum_is_not_quoted(cap, mid, quoted):
    maker = Maker(Config().maker, SOL)
    plan = maker.plan({**book(mid), "vol_bps": 0.0}, NEUTRAL._replace(size_cap_units=cap), now=0.0)
    if quoted:
        assert plan.bid.size <= cap and plan.ask.size <= cap
    else:
        # 0.061 is the venue minimum; at 165 the 10.5 notional floor needs 0.064
        assert plan.bid is None and plan.ask is None
        assert plan.bid_blocked == plan.ask_blocked == "size_cap"


@given(st.floats(1, 100_000), st.floats(0, 200), effects)
def test_quotes_never_cross_the_opposite_touch(mid, vol_bps, fx):
    maker = Maker(Config().maker, SOL)
    b = book(mid)
    plan = maker.plan({**b, "vol_bps": vol_bps}, fx, now=0.0)
    assume(plan.bid is not None)
    assert plan.bid.price < b["best_ask"]
    assert plan.ask.price > b["best_bid"]
    assert plan.bid.price < plan.ask.price



# Few values each, and a flag that repeats the previous tick's inputs, so that ticks often repeat
# inputs (the memo answers) while a fill starts a cooldown or time ends one (it must not).
_steps = st.lists(st.tuples(
    st.booleans(), st.sampled_from([160.0, 160.004, 185.0]), st.sampled_from([0.0, 80.0]),
    st.sampled_from([NEUTRAL, NEUTRAL._replace(bid_cooldown_s=2.5, ask_cooldown_s=1.0),
                     NEUTRAL._replace(pause_ask=True), NEUTRAL._replace(spread_add_bps=20.0)]),
    st.booleans(), st.booleans(), st.sampled_from([None, "buy", "sell"]), st.sampled_from([0.5, 1.0])),
    min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_steps)
def test_a_maker_reused_tick_after_tick_quotes_as_a_fresh_one(steps):
    """`plan` returns its last plan while its inputs repeat: a fill's cooldown starting or ending,
    a new mid, effects or risk state must still give the plan a fresh maker computes."""
    maker = Maker(Config().maker, SOL)
    fills: list[tuple[str, float]] = []
    now = 0.0
    inputs = None
    for repeat, *drawn, fill, dt in steps:
        if not repeat or inputs is None:
            inputs = drawn
        mid, vol_bps, fx, allow_bid, allow_ask = inputs
        now += dt
        if fill is not None:
            maker.note_fill(fill, now)
            fills.append((fill, now))
        fresh = Maker(Config().maker, SOL)
        for side, ts in fills:
            fresh.note_fill(side, ts)
        features = {**book(mid), "vol_bps": vol_bps}
        got = maker.plan(features, fx, now, allow_bid=allow_bid, allow_ask=allow_ask)
        assert got == fresh.plan(features, fx, now, allow_bid=allow_bid, allow_ask=allow_ask), (now, mid, fx)


def test_a_config_reload_replans_at_unchanged_inputs():
    maker = Maker(Config().maker, SOL)
    features = {**book(185.0), "vol_bps": 0.0}
    before = maker.plan(features, NEUTRAL, 0.0)
    maker.config = Config().maker.model_copy(update={"spread_bps": 30.0})
    after = maker.plan(features, NEUTRAL, 0.0)
    assert after.spread_bps == 30.0 != before.spread_bps
    assert after.bid.price < before.bid.price

# -- the hedger: sized at the order's own price, not the mid ------------------------------------

@pytest.mark.parametrize("inventory, force", [(-0.07, False), (0.07, True)], ids=["passive_buy", "crossing_sell"])
def test_hedge_orders_are_valid_at_their_own_price(inventory, force):
    from runtime.hedger import Hedger
    from runtime.intents import PlaceOrder
    from runtime.orders import OrderTracker

    # 10 / 149.276 = 0.06699: the minimum at mid rounds up to 0.067 lots with almost no notional slack.
    mid = 149.276
    hedger = Hedger(Config().hedger, SOL)
    feats = {**book(mid), "inventory_units": inventory, "unhedged_exposure_s": 100.0}
    fx = NEUTRAL._replace(hedge_force_aggressive=force)
    ids = iter(range(1, 100))
    placed = []
    for now in (0.0, 1.0):
        placed += [i for i in hedger.step(feats, fx, OrderTracker(SOL), now, lambda: next(ids))
                   if isinstance(i, PlaceOrder)]
    assert placed
    for intent in placed:
        assert SOL.is_valid_order(intent.price, intent.size), intent


# -- the maker's fast path is the same arithmetic --------------------------------------------------

def reference_plan(maker: Maker, features: dict[str, float], fx, now: float, allow_bid: bool, allow_ask: bool):
    """`Maker.plan` written with the public pieces it inlines (spread_bps, size_units, the MarketSpec
    quantizers), as it was before it was inlined: the plan must be exactly this, float for float."""
    from runtime.maker import BPS, Quote, QuotePlan

    mid = features["mid"]
    if mid <= 0:
        return QuotePlan(None, None, 0.0, "no_market", "no_market")
    vol = features["vol_bps"]
    spread = maker.spread_bps(vol, fx)
    size = maker.size_units(vol, mid, fx)
    half = spread / 2
    cap, cap_reason = maker.size_limit(fx)
    bid_reason = maker._blocked("buy", fx.pause_bid, fx.bid_cooldown_s, allow_bid, now) or \
        (cap_reason if size > cap else "")
    ask_reason = maker._blocked("sell", fx.pause_ask, fx.ask_cooldown_s, allow_ask, now) or \
        (cap_reason if size > cap else "")
    bid = ask = None
    market = maker.market
    if not bid_reason:
        price = market.quantize_price(mid * (1 - maker._side_bps(half, fx.bid_spread_add_bps) * BPS), "buy")
        if features["best_ask"] > 0 and price >= features["best_ask"]:
            price = market.quantize_price(features["best_ask"] - market.tick, "buy")
        bid_size = size if market.is_valid_order(price, size) else market.min_size_at(price)
        if bid_size > cap:
            bid_reason = "size_cap" if fx.size_cap_units is not None and bid_size > fx.size_cap_units else "size_max"
        else:
            bid = Quote("buy", price, bid_size) if price > 0 else None
    if not ask_reason:
        price = market.quantize_price(mid * (1 + maker._side_bps(half, fx.ask_spread_add_bps) * BPS), "sell")
        if features["best_bid"] > 0 and price <= features["best_bid"]:
            price = market.quantize_price(features["best_bid"] + market.tick, "sell")
        ask = Quote("sell", price, size)
    return QuotePlan(bid, ask, spread, bid_reason, ask_reason)


ticks_of_a_run = st.lists(st.tuples(
    st.one_of(st.sampled_from([0.0, -1.0]), st.floats(0.01, 100_000), st.sampled_from([185.0, 185.0004, 185.0006])),
    st.floats(0, 60), st.floats(-3e-4, 3e-4), st.booleans(), st.booleans(),
    st.floats(0, 10), st.sampled_from(["buy", "sell", None])), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(makers, markets, st.lists(effects, min_size=1, max_size=3), ticks_of_a_run,
       st.sampled_from([0.0, 2.0]), st.sampled_from([0.0, 30.0]))
def test_the_plan_is_exactly_the_spec_arithmetic_tick_after_tick(config, market, fxs, ticks, bid_cool, pause):
    """One maker over a run of ticks (so whatever it keeps between ticks is exercised): mids that
    repeat or move by fractions of a tick, volatility inside and outside the band, effects that
    change or stay, touches that the quote would cross, fills starting cooldowns."""
    maker = Maker(config, market)
    for i, (mid, vol_bps, touch, allow_bid, allow_ask, now, fill_side) in enumerate(ticks):
        fx = fxs[i % len(fxs)]._replace(bid_cooldown_s=bid_cool, pause_ask=pause > 0 and i % 2 == 1)
        features = {"mid": mid, "best_bid": mid * (1 - 1e-4 + touch), "best_ask": mid * (1 + 1e-4 - touch),
                    "vol_bps": vol_bps}
        for repeat in range(2):      # the same inputs twice: the second comes from what was kept
            assert maker.plan(features, fx, now, allow_bid, allow_ask) == \
                reference_plan(maker, features, fx, now, allow_bid, allow_ask)
        if fill_side is not None:
            maker.note_fill(fill_side, now)


@settings(max_examples=300, deadline=None)
@given(specs, st.lists(st.one_of(st.integers(-2, 3), st.integers(1, 10**9), st.integers(90_000, 110_000)),
                       min_size=1, max_size=30))
def test_the_makers_kept_minimum_is_min_size_at_for_every_mid(spec, tick_counts):
    """plan() keeps min_size_at(mid) while the mid stays in the range of whole ticks that has the
    same minimum; whatever the order of mids, what it uses is what min_size_at says."""
    maker = Maker(Config().maker, spec)
    for count in tick_counts:
        mid = count / spec._price_scale
        ticks = round(mid * spec._price_scale)
        if ticks < maker._memo_lo_ticks or ticks > maker._memo_hi_ticks:
            maker._min_size_for(ticks)
        assert maker._memo_min_size == spec.min_size_at(mid), (count, mid)
        for edge in (maker._memo_lo_ticks, maker._memo_hi_ticks):    # the whole range agrees
            if 0 < edge < 1 << 62:
                assert spec.min_size_at(edge / spec._price_scale) == maker._memo_min_size


def test_per_side_adds_are_bounded_like_the_total_and_never_reach_the_mid():
    """A policy asking -1000 bps on one side gets the configured cut at most, and the side stays at least
    half the minimum spread from the mid (it once quoted 1 bps above the mid and was picked off)."""
    from rules.effects import NEUTRAL

    config = Config().maker
    maker = Maker(config, SOL)
    features = {"mid": 185.0, "vol_bps": 0.0, "best_bid": 184.99, "best_ask": 185.01}
    plain = maker.plan(features, NEUTRAL, 0.0)
    skewed = maker.plan(features, NEUTRAL._replace(bid_spread_add_bps=-1000.0, ask_spread_add_bps=-1000.0), 0.0)
    for quote, sign in ((skewed.bid, -1), (skewed.ask, +1)):
        distance_bps = sign * (quote.price / 185.0 - 1) * 1e4
        assert distance_bps >= config.min_spread_bps / 2 - 0.06          # one tick of rounding (0.054 bps)
    cut = config.max_spread_cut_bps
    half = plain.spread_bps / 2
    assert skewed.bid.price <= SOL.quantize_price(185.0 * (1 - max(half - cut, config.min_spread_bps / 2) * 1e-4),
                                                  "buy")
    wide = maker.plan(features, NEUTRAL._replace(ask_spread_add_bps=1000.0), 0.0)
    assert wide.ask.price <= SOL.quantize_price(185.0 * (1 + (half + config.max_spread_add_bps) * 1e-4), "sell")
