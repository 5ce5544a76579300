"""The decision trace on disk: every line JSON, orders traceable to decisions, rotation bounded."""
from __future__ import annotations

import json

from runtime.service.trace_file import KEEP_ROTATED, JsonlFileSink
from runtime.trace import Trace
from runtime.events import Fill
from runtime.intents import PlaceOrder


def test_orders_and_fills_carry_the_decision_that_caused_them(tmp_path):
    sink = JsonlFileSink(tmp_path / "d.jsonl")
    log = Trace(sink)
    log.decision({"seq": 7, "ts": 1.0, "policy_version": "abc", "active": [], "states": {},
                  "effects": {"size_cap_units": float("inf")}, "errors": {}})
    log.order(PlaceOrder(11, "buy", 184.9, 0.061, "post_only", "quote", decision=7), 1.0)
    log.fill(Fill(2.0, 11, "buy", 184.9, 0.061, "maker"), "quote")
    sink.close()
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [r["type"] for r in lines] == ["decision", "order", "fill"]
    assert lines[1]["decision"] == lines[0]["seq"] == 7
    assert lines[0]["effects"]["size_cap_units"] == "inf"     # JSON has no inf; still one valid line


def test_rotation_keeps_the_newest_lines_and_a_bounded_number_of_files(tmp_path):
    path = tmp_path / "d.jsonl"
    sink = JsonlFileSink(path, max_bytes=2000)
    log = Trace(sink)
    for i in range(1000):
        log.event("tick", n=i)
    sink.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != "d.jsonl")
    assert rotated == [f"d.jsonl.{i}" for i in range(1, KEEP_ROTATED + 1)]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    last = [json.loads(line)["n"] for line in path.read_text().splitlines()]
    assert last[-1] == 999
    previous = [json.loads(line)["n"] for line in (tmp_path / "d.jsonl.1").read_text().splitlines()]
    assert previous[-1] + 1 == last[0]   # nothing lost between files


def test_records_reach_the_file_when_flushed_and_rotation_still_splits_between_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    sink = JsonlFileSink(path, max_bytes=2000)
    log = Trace(sink)
    log.event("tick", n=0)
    assert path.read_text() == ""            # kept until the tick's intents went out
    log.flush()
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [0]
    for i in range(1, 200):                  # one flush spanning several rotations
        log.event("tick", n=i)
    log.flush()
    log.event("tick", n=200)
    sink.close()                             # close writes what is still kept
    files = [tmp_path / f"d.jsonl.{i}" for i in range(KEEP_ROTATED, 0, -1)] + [path]
    numbers = [json.loads(line)["n"] for p in files if p.exists() for line in p.read_text().splitlines()]
    assert numbers == list(range(numbers[0], 201))
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_the_loop_writes_each_ticks_records_after_the_tick(tmp_path):
    """The driver flushes after every tick: what a tick traced is on disk when the tick's observers run."""
    import asyncio

    from adapters.paper.venue import PaperVenue
    from lighter_bot import BotConfig
    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES
    from runtime.market import market_spec
    from runtime.service.loop import SimulatedClock, run_trader
    from runtime.trader import Trader

    from paper_harness import POLICIES

    config = BotConfig()
    path = tmp_path / "d.jsonl"
    sink = JsonlFileSink(path)
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES), trace=Trace(sink),
                    supports_modify=venue.supports_modify)
    seen = []
    asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=0.25, duration_s=30.0,
                           after_tick=lambda now: seen.append((sink._pending == [], path.read_text().count("\n")))))
    assert all(flushed for flushed, _ in seen)
    assert seen[0][1] > 0 and "run_start" in path.read_text().splitlines()[0]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert "cancel_all" in [r["type"] for r in records]        # the shutdown's records are written too,
    assert records[-1]["type"] == "venue_status" and records[-1]["connected"] is False   # to the last one
    sink.close()


def test_a_full_disk_never_stops_trading_nor_desynchronizes_what_was_sent(tmp_path, caplog):
    """/dev/full fails every write: the bot trades on, counts the failures, and every order it booked is
    an order the venue received."""
    import asyncio
    import logging

    from adapters.paper.venue import PaperVenue
    from lighter_bot import BotConfig
    from paper_harness import POLICIES
    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES
    from runtime.intents import PlaceOrder
    from runtime.market import market_spec
    from runtime.service.loop import SimulatedClock, run_trader
    from runtime.trader import Trader

    config = BotConfig()
    sink = JsonlFileSink("/dev/full")
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES), trace=Trace(sink),
                    supports_modify=venue.supports_modify)
    received = []
    submit = venue.submit

    def counting_submit(intents, now):
        received.extend(i for i in intents if isinstance(i, PlaceOrder))
        submit(intents, now)

    venue.submit = counting_submit
    with caplog.at_level(logging.ERROR, logger="lighter_bot.trace"):
        summary = asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=0.25, duration_s=120.0))
    assert summary.reason == "duration reached" and summary.ticks >= 480
    assert sink.write_errors_total > 0 and "cannot write the decision trace" in caplog.text
    assert trader.orders.placed_total == len(received) > 0
    assert trader.orders.fills_total > 0
    sink.close()


def test_a_torn_last_line_is_ended_not_glued_to_the_next_run(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"type":"run_start","ts":0}\n{"type":"order","ts":1,"cli')   # a crash mid-line
    sink = JsonlFileSink(path)
    Trace(sink).event("run_start", ts=5.0)
    sink.close()
    lines = path.read_text().splitlines()
    assert lines[1] == '{"type":"order","ts":1,"cli'                      # left as it was, ended
    assert json.loads(lines[2]) == {"type": "run_start", "ts": 5.0}
