"""The dependency rules of the folder tree, checked on the source (ast), not by convention.

- Neither `rules/` nor `runtime/` imports `adapters/`: only the composition root
  (`lighter_bot.py`) wires a venue in, so the core runs against any adapter or a fake.
- `rules/` never imports `runtime/`: the policy language knows nothing of the bot.
- The trading core (`runtime/*.py`, not `runtime/service/`) is pure: it never imports the
  service, an adapter, or a module that does I/O, runs threads or an event loop, or reads
  a clock, and calls no `open`/`print`/`input`. A replay, a sweep worker or a test can
  then drive it with nothing but events and a `now`.
- Nothing under `rules/` or the core reads the wall clock: time is an argument, which is
  what lets policy tests and replays drive the engine on a synthetic clock.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RULES = sorted((REPO / "rules").rglob("*.py"))
RUNTIME = sorted((REPO / "runtime").rglob("*.py"))
CORE = sorted((REPO / "runtime").glob("*.py"))
SERVICE = sorted((REPO / "runtime" / "service").rglob("*.py"))

# What the core may not import: the service, the adapters and the composition root, and every
# module whose job is I/O, concurrency or time. (logging is allowed: it is how the core reports.)
CORE_FORBIDDEN = (
    "runtime.service", "adapters", "lighter_bot",
    "asyncio", "threading", "_thread", "multiprocessing", "concurrent", "queue", "subprocess", "signal",
    "socket", "ssl", "select", "selectors", "http", "urllib", "httpx", "websockets", "aiohttp", "watchfiles",
    "prometheus_client", "os", "io", "pathlib", "shutil", "tempfile", "sqlite3", "time", "datetime",
)
CORE_FORBIDDEN_CALLS = ("open", "print", "input", "exec", "eval", "breakpoint")

# Calls that read the wall clock (module, attribute).
CLOCK_READS = {
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "monotonic_ns"),
    ("time", "perf_counter"), ("time", "perf_counter_ns"), ("time", "localtime"), ("time", "gmtime"),
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
}


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module a file imports: import statements, plus importlib/__import__ with a literal name."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def clock_reads(tree: ast.AST) -> list[str]:
    """`time.time()`, `datetime.now()`, `datetime.datetime.now()`, and names imported from `time`."""
    found = []
    from_time = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            from_time.update(alias.asname or alias.name for alias in node.names
                             if ("time", alias.name) in CLOCK_READS)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) \
                else ""
            if (owner_name, func.attr) in CLOCK_READS:
                found.append(f"line {node.lineno}: {owner_name}.{func.attr}()")
        elif isinstance(func, ast.Name) and func.id in from_time:
            found.append(f"line {node.lineno}: {func.id}()")
    return found


def forbidden_imports(modules: set[str], forbidden: tuple[str, ...] = CORE_FORBIDDEN) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def forbidden_calls(tree: ast.AST) -> list[str]:
    return [f"line {node.lineno}: {node.func.id}()" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CORE_FORBIDDEN_CALLS]


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_packages_exist():
    assert RULES and RUNTIME and CORE and SERVICE
    assert {p.name for p in CORE} >= {"events.py", "intents.py", "ports.py", "features.py", "maker.py", "hedger.py",
                                      "risk.py", "orders.py", "trader.py", "trace.py"}


@pytest.mark.parametrize("path", CORE, ids=rel)
def test_core_imports_no_service_adapter_io_or_clock_module(path):
    bad = forbidden_imports(imported_modules(parse(path)))
    assert not bad, f"{rel(path)} imports {bad}; the trading core must stay pure (no I/O, threads, asyncio, clock)"


@pytest.mark.parametrize("path", CORE, ids=rel)
def test_core_calls_no_io_builtins(path):
    calls = forbidden_calls(parse(path))
    assert not calls, f"{rel(path)} calls {calls}; the core writes through sinks, never to files or stdout"


@pytest.mark.parametrize("path", CORE, ids=rel)
def test_core_never_reads_the_wall_clock(path):
    reads = clock_reads(parse(path))
    assert not reads, f"{rel(path)} reads the wall clock ({', '.join(reads)}); pass `now` in instead"


@pytest.mark.parametrize("path", sorted((REPO / "adapters").rglob("*.py")), ids=rel)
def test_adapters_never_import_the_service(path):
    bad = forbidden_imports(imported_modules(parse(path)), ("runtime.service", "lighter_bot"))
    assert not bad, f"{rel(path)} imports {bad}; adapters plug into the core's ports, not into the service"


@pytest.mark.parametrize("path", RULES + RUNTIME, ids=rel)
def test_core_never_imports_adapters(path):
    bad = sorted(m for m in imported_modules(parse(path)) if m == "adapters" or m.startswith("adapters."))
    assert not bad, f"{rel(path)} imports {bad}; only lighter_bot.py may wire adapters in"


@pytest.mark.parametrize("path", RULES, ids=rel)
def test_rules_never_import_runtime(path):
    bad = sorted(m for m in imported_modules(parse(path)) if m == "runtime" or m.startswith("runtime."))
    assert not bad, f"{rel(path)} imports {bad}; the policy language must not depend on the bot"


@pytest.mark.parametrize("path", RULES, ids=rel)
def test_rules_never_read_the_wall_clock(path):
    reads = clock_reads(parse(path))
    assert not reads, f"{rel(path)} reads the wall clock ({', '.join(reads)}); pass `now` in instead"


# -- the checks themselves catch what they are meant to catch ------------------------------------

@pytest.mark.parametrize("source", [
    "import asyncio", "import threading", "from runtime.service.loop import run_trader", "import os.path",
    "from pathlib import Path", "import time", "from http import server", "import lighter_bot",
    "import importlib\nimportlib.import_module('runtime.service.app')",
])
def test_purity_check_sees_forbidden_modules(source):
    assert forbidden_imports(imported_modules(ast.parse(source)))


@pytest.mark.parametrize("source", ["import json", "import math", "from runtime.events import Fill",
                                    "import logging", "from runtime.services_x import y"])
def test_purity_check_allows_pure_modules(source):
    assert not forbidden_imports(imported_modules(ast.parse(source)))


def test_io_call_check_sees_open_and_print():
    assert sorted(forbidden_calls(ast.parse("with open('f') as f: pass\nprint(1)"))) == ["line 1: open()", "line 2: print()"]
    assert not forbidden_calls(ast.parse("self.open()\nsink.write(x)"))

@pytest.mark.parametrize("source", [
    "import adapters",
    "import adapters.paper.venue as v",
    "from adapters import open_venue",
    "from adapters.paper import PaperVenue",
    "import importlib\nimportlib.import_module('adapters.paper')",
    "from importlib import import_module\nimport_module('adapters')",
    "__import__('adapters')",
    "def f():\n    from adapters import x",
])
def test_import_check_sees_every_form(source):
    assert any(m.startswith("adapters") for m in imported_modules(ast.parse(source)))


def test_import_check_ignores_relative_and_unrelated_imports():
    assert imported_modules(ast.parse("from . import adapters\nimport json")) == {"json"}


@pytest.mark.parametrize("source", [
    "import time\ntime.time()",
    "import time\ntime.monotonic()",
    "from time import time\ntime()",
    "from time import monotonic as clock\nclock()",
    "import datetime\ndatetime.datetime.now()",
    "from datetime import datetime\ndatetime.now()",
    "from datetime import datetime\ndatetime.utcnow()",
])
def test_clock_check_sees_every_form(source):
    assert clock_reads(ast.parse(source))


def test_clock_check_allows_time_arithmetic():
    assert not clock_reads(ast.parse("import time\ntime.sleep(0)\nnow = evaluate(now=1.0)"))
