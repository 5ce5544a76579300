"""Check a policy folder in a child process that can be abandoned.

A saved file is untrusted input. The checker bounds what it accepts (rules.expr, rules.source),
but a reload must survive even a bug in those bounds: the folder is read and checked in a
child process with a memory limit, and a check that takes longer than `timeout_s` is
abandoned by killing the child. The bot's own process never runs a check it could not stop,
and a SIGTERM never waits for one.

The child answers with the exact texts it checked, so the running bot compiles those texts
(never a re-read of the folder, which may have changed since) and what goes live is what
was checked.
"""
from __future__ import annotations

import logging
import multiprocessing
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from rules.errors import InputError, Problem
from rules.loader import load_texts, policy_files, read_policy_texts

log = logging.getLogger("lighter_bot.reload")

COMPILE_TIMEOUT_S = 2.0            # a real folder checks in ~15 ms
COMPILE_MEMORY_BYTES = 1 << 30     # address space of the child (Python itself needs a few hundred MB)


@dataclass(frozen=True)
class CheckResult:
    """The texts that passed (path, text), or the problems that rejected them."""

    texts: tuple[tuple[str, str], ...] | None
    problems: tuple[Problem, ...]


def check_folder(folder: Path, features: dict[str, tuple[float, float]]) -> CheckResult:
    """Read and check every policy file of `folder` (what the child runs; also usable in-process)."""
    if not policy_files([folder]):
        return CheckResult(None, (Problem(folder, 0, 0, "", "no policy files (*.yaml): an empty set would turn every "
                                                            "guard off; the last good set keeps trading"),))
    try:
        texts = [(str(path), text) for path, text in read_policy_texts([folder])]
        load_texts(texts, features)
    except InputError as exc:
        return CheckResult(None, tuple(exc.problems))
    return CheckResult(tuple(texts), ())


def _serve(conn: Connection, features: dict[str, tuple[float, float]], memory_bytes: int) -> None:
    """The child: check each folder it is sent until the pipe closes."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError):
        pass   # a lower hard limit already applies
    while True:
        try:
            folder = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = check_folder(Path(folder), features)
        except BaseException as exc:   # noqa: BLE001 - MemoryError and RecursionError included
            result = CheckResult(None, (Problem(folder, 0, 0, "", f"check failed: {type(exc).__name__}: {exc}"),))
        conn.send(result)


class CompileWorker:
    """One child process checking folders on request; killed and replaced when it overruns."""

    def __init__(self, features, timeout_s: float = COMPILE_TIMEOUT_S, memory_bytes: int = COMPILE_MEMORY_BYTES):
        self.features = dict(features) if hasattr(features, "items") else {name: (float("-inf"), float("inf"))
                                                                             for name in features}
        self.timeout_s = timeout_s
        self.memory_bytes = memory_bytes
        self._context = multiprocessing.get_context("spawn")   # no fork of a process with threads
        self._process = None
        self._conn: Connection | None = None

    def start(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child, self.features, self.memory_bytes),
                                              name="policy-check", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def check(self, folder: Path) -> CheckResult:
        """Blocking (call from a thread): the child's verdict on `folder`, or a timeout problem."""
        self.start()
        try:
            self._conn.send(str(folder))
            if self._conn.poll(self.timeout_s):
                return self._conn.recv()
            reason = f"checking took longer than {self.timeout_s:g}s and was abandoned"
        except (EOFError, OSError, BrokenPipeError) as exc:
            reason = f"the checking process died ({type(exc).__name__}); it is restarted for the next save"
        self.close()
        return CheckResult(None, (Problem(folder, 0, 0, "", reason),))

    def close(self) -> None:
        """Kill the child at once (a stop never waits for a check)."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if process is not None and process.is_alive():
            process.kill()
            process.join(1.0)
