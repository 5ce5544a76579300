"""How `lighter-bot run` logs: one handler on the root logger, in LOG_FORMAT, whose output waits
while a tick turns venue events into intents.

Making a log record, formatting it and writing it to stderr costs more than a quiet tick's
whole trading work, and it lands on exactly the ticks that matter (a fill, a new decision).
So the driver loop holds log output from the venue's events to the submission of the
tick's intents (`hold_output` / `release_output` in runtime/service/loop.py). Meanwhile a
call on one of the bot's own loggers (`lighter_bot.*`) is only noted: logger, level,
message, arguments and the time; any other record is kept as made. Right after the intents
went out, the noted calls become records exactly as they would have been then (same time,
same fields) and everything is written in the order it was logged.

A message's arguments are kept as they are when they are numbers or strings and copied
when they are a dict of those; a call with any other argument (or with exception or stack
information) makes its record at once and fixes its message then, so nothing changed
afterwards can alter a line. ERROR and above are written at once, after whatever was held
before them. Outside ticks (start-up, reloads, shutdown, other threads while no tick runs)
records go straight out.

The fields logging collects for formats that name them (caller file and line, thread,
process) are not collected: LOG_FORMAT names none of them.
"""
from __future__ import annotations

import logging
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What `configure` switches off (the record fields LOG_FORMAT does not show); `unconfigure` restores them.
_FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")

# Deferring handlers installed by `configure` (normally one); hold/release act on these.
_installed: list[DeferredHandler] = []

_PLAIN = frozenset({str, int, float, bool, type(None)})


def _keep(args: object) -> tuple | None:
    """`args` as they format now and will format when written: plain numbers and strings as
    they are, a dict of them copied; None when some argument is anything else."""
    if type(args) is not tuple:
        return None
    kept = None
    for i, arg in enumerate(args):
        kind = type(arg)
        if kind in _PLAIN:
            continue
        if kind is dict and all(type(k) in _PLAIN and type(v) in _PLAIN for k, v in arg.items()):
            if kept is None:
                kept = list(args)
            kept[i] = dict(arg)
            continue
        return None
    return args if kept is None else tuple(kept)


def _record(logger: logging.Logger, level: int, msg: object, args: tuple, extra: dict | None,
            created: float) -> logging.LogRecord:
    """What Logger._log would have made at `created` for a noted call (with no caller lookup,
    as configured)."""
    record = logger.makeRecord(logger.name, level, "(unknown file)", 0, msg, args, None, "(unknown function)",
                               extra, None)
    _retime(record, created)
    return record


def _retime(record: logging.LogRecord, created: float) -> None:
    """Give `record` the time fields LogRecord.__init__ derives from time.time() == `created`."""
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    record.relativeCreated = (created - logging._startTime) * 1000


def _noting_log(logger: logging.Logger, handler: DeferredHandler):
    """A replacement for `logger._log` (what info(), warning(), log() ... call once the level
    is enabled) that notes the call while `handler` holds output, and otherwise, or when the
    call cannot wait (an error, exception or stack information, a message or an argument
    that could change), makes the record at once as Logger._log does."""
    make_now = logger._log
    now = time.time

    def _log(level, msg, args, exc_info=None, extra=None, stack_info=False, stacklevel=1):
        if handler._held is not None and level < logging.ERROR and type(msg) is str and not exc_info \
                and not stack_info:
            kept = _keep(args) if args else args
            if kept is not None:
                # A noted call is a plain tuple (cheaper to make than any object): see _pass_on.
                call = (logger, level, msg, kept, dict(extra) if extra else None, now())
                handler.acquire()
                try:
                    held = handler._held
                    if held is not None:
                        held.append(call)
                        return
                finally:
                    handler.release()
        make_now(level, msg, args, exc_info, extra, stack_info, stacklevel)

    return _log


class DeferredHandler(logging.Handler):
    """Passes records to `target`, except that between `hold()` and `release()` it keeps
    them (ERROR and above still go out at once, after what was kept)."""

    def __init__(self, target: logging.Handler):
        super().__init__()
        self.target = target
        # Held output in order: records, and noted calls as tuples (see _noting_log).
        self._held: list | None = None
        self.saved_flags: tuple = ()

    def emit(self, record: logging.LogRecord) -> None:
        held = self._held
        if held is None:
            self.target.handle(record)
            return
        if record.levelno >= logging.ERROR:
            self._pass_on()
            self._held = []
            self.target.handle(record)
            return
        args = record.args
        if args or type(record.msg) is not str:
            kept = _keep(args) if type(record.msg) is str else None
            if kept is not None:
                record.args = kept
            else:
                # An argument that could still change: the message it gives now is fixed now
                # (as logging.handlers.QueueHandler does).
                try:
                    record.msg = record.getMessage()
                    record.args = None
                except Exception:
                    self.handleError(record)
                    return
        held.append(record)

    def hold(self) -> None:
        self.acquire()
        try:
            if self._held is None:
                self._held = []
        finally:
            self.release()

    def release_held(self) -> None:
        self.acquire()
        try:
            self._pass_on()
        finally:
            self.release()

    def _pass_on(self) -> None:
        held, self._held = self._held, None
        if held:
            handle = self.target.handle
            for item in held:
                if type(item) is tuple:       # a noted call: its record goes through its logger's handlers
                    item[0].handle(_record(*item))
                else:
                    handle(item)

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        self.release_held()
        self.target.close()
        super().close()


def configure(level: str | int, target: logging.Handler) -> DeferredHandler | None:
    """What `logging.basicConfig(level=level, format=LOG_FORMAT, handlers=[...])` does, with
    `target` (stderr for `lighter-bot run`) behind a DeferredHandler. Like basicConfig it
    does nothing when the root logger already has a handler (a test's capture, say)."""
    root = logging.getLogger()
    if root.handlers:
        return None
    target.setFormatter(logging.Formatter(LOG_FORMAT))
    handler = DeferredHandler(target)
    handler.saved_flags = tuple(getattr(logging, name) for name in _FLAGS)
    logging._srcfile = None          # no caller lookup per record (the logging HOWTO's "Optimization")
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root.addHandler(handler)
    root.setLevel(level)
    _installed.append(handler)
    for logger in _bot_loggers():
        logger._log = _noting_log(logger, handler)
    return handler


def _bot_loggers() -> list[logging.Logger]:
    """The bot's loggers that exist (every module of the bot has made its own by now)."""
    loggers = logging.Logger.manager.loggerDict
    return [logger for name, logger in list(loggers.items())
            if (name == "lighter_bot" or name.startswith("lighter_bot.")) and isinstance(logger, logging.Logger)]


def unconfigure(handler: DeferredHandler | None) -> None:
    """Undo `configure` (benchmarks and tests that configure and then put things back)."""
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    if handler in _installed:
        _installed.remove(handler)
    for logger in _bot_loggers():
        logger.__dict__.pop("_log", None)
    handler.close()
    for name, value in zip(_FLAGS, handler.saved_flags):
        setattr(logging, name, value)


def hold_output() -> None:
    """Keep log output until `release_output()` (the loop: the venue's events to the intents' submission)."""
    for handler in _installed:
        handler.hold()


def release_output() -> None:
    for handler in _installed:
        handler.release_held()
