"""The Trader between a scripted feed and what it sends: the trace it writes, the requests it spends.

The feed is built by hand (book tops, venue status, budget reports, acknowledgements), so each
test states exactly what the venue said, and asserts what the bot sent and what its trace says.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lighter_bot import BotConfig
from paper_harness import POLICIES, config_with
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.events import BookTop, BudgetUpdate, Fill, OrderAccepted, OrderModified, OrderOpen, VenueStatus
from runtime.intents import CancelOrder, ModifyOrder, PlaceOrder
from runtime.market import market_spec
from runtime.trace import MemorySink, Trace
from runtime.trader import Trader

MARKET = market_spec(BotConfig().market)


def write_policy(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "p.yaml").write_text(text)
    return folder


def book(ts: float, mid: float) -> BookTop:
    return BookTop(ts, round(mid * (1 - 1e-4), 3), 5.0, round(mid * (1 + 1e-4), 3), 5.0)


class Feed:
    """A Trader fed by hand; `ack` answers every place and modify as a venue would, at once."""

    def __init__(self, trader: Trader):
        self.trader = trader
        self.sent: list = []

    def tick(self, now: float, *events) -> list:
        self.trader.on_events(list(events))
        intents = self.trader.tick(now)
        self.sent += intents
        acks = []
        for intent in intents:
            if isinstance(intent, PlaceOrder):
                acks += [OrderAccepted(now, intent.client_id, "tx"),
                         OrderOpen(now, intent.client_id, intent.side, intent.price, intent.size)]
            elif isinstance(intent, ModifyOrder):
                acks.append(OrderModified(now, intent.client_id, intent.price, intent.size))
        self.trader.on_events(acks)
        return intents


def make(policies: Path = POLICIES, config=None, modify: bool = True) -> tuple[Trader, MemorySink, Feed]:
    sink = MemorySink()
    trader = Trader(config or BotConfig(), MARKET, load_policy_set([policies], FEATURE_NAMES), trace=Trace(sink),
                    supports_modify=modify)
    return trader, sink, Feed(trader)


UP = VenueStatus(0.0, True, True, "test venue up")


# -- the trace --------------------------------------------------------------------------------------

def _paper_ticks(trace: Trace, ticks: int) -> list:
    """(intents, decision seq, records counted) after each tick of a paper run."""
    import asyncio

    from adapters.paper.venue import PaperVenue

    config = BotConfig()
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    asyncio.run(venue.start())
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES), trace=trace,
                    supports_modify=True)
    out = []
    for i in range(ticks):
        now = i * config.runtime.tick_interval_s
        trader.on_events(venue.drain(now))
        intents = trader.tick(now)
        venue.submit(intents, now)
        out.append((intents, trader._decision_seq, trader.trace.written))
    return out


def test_a_trader_on_the_null_sink_builds_no_record_and_decides_and_counts_as_one_that_keeps_them():
    """With the null sink no decision or other record is built (nobody reads them), yet every tick
    sends the same intents under the same decision numbers, and counts the same records written
    (replay's idle-tick detection reads that count), as a trader whose sink keeps every record."""
    sink = MemorySink()
    kept = _paper_ticks(Trace(sink), 4000)
    discarded = _paper_ticks(Trace(), 4000)
    assert discarded == kept
    kinds = {r["type"] for r in sink.records}
    assert {"decision", "order", "fill", "modify"} <= kinds     # the run exercised every builder



def test_a_change_of_an_expression_valued_effect_is_traced_and_later_orders_name_it(tmp_path):
    folder = write_policy(tmp_path / "p", """
policy: p
rules:
  - name: widen
    when: mid > 0
    then: {spread_add_bps: "clamp((mid - 185) * 4, 0, 20)"}
""")
    trader, sink, feed = make(folder)
    feed.tick(0.0, UP, book(0.0, 185.0))
    first = [r for r in sink.records if r["type"] == "decision"][-1]
    assert first["effects"] == {}                                       # 0 bps: neutral
    feed.tick(1.0, book(1.0, 185.75))                                   # same rule firing, the value moves to 3
    effects = [r for r in sink.records if r["type"] == "effects"]
    assert [r["effects"]["spread_add_bps"] for r in effects] == [pytest.approx(3.0)]
    assert effects[0]["seq"] == first["seq"] + 1
    feed.tick(5.0, book(5.0, 190.0))                                    # 20 bps (capped by the policy)
    assert [r["effects"]["spread_add_bps"] for r in sink.records if r["type"] == "effects"][-1] == 20
    last_effects = [r for r in sink.records if r["type"] == "effects"][-1]
    # Every order or modify sent after the move names the record that says 20.
    moved = [r for r in sink.records if r["type"] in ("order", "modify") and r["ts"] >= 5.0]
    assert moved and all(r["decision"] == last_effects["seq"] for r in moved)


def test_denials_state_changes_cancels_and_the_run_marker_are_traced(tmp_path):
    quiet = write_policy(tmp_path / "quiet", "policy: quiet\nrules:\n  - name: never\n    when: mid < 0\n"
                                             "    then: {pause: both}\n")
    trader, sink, feed = make(quiet, config=config_with(risk={"max_position_units": 0.1}))
    trader.on_events([UP, book(0.0, 185.0), Fill(0.0, 999, "buy", 185.0, 0.05, "taker", trade_id="x0", seq=1)])
    feed.tick(0.0)
    # 0.05 held + a 0.064 bid would be 0.114 > 0.1 in the worst case: the bid is denied, with its reason.
    denied = [r for r in sink.records if r["type"] == "denied"]
    assert [(r["reason"], r["intent"]) for r in denied] == [("max_position_units", "PlaceOrder")]
    assert not any(isinstance(i, PlaceOrder) and i.side == "buy" for i in feed.sent)
    trader.on_events([Fill(0.5, 998, "buy", 185.0, 0.1, "taker", trade_id="x1", seq=2)])   # now beyond the limit
    feed.tick(1.0, book(1.0, 185.0))
    kinds = [r["type"] for r in sink.records]
    assert kinds[0] == "run_start"
    state = [r for r in sink.records if r["type"] == "trading_state"]
    assert state and state[0]["state"] == "reducing" and "max_position_units" in state[0]["reason"]
    trader.operator("halt", "test")
    feed.tick(2.0, book(2.0, 185.0))
    assert [r["state"] for r in sink.records if r["type"] == "trading_state"][-1] == "halted"
    assert any(r["type"] == "cancel_all" for r in sink.records)


def test_nothing_is_quoted_before_the_venue_says_it_is_up():
    trader, sink, feed = make()
    assert feed.tick(0.0, book(0.0, 185.0)) == []
    assert not trader.venue_healthy
    assert any(isinstance(i, PlaceOrder) for i in feed.tick(0.25, UP, book(0.25, 185.0)))
    down = VenueStatus(0.5, False, False, "disconnected")
    intents = feed.tick(0.5, down)
    assert intents and all(isinstance(i, CancelOrder) for i in intents)   # pull everything
    assert [r for r in sink.records if r["type"] == "venue_status"][-1]["reason"] == "disconnected"


def test_a_book_resync_does_not_read_as_a_volatility_spike():
    trader, _, feed = make()
    feed.tick(0.0, UP)
    for i in range(1, 40):
        feed.tick(i * 0.5, book(i * 0.5, 185.0 + 0.001 * (i % 2)))
    calm = trader.features.values["vol_bps"]
    feed.tick(20.0, VenueStatus(20.0, True, False, "gap in the book"))
    feed.tick(25.0, VenueStatus(25.0, True, True, "resynced"), book(25.0, 186.5))   # 80 bps away after the gap
    feed.tick(25.5, book(25.5, 186.5))
    assert trader.features.values["vol_bps"] <= calm + 1.0


# -- budget-aware quoting ---------------------------------------------------------------------------

def resting_quotes(trader: Trader) -> dict[str, float]:
    return {side: trader.orders.quote(side).price for side in ("buy", "sell") if trader.orders.quote(side)}


def test_requotes_are_modifies_and_wait_out_the_minimum_quote_life():
    trader, _, feed = make()
    feed.tick(0.0, UP, book(0.0, 185.0))
    placed = [i for i in feed.sent if isinstance(i, PlaceOrder)]
    assert {p.side for p in placed} == {"buy", "sell"}
    min_life = trader.config.maker.min_quote_life_s
    # The mid drifts down 3 bps: the bid is now above where we want it (adverse): it moves at once.
    intents = feed.tick(0.5, book(0.5, 185.0 * (1 - 3e-4)))
    modified = {trader.orders.orders[i.client_id].side for i in intents if isinstance(i, ModifyOrder)}
    assert modified == {"buy"} and not any(isinstance(i, PlaceOrder) for i in intents)
    # The ask is merely less competitive: it waits for its minimum life, then moves.
    assert feed.tick(min_life - 0.25, book(min_life - 0.25, 185.0 * (1 - 3e-4))) == []
    later = feed.tick(min_life + 0.25, book(min_life + 0.25, 185.0 * (1 - 3e-4)))
    assert {trader.orders.orders[i.client_id].side for i in later if isinstance(i, ModifyOrder)} == {"sell"}


def test_without_modify_a_requote_is_a_cancel_and_a_place_in_one_batch():
    trader, _, feed = make(modify=False)
    feed.tick(0.0, UP, book(0.0, 185.0))
    intents = feed.tick(0.5, book(0.5, 185.0 * (1 - 3e-4)))
    assert [type(i) for i in intents] == [CancelOrder, PlaceOrder]


def test_a_low_budget_widens_the_tolerance_and_its_reserve_keeps_only_protective_moves():
    trader, _, feed = make()
    feed.tick(0.0, UP, book(0.0, 185.0))
    life = trader.config.maker.min_quote_life_s + 1.0
    # The mid rises 3 bps: our ask is now cheaper than wanted (it would be lifted: protective, it moves
    # whatever the budget), our bid merely lower than wanted (it waits while the budget is short).
    up = 185.0 * (1 + 3e-4)

    def sides(intents):
        return sorted(trader.orders.orders[i.client_id].side for i in intents if isinstance(i, ModifyOrder))

    assert sides(feed.tick(life, BudgetUpdate(life, 57, 60, 60.0), book(life, up))) == ["sell"]   # 5 % left
    # With 30 % left the tolerance has widened to about 2.2 x 1.5 bps: a 3 bps passive move still waits.
    assert sides(feed.tick(life + 0.1, BudgetUpdate(life, 42, 60, 60.0), book(life + 0.1, up))) == []
    # With half the budget left the tolerance is the configured one: the bid moves.
    assert sides(feed.tick(life + 0.25, BudgetUpdate(life, 30, 60, 60.0), book(life + 0.25, up))) == ["buy"]


# -- the requote memo: a reused trader moves its quotes exactly as one that recomputes -------------

def _plans():
    """Against live quotes placed at the first plan: better prices and a new size (the live quotes
    are less competitive: they move once their minimum life is over), worse prices by less than
    the tolerance (they stay), by more (they move at once), no bid (it is canceled)."""
    from runtime.maker import Quote, QuotePlan
    return (QuotePlan(Quote("buy", 149.9, 0.1), Quote("sell", 150.1, 0.1), 13.3, "", ""),
            QuotePlan(Quote("buy", 149.99, 0.1), Quote("sell", 150.01, 0.2), 1.3, "", ""),
            QuotePlan(Quote("buy", 149.88, 0.1), Quote("sell", 150.12, 0.1), 16.0, "", ""),
            QuotePlan(Quote("buy", 149.7, 0.1), Quote("sell", 150.3, 0.1), 40.0, "", ""),
            QuotePlan(None, Quote("sell", 150.1, 0.1), 13.3, "pause", ""))


_requote_steps = st.lists(st.tuples(
    st.booleans(), st.sampled_from([0, 0, 1, 2, 3, 4]), st.sampled_from([1.0, 1.0, 0.3, 0.05]),
    st.sampled_from([None, None, None, "open", "canceled", "unknown", "modified"]), st.booleans(),
    st.sampled_from([0.5, 1.0, 2.5, -1.0])), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(_requote_steps)
@example([(False, 0, 1.0, None, False, 1.0), (False, 1, 1.0, None, False, 1.0),
          (False, 1, 1.0, None, False, 2.5)])                                 # the minimum life ends
@example([(False, 0, 1.0, None, False, 1.0), (False, 1, 0.05, None, False, 4.0),
          (False, 1, 1.0, None, False, 0.5)])                                 # the budget recovers
@example([(False, 0, 1.0, None, False, 1.0), (False, 1, 1.0, None, False, 1.0),
          (False, 1, 1.0, None, True, 0.5)])                                  # a shorter minimum life
@example([(False, 0, 1.0, None, False, 1.0), (False, 2, 1.0, None, False, 1.0),
          (False, 3, 1.0, None, False, 0.5)])                                 # a new plan
def test_a_trader_reused_requote_after_requote_moves_as_one_that_recomputes(steps):
    """`_requote` returns [] again without weighing the quotes while the plan, the orders' version,
    the request budget and the config repeat and no quote's minimum life ended: a new plan, an order
    event, a budget change, a config reload or time passing (forward, or set back) must still give
    what a trader without the memo sends."""
    from runtime.events import OrderCanceled, OutcomeUnknown

    plans = _plans()
    configs = (config_with(), config_with(maker={"min_quote_life_s": 1.0}))
    traders = [make(config=configs[0])[0], make(config=configs[0])[0]]
    now, inputs = 100.0, None
    for repeat, *drawn, event, swap, dt in steps:
        if not repeat or inputs is None:
            inputs = drawn
        plan_index, budget = inputs
        now += dt
        if swap:
            config = configs[1] if traders[0].config is configs[0] else configs[0]
        for trader in traders:
            if swap:
                trader.config = config
            trader.features.values["venue_budget_frac"] = budget
            quotes = [o for o in trader.orders.orders.values() if o.purpose == "quote"]
            target = quotes[-1] if quotes else None
            if target is None:
                pass
            elif event == "open":
                for o in quotes:
                    trader.orders.apply(OrderOpen(now, o.client_id, o.side, o.price, o.size))
            elif event == "canceled":
                trader.orders.apply(OrderCanceled(now, target.client_id, "requested"))
            elif event == "unknown":
                trader.orders.apply(OutcomeUnknown(now, target.client_id, "place", "timeout"))
            elif event == "modified" and target.modify_to is not None:
                price, lots = target.modify_to
                trader.orders.apply(OrderModified(now, target.client_id, price, lots * MARKET.lot))
        traders[1]._requote_memo = None
        got, want = (trader._requote(plans[plan_index], 7, now) for trader in traders)
        assert got == want, (now, inputs, event)
        for trader, intents in zip(traders, (got, want)):
            for intent in intents:
                trader.register(intent, now, 7)
