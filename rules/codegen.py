"""Generate the Python that evaluates a policy set: one fused function per set of expressions.

Every `when`, `until` and transition condition of the whole set becomes one line
of a single generated Python function, so a tick evaluates all conditions with
one call and plain local-variable reads (features are loaded once at the top).
Each line that can raise sits in its own `try`, so one failing expression (say, a
division by a zero feature) is recorded against its rule as a `Failure` and does
not stop the others. Effects whose values are expressions get a small function per
rule, built the same way and called only while that rule fires.

A generated function takes (F, R, M, V): the feature values, each rule's status,
each state machine's current state and its state vars. The identifiers an
expression reads name their source (`f_vol_bps`, `r_3`, `m_0_2`, `v_0_1`; made by
rules.expr and the set compiler in rules.ruleset), and the prologue binds each one
once.
"""
from __future__ import annotations

from typing import Any, Callable

from rules.expr import COMPILED_GLOBALS


class Failure:
    """Marks a condition or effect whose evaluation raised; the rule keeps its state."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = f"{type(error).__name__}: {error}"

    def __repr__(self) -> str:
        return f"Failure({self.error})"


def _prologue(idents: set[str]) -> list[str]:
    """Bind every identifier the body reads, once, from the arguments (F, R, M, V)."""
    lines = []
    for ident in sorted(idents):
        kind, _, rest = ident.partition("_")
        if kind == "f":
            lines.append(f"    {ident} = F[{rest!r}]")
        elif kind == "r":
            lines.append(f"    {ident} = R[{rest}]")
        elif kind == "m":
            machine, state = rest.split("_")
            lines.append(f"    {ident} = M[{machine}] == {state}")
        elif kind == "v":
            machine, var = rest.split("_")
            lines.append(f"    {ident} = V[{machine}][{var}]")
    return lines


# Operators that can raise on floats (division by zero, overflow, a complex power compared).
# An expression without them only compares, adds and multiplies floats and bools: it cannot
# raise, so it goes straight into the returned tuple with no `try` around it.
_CAN_RAISE = ("/", "%", "**")


def compile_source(exprs: list[str], idents: set[str]) -> tuple[Callable[..., tuple], str]:
    """A function of (F, R, M, V) returning the value of each of `exprs` in order, and its source."""
    body = ["def _fused(F, R, M, V):", *_prologue(idents)]
    results = []
    for i, python in enumerate(exprs):
        if any(op in python for op in _CAN_RAISE):
            body += ["    try:", f"        c{i} = {python}", "    except _Exception as exc:",
                     f"        c{i} = _Failure(exc)"]
            results.append(f"c{i}")
        else:
            results.append(f"({python})")
    body.append(f"    return ({''.join(r + ', ' for r in results)})")
    source = "\n".join(body)
    namespace: dict[str, Any] = dict(COMPILED_GLOBALS)
    namespace["_Failure"] = Failure
    # The compiled code runs without builtins, so the name it catches must be bound here;
    # otherwise a ZeroDivisionError becomes a NameError that escapes the whole fused function.
    namespace["_Exception"] = Exception
    exec(compile(source, "<policy-set>", "exec"), namespace)  # noqa: S102 - source built from checked ASTs only
    return namespace["_fused"], source
