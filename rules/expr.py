"""The policy expression language: checked once at load time, compiled for the hot path.

The language is simpleeval's (comparisons, `and`/`or`/`not`, arithmetic,
`x if c else y`, `abs/min/max/clamp`), which stays the reference semantics:
`reference_eval` runs an expression through simpleeval and a property test
checks the compiled form agrees with it. The checker here is stricter than
simpleeval so that nothing unsafe or unbounded survives to run time:

- names must be catalog features, the policy's params, or True/False;
- no attribute access, subscripts, dunders, lambdas, comprehensions, literals of
  containers, keyword arguments or walrus;
- `**` only with a literal (or param) exponent of at most MAX_EXPONENT, so
  `9**9**9` is refused before it can run;
- expressions are short (MAX_SOURCE_CHARS, MAX_NODES), so evaluation is bounded.

Compiling rewrites the checked tree: features become local variables, params are
inlined as constants, and `active("x")`/`in_state("m", "s")`/`state_var("m", "v")`
become variables the set compiler names (rules.ruleset) and the generated code binds
(rules.codegen).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Callable, Mapping

from simpleeval import SimpleEval

from rules.errors import ExpressionError

# Keeps x ** n cheap and finite-ish for any feature value a market can produce.
MAX_EXPONENT = 8
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


def check_and_compile(source: str | int | float | bool, features: frozenset[str],
                      params: Mapping[str, float | bool], linker: Linker | None) -> CompiledExpr:
    """Check `source` against the sandbox and compile it; raise ExpressionError if it is outside."""
    if isinstance(source, bool) or isinstance(source, (int, float)):
        value = source if isinstance(source, bool) else float(source)
        if not isinstance(value, bool) and not math.isfinite(value):
            raise ExpressionError("expected a finite number")
        return CompiledExpr(str(source).lower() if isinstance(source, bool) else str(source), repr(value), (), True)
    text = str(source).strip()
    if not text:
        raise ExpressionError("expected an expression, got an empty string")
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"expression is {len(text)} characters; at most {MAX_SOURCE_CHARS} allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression syntax: {exc.msg}", exc.offset or 0) from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ExpressionError(f"expression has {nodes} parts; at most {MAX_NODES} allowed")
    rewriter = _Rewriter(features, params, linker)
    body = rewriter.visit(tree.body)
    python = ast.unparse(body)
    return CompiledExpr(text, python, tuple(sorted(rewriter.features_used)),
                        not rewriter.features_used and not rewriter.linked, tuple(sorted(rewriter.params_used)))


class _Rewriter(ast.NodeTransformer):
    """Validates every node (whitelist) and rewrites names into compiled form."""

    def __init__(self, features: frozenset[str], params: Mapping[str, float | bool], linker: Linker | None):
        self.features = features
        self.params = params
        self.linker = linker
        self.features_used: set[str] = set()
        self.params_used: set[str] = set()
        self.linked = False

    def generic_visit(self, node: ast.AST) -> ast.AST:
        raise ExpressionError(_describe_forbidden(node), getattr(node, "col_offset", 0) + 1)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or isinstance(node.value, (int, float)):
            return node
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
