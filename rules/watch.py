"""Change-driven condition evaluation: which feature moves can change a condition, and when.

Most ticks change no condition of a policy set: a feature moves, but stays on the same
side of every threshold a condition compares it with. So instead of running the fused
condition function (rules.codegen) every tick, the compiled set exports, for each
feature, the thresholds its single-feature comparisons depend on, and the engine runs
the function only when a feature has left the interval between thresholds it sat in,
when a rule or state it reads changed, or when a condition failed last time.

What counts as a single-feature comparison ("atom"): a comparison between constants and
one monotone expression of one feature, `vol_bps >= 30`, `vol_bps * 1.5 > 11`,
`abs(trend_bps) < 20`, `-3 < trend_bps - 1 <= 5`. Monotone means built from the
feature, constants, `+ - * /` by a constant, unary minus, and `min/max/clamp` with
constant other arguments: IEEE arithmetic is monotone in each of these, so the
comparison's truth flips at most once along the float line, and the flip point is
found exactly, at load time, by bisection over the floats with the comparison itself
as the oracle (no algebra that could round differently from the evaluation). `abs` is
allowed around the feature itself: each half of the line is then monotone.

Every other condition (several features in one comparison, `x ** 2`, a comparison of a
feature with a state var) is "opaque": it runs every tick in a small separate function
over just those conditions, and forces the full evaluation only if one of its values
changed. So nothing is ever decided from a guess: a condition is skipped only when its
inputs provably leave its value unchanged.
"""
from __future__ import annotations

import ast
import math
import struct
from bisect import bisect_left
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable, Mapping

from rules.expr import COMPILED_GLOBALS

_MAX = 1.7976931348623157e308
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_MONOTONE_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_MONOTONE_CALLS = ("min", "max", "_clamp")


@dataclass(frozen=True, slots=True)
class WatchPlan:
    """What the compiled set exports for change-driven evaluation.

    `thresholds`: feature -> the sorted floats where one of its atoms can flip (every
    comparison of a non-opaque condition that reads it is an atom). `opaque_slots`: the
    conditions that must be evaluated whenever a feature they read changes value at all;
    `opaque_features`: the features they read."""

    thresholds: dict[str, tuple[float, ...]]
    opaque_slots: tuple[int, ...]
    opaque_features: tuple[str, ...]


def plan_watch(lines: list[str]) -> WatchPlan:
    """Analyse every condition of a set (its compiled Python) into thresholds and opaque slots."""
    thresholds: dict[str, set[float]] = {}
    opaque_slots: list[int] = []
    opaque_features: set[str] = set()
    for slot, python in enumerate(lines):
        tree = ast.parse(python, mode="eval").body
        found: dict[str, set[float]] = {}
        if _collect(tree, found):
            for feature, points in found.items():
                thresholds.setdefault(feature, set()).update(points)
        else:
            opaque_slots.append(slot)
            opaque_features.update(name[2:] for name in _features(tree))
    return WatchPlan({f: tuple(sorted(p)) for f, p in sorted(thresholds.items())}, tuple(opaque_slots),
                     tuple(sorted(opaque_features)))


