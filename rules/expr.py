"""The policy expression language: checked once at load time, compiled for the hot path.

The language is simpleeval's (comparisons, `and`/`or`/`not`, arithmetic,
`x if c else y`, `abs/min/max/clamp`), which stays the reference semantics:
`reference_eval` runs an expression through simpleeval and a property test
checks the compiled form agrees with it. The checker here is stricter than
simpleeval so that nothing unsafe or unbounded survives to run time:

- names must be catalog features, the policy's params, or True/False;
- no attribute access, subscripts, dunders, lambdas, comprehensions, literals of
  containers, keyword arguments or walrus;
- `**` only with a literal (or param) exponent of at most MAX_EXPONENT;
- expressions are short (MAX_SOURCE_CHARS, MAX_NODES).

Evaluation is bounded by construction. Every number is a float at run time
(integer literals and params are converted when compiling), so no operation can
build a huge integer: each of the at most MAX_NODES operations costs O(1). And every
expression's magnitude is bounded at load time by interval arithmetic over the
feature ranges of the catalog (`features` maps each name to its (low, high)), the
literals and the params: an expression any of whose parts could exceed
MAX_MAGNITUDE (a power tower such as `((9)**8)**8`, `book_age_s ** 4`, a 400-digit
literal) is refused with its bound. Division by a range that includes zero is the
one unbounded operation (it can give inf); at run time every arithmetic failure
(division by zero, overflow, a complex power) is a rule error, never an escape
(rules.codegen wraps each such expression).

Compiling rewrites the checked tree: features become local variables, params are
inlined as constants, and `active("x")`/`in_state("m", "s")`/`state_var("m", "v")`
become variables the set compiler names (rules.ruleset) and the generated code binds
(rules.codegen).
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import AbstractSet, Callable, Mapping, Union

from simpleeval import SimpleEval

from rules.errors import ExpressionError

# Keeps x ** n cheap and finite-ish for any feature value a market can produce.
MAX_EXPONENT = 8
# No part of an expression may be able to exceed this magnitude (quote currency, bps, seconds
# and counts all sit far below it); a literal or param beyond it is refused too.
MAX_MAGNITUDE = 1e15
# The range of a feature when the caller gives names without ranges (and of a state var): unknown,
# so only what literals and params alone compute is bounded.
DEFAULT_RANGE = (-math.inf, math.inf)

# The names policies may use: a mapping of each to its value range, or just the names.
FeatureCatalog = Union[Mapping[str, tuple[float, float]], AbstractSet[str]]
# An expression is a condition a trader reads at a glance; longer ones belong in two rules.
MAX_SOURCE_CHARS = 600
MAX_NODES = 200

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Mod: "%", ast.Pow: "**"}
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_UNARY = (ast.Not, ast.USub, ast.UAdd)
# name -> (min args, max args, number of leading string-literal args)
_FUNCTIONS = {
    "abs": (1, 1, 0),
    "min": (2, 8, 0),
    "max": (2, 8, 0),
    "clamp": (3, 3, 0),
    "active": (1, 1, 1),
    "in_state": (2, 2, 2),
    "state_var": (2, 2, 2),
}
_CONSTANT_NAMES = {"True": True, "False": False, "true": True, "false": False}


def clamp(x: float, lo: float, hi: float) -> float:
    """`x` limited to [lo, hi] (defined as min(max(x, lo), hi) in both evaluators)."""
    return min(max(x, lo), hi)


@dataclass(frozen=True, slots=True)
class Linker:
    """How references to other rules and state machines become variable names.

    Each callback returns the identifier the compiled code should read, or raises
    ExpressionError when the reference is unknown (e.g. a misspelt rule name).
    """

    rule: Callable[[str], str]
    state: Callable[[str, str], str]
    state_var: Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class CompiledExpr:
    """A checked expression and the Python source it compiles to."""

    source: str
    python: str                      # a Python expression over local names
    features: tuple[str, ...]        # catalog features it reads (for traces)
    constant: bool                   # True when it reads no feature and no rule/state
    params: tuple[str, ...] = ()     # policy params it inlined (for change detection on reload)


def finite_number(value: object) -> float:
    """`value` as a float within ±MAX_MAGNITUDE, or ExpressionError saying what is wrong with it."""
    try:
        number = float(value)
    except OverflowError:
        raise ExpressionError(f"number too large (at most {MAX_MAGNITUDE:g} in magnitude)") from None
    if not math.isfinite(number):
        raise ExpressionError(f"expected a finite number, got {value!r}")
    if abs(number) > MAX_MAGNITUDE:
        raise ExpressionError(f"number {number:g} is too large (at most {MAX_MAGNITUDE:g} in magnitude)")
    return number


def check_and_compile(source: str | int | float | bool, features: FeatureCatalog,
                      params: Mapping[str, float | bool], linker: Linker | None) -> CompiledExpr:
    """Check `source` against the sandbox and compile it; raise ExpressionError if it is outside.

    `features` maps each catalog name to its value range (a plain set of names means
    DEFAULT_RANGE for each)."""
    if isinstance(source, bool) or isinstance(source, (int, float)):
        value = source if isinstance(source, bool) else finite_number(source)
        return CompiledExpr(str(source).lower() if isinstance(source, bool) else str(value), repr(value), (), True)
    text = str(source).strip()
    if not text:
        raise ExpressionError("expected an expression, got an empty string")
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"expression is {len(text)} characters; at most {MAX_SOURCE_CHARS} allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression syntax: {exc.msg}", exc.offset or 0) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # A 5000-digit literal (ValueError) or parentheses nested too deep for the parser.
        raise ExpressionError(f"expression cannot be read: {type(exc).__name__}: {exc}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ExpressionError(f"expression has {nodes} parts; at most {MAX_NODES} allowed")
    rewriter = _Rewriter(features, params, linker)
    try:
        body = rewriter.visit(tree.body)
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None
    ranges = features if isinstance(features, Mapping) else {}
    _Bounds(ranges).check(body)
    python = ast.unparse(body)
    return CompiledExpr(text, python, tuple(sorted(rewriter.features_used)),
                        not rewriter.features_used and not rewriter.linked, tuple(sorted(rewriter.params_used)))


class _Rewriter(ast.NodeTransformer):
    """Validates every node (whitelist) and rewrites names into compiled form."""

    def __init__(self, features: FeatureCatalog, params: Mapping[str, float | bool], linker: Linker | None):
        self.features = features
        self.params = params
        self.linker = linker
        self.features_used: set[str] = set()
        self.params_used: set[str] = set()
        self.linked = False

    def generic_visit(self, node: ast.AST) -> ast.AST:
        raise ExpressionError(_describe_forbidden(node), getattr(node, "col_offset", 0) + 1)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool):
            return node
        if isinstance(node.value, (int, float)):
            try:
                return ast.Constant(finite_number(node.value))   # floats only at run time: no big integers
            except ExpressionError as exc:
                raise ExpressionError(exc.message, node.col_offset + 1) from None
        if isinstance(node.value, str):
            raise ExpressionError("text literals are only allowed as names in active()/in_state()/state_var()",
                                  node.col_offset + 1)
        raise ExpressionError(f"unsupported literal {node.value!r}", node.col_offset + 1)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        name = node.id
        if name.startswith("__") or name.endswith("__"):
            raise ExpressionError(f"dunder names like {name!r} are not allowed", node.col_offset + 1)
        if name in _CONSTANT_NAMES:
            return ast.Constant(_CONSTANT_NAMES[name])
        if name in self.params:
            self.params_used.add(name)
            return _const(self.params[name])
        if name in self.features:
            self.features_used.add(name)
            return ast.Name(id=f"f_{name}", ctx=ast.Load())
        if name in _FUNCTIONS:
            raise ExpressionError(f"{name} is a function; call it like {name}(...)", node.col_offset + 1)
        raise ExpressionError(f"unknown name {name!r}: expected a catalog feature (see `lighter-bot features`) "
                              f"or a param of this policy", node.col_offset + 1)

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        return ast.BoolOp(op=node.op, values=[self.visit(v) for v in node.values])

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if not isinstance(node.op, _UNARY):
            raise ExpressionError("unsupported unary operator", node.col_offset + 1)
        return ast.UnaryOp(op=node.op, operand=self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if type(node.op) not in _BINOPS:
            raise ExpressionError("unsupported operator (bitwise and matrix operators are not allowed)",
                                  node.col_offset + 1)
        left = self.visit(node.left)
        right = self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            exponent = right.value if isinstance(right, ast.Constant) else None
            if isinstance(right, ast.UnaryOp) and isinstance(right.operand, ast.Constant):
                exponent = -right.operand.value if isinstance(right.op, ast.USub) else right.operand.value
            if not isinstance(exponent, (int, float)) or isinstance(exponent, bool) or abs(exponent) > MAX_EXPONENT:
                raise ExpressionError(f"'**' needs a literal exponent between -{MAX_EXPONENT} and {MAX_EXPONENT} "
                                      f"(huge powers like 9**9**9 could run forever)", node.col_offset + 1)
        return ast.BinOp(left=left, op=node.op, right=right)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        for op in node.ops:
            if not isinstance(op, _CMPOPS):
                raise ExpressionError("unsupported comparison (use <, <=, >, >=, ==, !=)", node.col_offset + 1)
        return ast.Compare(left=self.visit(node.left), ops=node.ops,
                           comparators=[self.visit(c) for c in node.comparators])

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        return ast.IfExp(test=self.visit(node.test), body=self.visit(node.body), orelse=self.visit(node.orelse))

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(_describe_forbidden(node.func), node.col_offset + 1)
        name = node.func.id
        if name.startswith("__"):
            raise ExpressionError(f"dunder names like {name!r} are not allowed", node.col_offset + 1)
        if name not in _FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r}: expected one of {', '.join(sorted(_FUNCTIONS))}",
                                  node.col_offset + 1)
        if node.keywords:
            raise ExpressionError(f"{name}() takes no keyword arguments", node.col_offset + 1)
        lo, hi, n_text = _FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExpressionError(f"{name}() takes {want} arguments, got {len(node.args)}", node.col_offset + 1)
        if n_text:
            texts = []
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise ExpressionError(f"{name}() takes quoted names, like {name}(\"pnl_guard.guard\")",
                                          node.col_offset + 1)
                texts.append(arg.value)
            return self._link(name, texts, node.col_offset + 1)
        return ast.Call(func=ast.Name(id=name if name != "clamp" else "_clamp", ctx=ast.Load()),
                        args=[self.visit(a) for a in node.args], keywords=[])

    def _link(self, name: str, texts: list[str], column: int) -> ast.AST:
        if self.linker is None:
            raise ExpressionError(f"{name}() is not available here", column)
        self.linked = True
        try:
            if name == "active":
                return ast.Name(id=self.linker.rule(texts[0]), ctx=ast.Load())
            if name == "in_state":
                return ast.Name(id=self.linker.state(texts[0], texts[1]), ctx=ast.Load())
            return ast.Name(id=self.linker.state_var(texts[0], texts[1]), ctx=ast.Load())
        except ExpressionError as exc:
            raise ExpressionError(exc.message, column) from None


class _Bounds:
    """Interval arithmetic over a compiled expression: the range each part can take, given the
    features' ranges. Refuses any part whose bound exceeds MAX_MAGNITUDE (see the module doc)."""

    def __init__(self, ranges: Mapping[str, tuple[float, float]]):
        self.ranges = ranges

    def check(self, node: ast.AST) -> tuple[float, float]:
        return self._visit(node)

    def _visit(self, node: ast.AST) -> tuple[float, float]:
        method = getattr(self, f"_{type(node).__name__}", None)
        lo, hi = method(node) if method is not None else (-math.inf, math.inf)
        for bound in (lo, hi):
            if math.isfinite(bound) and abs(bound) > MAX_MAGNITUDE:
                raise ExpressionError(f"'{_show(node)}' can reach {bound:.3g}; expressions are bounded to "
                                      f"{MAX_MAGNITUDE:g} in magnitude (feature ranges: `lighter-bot features`)",
                                      getattr(node, "col_offset", 0) + 1)
        return lo, hi

    def _Constant(self, node: ast.Constant) -> tuple[float, float]:
        value = float(node.value)
        return value, value

    def _Name(self, node: ast.Name) -> tuple[float, float]:
        kind, _, rest = node.id.partition("_")
        if kind == "f":
            return self.ranges.get(rest, DEFAULT_RANGE)
        if kind in ("r", "m"):
            return 0.0, 1.0            # a rule's or a state's truth
        return DEFAULT_RANGE           # a state var

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[float, float]:
        lo, hi = self._visit(node.operand)
        if isinstance(node.op, ast.Not):
            return 0.0, 1.0
        return (-hi, -lo) if isinstance(node.op, ast.USub) else (lo, hi)

    def _BinOp(self, node: ast.BinOp) -> tuple[float, float]:
        a, b = self._visit(node.left), self._visit(node.right)
        op = node.op
        if isinstance(op, ast.Add):
            return a[0] + b[0], a[1] + b[1]
        if isinstance(op, ast.Sub):
            return a[0] - b[1], a[1] - b[0]
        if isinstance(op, ast.Mult):
            return _hull(_mul(x, y) for x in a for y in b)
        if isinstance(op, (ast.Div, ast.FloorDiv)):
            if b[0] <= 0.0 <= b[1]:
                return -math.inf, math.inf      # division by a range that includes zero: unbounded
            return _hull(x / y for x in a for y in b)
        if isinstance(op, ast.Mod):
            m = max(abs(b[0]), abs(b[1]))
            return -m, m
        return self._power(a, node.right)

    def _power(self, base: tuple[float, float], exponent_node: ast.AST) -> tuple[float, float]:
        exponent = _literal(exponent_node)
        if exponent is None:
            return -math.inf, math.inf
        even = exponent >= 0 and float(exponent).is_integer() and int(exponent) % 2 == 0
        if (base[0] >= 0.0 or even) and exponent >= 0:
            low = 0.0 if base[0] <= 0.0 <= base[1] else min(abs(base[0]), abs(base[1]))
            try:
                return low ** exponent, max(abs(base[0]), abs(base[1])) ** exponent
            except OverflowError:
                return 0.0, 1e308 if math.isfinite(base[1]) and math.isfinite(base[0]) else math.inf
        magnitude = max(abs(base[0]), abs(base[1]))
        if exponent < 0:
            if base[0] <= 0.0 <= base[1]:
                return -math.inf, math.inf
            magnitude = max(abs(base[0]) ** exponent, abs(base[1]) ** exponent)
        else:
            try:
                magnitude = magnitude ** exponent
            except OverflowError:
                magnitude = math.inf
        if magnitude == math.inf and math.isfinite(base[0]) and math.isfinite(base[1]):
            magnitude = 1e308        # finite operands that overflow: refused by the magnitude check
        return -magnitude, magnitude

    def _Compare(self, node: ast.Compare) -> tuple[float, float]:
        self._visit(node.left)
        for comparator in node.comparators:
            self._visit(comparator)
        return 0.0, 1.0

    def _BoolOp(self, node: ast.BoolOp) -> tuple[float, float]:
        return _hull(bound for value in node.values for bound in self._visit(value))   # `a or b` returns a or b

    def _IfExp(self, node: ast.IfExp) -> tuple[float, float]:
        self._visit(node.test)
        return _hull((*self._visit(node.body), *self._visit(node.orelse)))

    def _Call(self, node: ast.Call) -> tuple[float, float]:
        args = [self._visit(arg) for arg in node.args]
        name = node.func.id
        if name == "abs":
            lo, hi = args[0]
            return (0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))
        if name == "min":
            return min(a[0] for a in args), min(a[1] for a in args)
        if name == "max":
            return max(a[0] for a in args), max(a[1] for a in args)
        return _hull(bound for a in args for bound in a)   # _clamp(x, lo, hi) lies within them


