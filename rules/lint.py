"""Warnings about policies that load but cannot behave as their author meant.

A rule whose `until` can hold at the same moment as its `when` fires and releases in the
same step wherever both hold (unless `keep_for` holds it): nothing can observe it there, no
gauge moves, no effect applies. The seed's own down-trend guard has that shape when its
trigger is moved one unit. This module finds it for the conditions it can read exactly:
conjunctions of comparisons between one feature and a number. Anything else is not judged.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass

from rules.ruleset import CompiledSet

# A bound: (value, inclusive). Intervals are (low bound, high bound).
_Bound = tuple[float, bool]
_Interval = tuple[_Bound, _Bound]
_FULL: _Interval = ((-math.inf, False), (math.inf, False))


@dataclass(frozen=True)
class LintWarning:
    location: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.rule}: {self.message}"


def lint(compiled: CompiledSet) -> list[LintWarning]:
    out = []
    for rule in compiled.rules:
        if rule.until_python is None or rule.keep_for_s > 0 or rule.keep_for_var is not None:
            continue
        when, until = _regions(rule.when_python), _regions(rule.until_python)
        if when is None or until is None:
            continue
        both = _intersect(when, until)
        if both is None:
            continue
        where = " and ".join(f"{name} in {_show(interval)}" for name, interval in sorted(both.items())) or "always"
        out.append(LintWarning(rule.location, rule.key,
                            f"`when` and `until` can hold together ({where}): there the rule fires and releases in "
                            "the same step and cannot be observed; leave a gap between them (hysteresis) or add "
                            "keep_for"))
    return out


def _regions(python: str) -> dict[str, _Interval] | None:
    """feature -> interval where the condition holds, for a conjunction of single-feature comparisons."""
    try:
        tree = ast.parse(python, mode="eval").body
    except SyntaxError:
        return None
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    regions: dict[str, _Interval] = {}
    for part in parts:
        found = _comparison(part)
        if found is None:
            return None
        for name, interval in found:
            merged = _meet(regions.get(name, _FULL), interval)
            if merged is None:
                return {name: ((math.inf, False), (-math.inf, False))}   # never holds
            regions[name] = merged
    return regions


def _comparison(node: ast.AST) -> list[tuple[str, _Interval]] | None:
    if not isinstance(node, ast.Compare):
        return None
    operands = [node.left, *node.comparators]
    out = []
    for left, op, right in zip(operands, node.ops, operands[1:]):
        name, value, flipped = _feature_and_number(left, right)
        if name is None:
            return None
        kind = type(op)
        if flipped:
            kind = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}.get(kind, kind)
        if kind is ast.Lt:
            out.append((name, ((-math.inf, False), (value, False))))
        elif kind is ast.LtE:
            out.append((name, ((-math.inf, False), (value, True))))
        elif kind is ast.Gt:
            out.append((name, ((value, False), (math.inf, False))))
        elif kind is ast.GtE:
            out.append((name, ((value, True), (math.inf, False))))
        else:
            return None
    return out


def _feature_and_number(left: ast.AST, right: ast.AST) -> tuple[str | None, float, bool]:
    for a, b, flipped in ((left, right, False), (right, left, True)):
        if isinstance(a, ast.Name) and a.id.startswith("f_"):
            number = _number(b)
            if number is not None:
                return a.id[2:], number, flipped
    return None, 0.0, False


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return -inner if inner is not None else None
    return None


def _meet(a: _Interval, b: _Interval) -> _Interval | None:
    low = max(a[0], b[0], key=lambda bound: (bound[0], not bound[1]))
    high = min(a[1], b[1], key=lambda bound: (bound[0], bound[1]))
    if low[0] > high[0] or (low[0] == high[0] and not (low[1] and high[1])):
        return None
    return low, high


def _intersect(a: dict[str, _Interval], b: dict[str, _Interval]) -> dict[str, _Interval] | None:
    out = {}
    for name in set(a) | set(b):
        meet = _meet(a.get(name, _FULL), b.get(name, _FULL))
        if meet is None:
            return None
        out[name] = meet
    return out


def _show(interval: _Interval) -> str:
    (low, low_in), (high, high_in) = interval
    return f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