def _collect(node: ast.AST, found: dict[str, set[float]]) -> bool:
    """Add the thresholds of every atom under `node`; False if some feature is read outside an atom."""
    if isinstance(node, ast.Compare):
        return _compare(node, found)
    if isinstance(node, ast.Name):
        return not node.id.startswith("f_")       # r_/m_/v_: the engine knows when those change
    if isinstance(node, ast.BoolOp):
        return all(_collect(v, found) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _collect(node.operand, found)
    if isinstance(node, ast.IfExp):
        return all(_collect(n, found) for n in (node.test, node.body, node.orelse))
    return not any(isinstance(n, ast.Name) and n.id.startswith("f_") for n in ast.walk(node))


def _compare(node: ast.Compare, found: dict[str, set[float]]) -> bool:
    operands = [node.left, *node.comparators]
    for left, right in zip(operands, operands[1:]):
        feature_left, feature_right = _features(left), _features(right)
        if not feature_left and not feature_right:
            if not _names_ok(left) or not _names_ok(right):
                return False
            continue
        if feature_left and feature_right:
            return False
        atom, other = (left, right) if feature_left else (right, left)
        if len(feature_left | feature_right) != 1 or not _constant(other) or not _monotone(atom):
            return False
        feature = next(iter(feature_left | feature_right))[2:]
        bound = _evaluate(other)
        if not isinstance(bound, (int, float)) or not math.isfinite(bound):
            return False
        fn = _atom_function(atom)
        points = found.setdefault(feature, set())
        try:
            for pred in (lambda x: fn(x) < bound, lambda x: fn(x) <= bound):
                points.update(_flips(pred, _has_abs(atom)))
        except (ArithmeticError, TypeError, ValueError):
            return False        # not total on the floats: leave the condition to run every time
    return True


def _features(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id.startswith("f_")}


def _names_ok(node: ast.AST) -> bool:
    """A comparison of no feature may still read rules and states; those are the engine's to track."""
    return all(not (isinstance(n, ast.Name) and n.id.startswith("f_")) for n in ast.walk(node))


def _constant(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Name) for n in ast.walk(node))