def _show(node: ast.AST) -> str:
    """A compiled part as the trader wrote it: feature names without their prefix, 8 not 8.0."""
    return re.sub(r"\b(\d+)\.0\b", r"\1", re.sub(r"\bf_(\w+)", r"\1", ast.unparse(node)))


def _mul(x: float, y: float) -> float:
    if x == 0.0 or y == 0.0:
        return 0.0                                     # 0 * inf is 0 here: a zero range stays zero
    product = x * y
    if math.isinf(product) and math.isfinite(x) and math.isfinite(y):
        return math.copysign(1e308, product)           # finite parts that overflow: refused
    return product


def _hull(bounds) -> tuple[float, float]:
    values = list(bounds)
    return min(values), max(values)


def _literal(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        value = float(node.operand.value)
        return -value if isinstance(node.op, ast.USub) else value
    return None


def _const(value: float | bool) -> ast.AST:
    """A literal node; negative numbers as unary minus so `ast.unparse` parenthesises `(-5.0) ** 2`."""
    if not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(op=ast.USub(), operand=ast.Constant(-value))
    return ast.Constant(value)


def _describe_forbidden(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"attribute access ('.{node.attr}') is not allowed in policy expressions"
    if isinstance(node, ast.Subscript):
        return "indexing ('[...]') is not allowed in policy expressions"
    if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return "lambdas and comprehensions are not allowed in policy expressions"
    if isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Set)):
        return "lists, tuples, dicts and sets are not allowed in policy expressions"
    if isinstance(node, ast.NamedExpr):
        return "assignment (':=') is not allowed in policy expressions"
    if isinstance(node, ast.JoinedStr):
        return "f-strings are not allowed in policy expressions"
    return f"{type(node).__name__} is not allowed in policy expressions"


# Globals every compiled policy function runs with: no builtins beyond these.
COMPILED_GLOBALS: dict[str, object] = {"__builtins__": {}, "abs": abs, "min": min, "max": max, "_clamp": clamp}


def reference_eval(source: str, names: Mapping[str, object], rule_status: Mapping[str, bool] | None = None,
                   states: Mapping[str, str] | None = None,
                   state_vars: Mapping[tuple[str, str], float] | None = None) -> object:
    """Evaluate `source` with simpleeval: the slow, obviously-correct reference semantics."""
    rule_status = rule_status or {}
    states = states or {}
    state_vars = state_vars or {}
    functions = {
        "abs": abs, "min": min, "max": max, "clamp": clamp,
        "active": lambda name: rule_status[name],
        "in_state": lambda machine, state: states[machine] == state,
        "state_var": lambda machine, var: state_vars[(machine, var)],
    }
    merged = {**_CONSTANT_NAMES, **names}
    return SimpleEval(functions=functions, names=merged).eval(source)
