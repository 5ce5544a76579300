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


@pytest.fixture
def configured(monkeypatch):
    """`configure` as `lighter-bot run` does it, on a root logger cleared of pytest's capture, with
    a clock the test moves; everything is put back afterwards."""
    clock = [1_700_000_000.125]
    monkeypatch.setattr(logging.time, "time", lambda: clock[0])
    logging.getLogger("lighter_bot.test")          # the bot's loggers exist before configure, as in the CLI
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers.clear()
    out: list = []
    handler = logs.configure("INFO", ListHandler(out))
    try:
        yield out, clock
    finally:
        logs.unconfigure(handler)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def test_calls_noted_during_a_tick_become_the_records_they_would_have_been(configured):
    out, clock = configured
    bot, other = logging.getLogger("lighter_bot.test"), logging.getLogger("somelib")
    assert "_log" in vars(bot) and "_log" not in vars(other)     # only the bot's own calls are noted
    logs.hold_output()
    bot.info("fill %s %.4f @ %.4f", "buy", 0.061, 184.87)
    clock[0] += 0.25
    other.warning("a library speaks up")          # not the bot's: recorded at once, kept in order
    clock[0] += 0.25
    effects = {"size_mult": 0.7}
    bot.info("effects %s", effects)
    effects["size_mult"] = 0.5                    # later changes do not reach the line
    as_message = {"a": [1]}
    bot.info(as_message)                          # a message that is an object: fixed now
    as_message["a"].append(2)
    clock[0] += 0.25
    bot.warning("state %s", "reducing", extra={"event": "trading_state"})
    assert out == []
    clock[0] += 10.0                              # written later, stamped when logged
    logs.release_output()
    times = [logging.Formatter().formatTime(logging.makeLogRecord({"created": t, "msecs": (t % 1) * 1000}))
             .split(" ", 1)[1] for t in (1_700_000_000.125, 1_700_000_000.375, 1_700_000_000.625, 1_700_000_000.875)]
    assert [line.split(" ", 1)[1] for _, _, line in out] == [
        f"{times[0]} INFO lighter_bot.test: fill buy 0.0610 @ 184.8700",
        f"{times[1]} WARNING somelib: a library speaks up",
        f"{times[2]} INFO lighter_bot.test: effects {{'size_mult': 0.7}}",
        f"{times[2]} INFO lighter_bot.test: {{'a': [1]}}",
        f"{times[3]} WARNING lighter_bot.test: state reducing"]


def test_a_noted_call_gets_the_time_fields_logrecord_would_give_it():
    made = logging.LogRecord("lighter_bot.x", logging.INFO, "(unknown file)", 0, "m", (), None)
    later = logging.LogRecord("lighter_bot.x", logging.INFO, "(unknown file)", 0, "m", (), None)
    logs._retime(later, made.created)
    assert (later.created, later.msecs, later.relativeCreated) == (made.created, made.msecs, made.relativeCreated)


def test_errors_and_exceptions_are_not_noted_but_written_in_order(configured):
    out, clock = configured
    bot = logging.getLogger("lighter_bot.test")
    logs.hold_output()
    bot.info("first")
    try:
        raise ValueError("boom")
    except ValueError:
        bot.warning("caught", exc_info=True)      # made at once (the exception is only there now), held
    bot.error("broken")                           # out at once, after what was held
    assert [line.split(": ", 1)[1].splitlines()[0] for _, _, line in out] == ["first", "caught", "broken"]
    assert "ValueError: boom" in out[1][2]
    logs.release_output()


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
        assert all("_log" not in vars(logger) for logger in logs._bot_loggers())
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def _message(item) -> str:
    return item.getMessage() if isinstance(item, logging.LogRecord) else str(item[2]) % item[3]


def test_the_loop_writes_a_ticks_log_lines_after_its_intents_were_submitted(configured):
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

    deferred, _ = configured
    config = BotConfig()
    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    trader = Trader(config, venue.market, load_policy_set([POLICIES], FEATURE_NAMES),
                    supports_modify=venue.supports_modify)
    handler = logs._installed[-1]
    submit = venue.submit
    held_at_submit = []

    def submit_marking(intents, now):
        held = [_message(item) for item in handler._held or []]
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