def _monotone(node: ast.AST) -> bool:
    """One occurrence of one feature, under operations monotone in it (abs only right around it)."""
    if isinstance(node, ast.Name):
        return node.id.startswith("f_")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _monotone(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, _MONOTONE_BINOPS):
        if _constant(node.right):
            divisor = _evaluate(node.right) if isinstance(node.op, ast.Div) else 1.0
            return isinstance(divisor, (int, float)) and divisor != 0 and _monotone(node.left)
        # constant - x and constant + x, constant * x: monotone; constant / x is not
        return _constant(node.left) and not isinstance(node.op, ast.Div) and _monotone(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name == "abs" and len(node.args) == 1 and isinstance(node.args[0], ast.Name):
            return _monotone(node.args[0])
        if name in _MONOTONE_CALLS:
            variable = [a for a in node.args if not _constant(a)]
            if name == "_clamp" and node.args[0] is not (variable[0] if variable else None):
                return False
            return len(variable) == 1 and _monotone(variable[0])
    return False


def _has_abs(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "abs" for n in ast.walk(node))


def _evaluate(node: ast.AST) -> Any:
    try:
        return eval(compile(ast.Expression(node), "<threshold>", "eval"), dict(COMPILED_GLOBALS))  # noqa: S307
    except ArithmeticError:
        return math.nan


def _atom_function(atom: ast.AST) -> Callable[[float], Any]:
    """The atom as a function of its one feature, compiled exactly as the fused function computes it."""
    renamed = ast.fix_missing_locations(_Rename().visit(ast.parse(ast.unparse(atom), mode="eval")))
    source = f"lambda x: {ast.unparse(renamed.body)}"
    return eval(compile(source, "<threshold>", "eval"), dict(COMPILED_GLOBALS))  # noqa: S307


class _Rename(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(id="x", ctx=ast.Load()) if node.id.startswith("f_") else node


def _ordinal(x: float) -> int:
    """Floats as integers in the same order (-0.0 and 0.0 are the same point)."""
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _float(n: int) -> float:
    return struct.unpack("<d", struct.pack("<q", n if n >= 0 else -n | -0x8000000000000000))[0]


def _flips(pred: Callable[[float], bool], split_at_zero: bool) -> list[float]:
    """The first float (in order) where a monotone predicate differs from its value below it;
    on each half of the line when the atom is monotone only per half (abs)."""
    spans = [(_ordinal(-_MAX), 0), (0, _ordinal(_MAX))] if split_at_zero else [(_ordinal(-_MAX), _ordinal(_MAX))]
    out = [0.0] if split_at_zero else []
    for lo, hi in spans:
        low_value = bool(pred(_float(lo)))
        if bool(pred(_float(hi))) == low_value:
            continue
        while hi - lo > 1:          # invariant: pred(lo) == low_value != pred(hi)
            mid = (lo + hi) // 2
            if bool(pred(_float(mid))) == low_value:
                lo = mid
            else:
                hi = mid
        out.append(_float(hi))
    return out


def feature_getter(names: tuple[str, ...]) -> Callable[[Mapping[str, float]], tuple]:
    """A C-level reader of `names` that always returns a tuple."""
    if not names:
        return lambda features: ()
    if len(names) == 1:
        name = names[0]
        return lambda features: (features[name],)
    return itemgetter(*names)


class ConditionWatch:
    """Per tick: has any watched feature left the interval its atoms were last evaluated in?

    Each feature's region is an open interval (lo, hi) between two consecutive thresholds,
    or around one float when the value sits exactly on a threshold (then lo and hi are its
    neighbours). The check is one generated expression, `B[0] < F['vol_bps'] < B[1] and ...`,
    over a list of bounds that `settle` rewrites in place. A value that is not finite (NaN,
    inf) never sits inside a region: its conditions run every tick."""

    __slots__ = ("_names", "_thresholds", "_get", "bounds", "inside")

    def __init__(self, thresholds: Mapping[str, tuple[float, ...]]):
        self._names = tuple(thresholds)
        self._thresholds = tuple(thresholds[name] for name in self._names)
        self._get = feature_getter(self._names)
        self.bounds = [math.inf, -math.inf] * len(self._names)   # nothing is inside before settle()
        checks = " and ".join(f"B[{2 * k}] < F[{name!r}] < B[{2 * k + 1}]" for k, name in enumerate(self._names))
        namespace: dict[str, Any] = {"__builtins__": {}}
        exec(f"def _inside(F, B):\n    return {checks or 'True'}", namespace)  # noqa: S102 - catalog names only
        self.inside = namespace["_inside"]

    def moved(self, features: Mapping[str, float]) -> bool:
        return not self.inside(features, self.bounds)
        # (the engine calls `inside(features, bounds)` itself: one call per tick instead of two)

    def upper(self, name: str) -> float:
        """The upper end of the region `name` sits in (inf when no condition compares it)."""
        try:
            return self.bounds[2 * self._names.index(name) + 1]
        except ValueError:
            return math.inf

    def settle(self, features: Mapping[str, float]) -> None:
        """Record the regions of the current values (after the conditions were evaluated on them)."""
        bounds, thresholds = self.bounds, self._thresholds
        low = 0
        for value in self._get(features):
            if not bounds[low] < value < bounds[low + 1]:    # only a feature that left its region
                bounds[low], bounds[low + 1] = _region(value, thresholds[low // 2])
            low += 2


def _region(value: float, points: tuple[float, ...]) -> tuple[float, float]:
    if value != value or value in (math.inf, -math.inf):
        return math.inf, -math.inf
    i = bisect_left(points, value)
    if i < len(points) and points[i] == value:
        return math.nextafter(value, -math.inf), math.nextafter(value, math.inf)
    return (points[i - 1] if i > 0 else -math.inf), (points[i] if i < len(points) else math.inf)


class OpaqueWatch:
    """The opaque conditions: re-run (in their own small function) whenever a feature they read
    changed value; the full evaluation is needed only when one of their values changed.

    Invariant: after `record` (every full evaluation) the features and values kept here are
    the ones the engine's last condition values were computed from."""

    __slots__ = ("_function", "_get", "_slots", "_features", "_values")

    def __init__(self, function: Callable[..., tuple] | None, features: tuple[str, ...], slots: tuple[int, ...]):
        self._function = function
        self._get = feature_getter(features)
        self._slots = _getter_index(slots)
        self._features: tuple | None = None
        self._values: tuple | None = None

    def moved(self, features: Mapping[str, float], status: list, current: list, variables: list) -> bool:
        if self._function is None:
            return False
        seen = self._get(features)
        if seen == self._features:
            return False
        values = self._function(features, status, current, variables)
        if values != self._values:
            return True
        self._features = seen
        return False

    def record(self, features: Mapping[str, float], conditions: tuple) -> None:
        if self._function is not None:
            self._features = self._get(features)
            self._values = self._slots(conditions)


def _getter_index(slots: tuple[int, ...]) -> Callable[[tuple], tuple]:
    if not slots:
        return lambda conditions: ()
    if len(slots) == 1:
        slot = slots[0]
        return lambda conditions: (conditions[slot],)
    return itemgetter(*slots)
