"""The dependency rules of the folder tree, checked on the source (ast), not by convention.

- Neither `rules/` nor `runtime/` imports `adapters/`: only the composition root
  (`lighter_bot.py`) wires a venue in, so the core runs against any adapter or a fake.
- `rules/` never imports `runtime/`: the policy language knows nothing of the bot.
- Nothing under `rules/` reads the wall clock: time is an argument, which is what lets
  policy tests and replays drive the engine on a synthetic clock.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RULES = sorted((REPO / "rules").rglob("*.py"))
RUNTIME = sorted((REPO / "runtime").rglob("*.py"))

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


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_packages_exist():
    assert RULES and RUNTIME


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
