"""Run the real bot (Trader + loop + paper exchange) on a simulated clock, recording what happened."""
from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from adapters.paper.venue import PaperVenue
from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from lighter_bot import BotConfig as Config
from runtime.events import Fill
from runtime.service.loop import SimulatedClock, run_trader
from runtime.market import market_spec
from runtime.trace import MemorySink, Trace
from runtime.trader import Trader

REPO = Path(__file__).resolve().parent.parent
POLICIES = REPO / "policies"


@dataclass(frozen=True)
class TickView:
    """What a trader watching the venue would see after one tick: the rules firing, the mid, the
    venue's position and its open orders (with the purpose our tracker knows them by)."""

    ts: float
    firing: frozenset
    mid: float
    position: float
    open_orders: tuple          # (client_id, side, price, size, purpose)
    requests_in_window: int


@dataclass
class PaperRun:
    trader: Trader
    venue: PaperVenue
    records: list = field(default_factory=list)               # the decision trace
    ticks: list = field(default_factory=list)                 # TickView per tick
    firing: Counter = field(default_factory=Counter)          # rule -> ticks firing
    gauge_values: dict = field(default_factory=lambda: defaultdict(set))
    fills_by_side: Counter = field(default_factory=Counter)
    max_abs_inventory: float = 0.0
    max_abs_notional: float = 0.0
    venue_positions: list = field(default_factory=list)


def config_with(**sections) -> Config:
    """Defaults with some sections overridden, validated like config.yaml would be."""
    data = Config().model_dump()
    for section, values in sections.items():
        node = data
        *parents, last = section.split(".")
        for part in parents:
            node = node[part]
        node[last] = {**node[last], **values} if isinstance(values, dict) else values
    return Config.model_validate(data)


def run_paper(config: Config, seconds: float, policies: Path = POLICIES, shadow: Path | None = None) -> PaperRun:
    compiled = load_policy_set([policies], FEATURE_NAMES)
    shadow_set = load_policy_set([shadow], FEATURE_NAMES) if shadow else None
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    sink = MemorySink()
    trader = Trader(config, venue.market, compiled, shadow=shadow_set, supports_modify=venue.supports_modify,
                    trace=Trace(sink))
    run = PaperRun(trader, venue, records=sink.records)
    original_on_events = trader.on_events

    def on_events(events):
        for event in events:
            if isinstance(event, Fill):
                run.fills_by_side[event.side] += 1
        original_on_events(events)

    trader.on_events = on_events

    def after_tick(now: float) -> None:
        values = trader.features.values
        for rule in trader.policies.firing():
            run.firing[rule] += 1
        for name, value in trader.policies.gauges().items():
            run.gauge_values[name].add(value)
        known = trader.orders.orders
        run.ticks.append(TickView(
            now, frozenset(trader.policies.firing()), values["mid"], venue.position_units,
            tuple((o.client_id, o.side, o.price, o.remaining_size,
                   known[o.client_id].purpose if o.client_id in known else "unknown") for o in venue.open_orders()),
            venue.requests_in_window))
        run.max_abs_inventory = max(run.max_abs_inventory, abs(venue.position_units))
        run.max_abs_notional = max(run.max_abs_notional, abs(venue.position_units) * values["mid"])

    asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=config.runtime.tick_interval_s,
                           duration_s=seconds, after_tick=after_tick))
    return run
