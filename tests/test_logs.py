"""Log output of `lighter-bot run`: held while a tick turns events into intents, then written in order."""
from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.service import logs


class ListHandler(logging.Handler):
    def __init__(self, out: list):
        super().__init__()
        self.out = out
        self.setFormatter(logging.Formatter(logs.LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append(("log", record.levelname, self.format(record)))


@pytest.fixture
def deferred():
    """A DeferredHandler on the `lighter_bot` logger, registered as `configure` registers it
    (under pytest the root logger already has a handler, so `configure` itself does nothing)."""
    out: list = []
    handler = logs.DeferredHandler(ListHandler(out))
    logger = logging.getLogger("lighter_bot")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs._installed.append(handler)
    yield out
    logs._installed.remove(handler)
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_held_records_are_written_in_order_at_release_with_their_message_as_made(deferred):
    log = logging.getLogger("lighter_bot.test")
    log.info("before")
    logs.hold_output()
    items, effects = [1], {"size_mult": 0.7}
    log.info("held %s", items)
    log.info("held %s %.1f", effects, 2.0)
    items.append(2)                       # changing an argument later does not change the line
    effects["size_mult"] = 0.5
    log.warning("held warning")
    assert [line for _, _, line in deferred] == [deferred[0][2]] and deferred[0][2].endswith("before")
    logs.release_output()
    assert [line.split(": ", 1)[1] for _, _, line in deferred] == \
        ["before", "held [1]", "held {'size_mult': 0.7} 2.0", "held warning"]
    log.info("after")                     # not holding any more: straight out
    assert deferred[-1][2].endswith("after")


def test_errors_go_out_at_once_after_what_was_held(deferred):
    log = logging.getLogger("lighter_bot.test")
    logs.hold_output()
    log.info("first")
    log.error("broken")
    assert [line.split(": ", 1)[1] for _, _, line in deferred] == ["first", "broken"]
    log.info("still held")
    assert len(deferred) == 2
    logs.release_output()
    assert deferred[-1][2].endswith("still held")


def test_configure_does_nothing_when_the_root_logger_already_has_a_handler():
    assert logging.getLogger().handlers          # pytest's capture
    assert logs.configure("INFO", logging.NullHandler()) is None


def test_configure_then_unconfigure_puts_logging_back():
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    flags = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    out: list = []
    root.handlers.clear()
    try:
        handler = logs.configure("INFO", ListHandler(out))
        assert handler is not None and root.handlers == [handler] and root.level == logging.INFO
        logging.getLogger("lighter_bot.test").info("configured")
        assert out[-1][2].endswith(" INFO lighter_bot.test: configured")     # LOG_FORMAT
        logs.unconfigure(handler)
        assert (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing) == flags
        assert handler not in logs._installed
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_the_loop_writes_a_ticks_log_lines_after_its_intents_were_submitted(deferred):
    """Including a fill drained between ticks that wakes the loop: its line waits for the
    intents of the tick it caused."""
    from adapters.paper.venue import PaperVenue
    from lighter_bot import BotConfig
    from rules.loader import load_policy_set
    from runtime.catalog import FEATURE_NAMES
    from runtime.market import market_spec
    from runtime.service.loop import SimulatedClock, run_trader
    from runtime.trader import Trader

    from paper_harness import POLICIES

    config = BotConfig()
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES),
                    supports_modify=venue.supports_modify)
    handler = logs._installed[-1]
    submit = venue.submit
    held_at_submit = []

    def submit_marking(intents, now):
        held = [record.getMessage() for record in handler._held or []]
        if any(message.startswith(("fill ", "decision ")) for message in held):
            held_at_submit.append((len(deferred), held))
        deferred.append(("submit",))
        submit(intents, now)

    venue.submit = submit_marking
    asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=0.25, duration_s=600.0))
    assert held_at_submit, "nothing logged during a tick in ten minutes of paper trading"
    assert any(message.startswith("fill ") for _, held in held_at_submit for message in held)
    for at, held in held_at_submit:
        # Made during the tick, kept until its intents were submitted, then written right after, in order.
        assert deferred[at] == ("submit",)
        assert [line.split(": ", 1)[1] for _, _, line in deferred[at + 1:at + 1 + len(held)]] == held
