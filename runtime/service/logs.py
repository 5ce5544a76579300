"""How `lighter-bot run` logs: one handler on the root logger, in LOG_FORMAT, whose output waits
while a tick turns venue events into intents.

Formatting a record and writing it to stderr costs more than a quiet tick's whole trading
work, and it lands on exactly the ticks that matter (a fill, a new decision). So the driver
loop holds log output from the venue's events to the submission of the tick's intents
(`hold_output` / `release_output` in runtime/service/loop.py): records made meanwhile keep
their creation time and their message (numbers and strings are kept as they are, a dict
of them is copied, and a record with any other argument is formatted when it is made, so
nothing changed afterwards can alter a line) and are written, in order, right after the
intents went out. ERROR and above are written at once, after whatever was held before them.
Outside ticks (start-up, reloads, shutdown, other threads while no tick runs) records
go straight out.

The fields logging collects for formats that name them (caller file and line, thread,
process) are not collected: LOG_FORMAT names none of them.
"""
from __future__ import annotations

import logging

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


class DeferredHandler(logging.Handler):
    """Passes records to `target`, except that between `hold()` and `release()` it keeps
    them (ERROR and above still go out at once, after what was kept)."""

    def __init__(self, target: logging.Handler):
        super().__init__()
        self.target = target
        self._held: list[logging.LogRecord] | None = None
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
        if args:
            kept = _keep(args)
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
            for record in held:
                handle(record)

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
    return handler


def unconfigure(handler: DeferredHandler | None) -> None:
    """Undo `configure` (benchmarks and tests that configure and then put things back)."""
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    if handler in _installed:
        _installed.remove(handler)
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
