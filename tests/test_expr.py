"""The policy expression language: compiled code agrees with simpleeval, and the sandbox refuses escapes.

`reference_eval` (simpleeval) is the reference semantics. The property test builds random
well-formed expressions, evaluates them three ways (reference, the compiled Python alone, and
the fused condition function the production loader builds for a whole policy set) and requires
the same value or the same exception type from all three.
"""
from __future__ import annotations

import math
import re

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from rules.codegen import Failure
from rules.errors import ExpressionError
from rules.expr import (
    COMPILED_GLOBALS,
    MAX_EXPONENT,
    MAX_NODES,
    MAX_SOURCE_CHARS,
    check_and_compile,
    reference_eval,
)
from rules.loader import load_texts
from runtime.catalog import FEATURE_NAMES

FEATURES = ("vol_bps", "trend_bps", "inventory_frac", "realized_pnl_5m")
NUMERIC_PARAMS = ("pause_vol_bps", "size_k", "offset_bps")
BOOL_PARAM = "guard_on"
PARAM_NAMES = NUMERIC_PARAMS + (BOOL_PARAM,)
assert set(FEATURES) <= FEATURE_NAMES.keys()


# -- a small grammar of well-formed expressions ------------------------------------------------

_IDENT_OR_NUMBER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]+(\.[0-9]+)?$")


def p(text: str) -> str:
    """Parenthesise anything but a bare name or number, so composing text never changes meaning."""
    return text if _IDENT_OR_NUMBER.match(text) else f"({text})"


literals = st.one_of(
    st.integers(0, 50).map(str),
    st.sampled_from(["0.5", "2.5", "0.25", "18.0", "1.5"]),
)
numeric_atoms = st.one_of(st.sampled_from(FEATURES), st.sampled_from(NUMERIC_PARAMS), literals)
atoms = st.one_of(numeric_atoms, st.sampled_from(["True", "False", "true", "false", BOOL_PARAM]))

# Powers take an atom base: simpleeval refuses bases above 4e6 (its own DoS guard), which a
# product of several features can reach; the compiled code has no such limit (see report).
powers = st.one_of(
    st.builds(lambda a, n: f"{a} ** {n}", numeric_atoms, st.sampled_from([2, 3])),
    # precedence: unary minus binds looser than **, also when a negative param is inlined
    st.builds(lambda a, n: f"-{a} ** {n}", numeric_atoms, st.sampled_from([2, 3])),
    st.builds(lambda a: f"abs({a}) ** 2", numeric_atoms),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    cmp_ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
    return st.one_of(
        st.builds(lambda a, op, b: f"{p(a)} {op} {p(b)}", children, st.sampled_from("+-*/"), children),
        # chained comparisons: a < b <= c
        st.builds(lambda xs, ops: " ".join(p(x) + f" {o}" for x, o in zip(xs, ops)) + " " + p(xs[-1]),
                  st.lists(children, min_size=3, max_size=3), st.lists(cmp_ops, min_size=2, max_size=2)),
        st.builds(lambda a, op, b: f"{p(a)} {op} {p(b)}", children, cmp_ops, children),
        st.builds(lambda xs, op: f" {op} ".join(p(x) for x in xs),
                  st.lists(children, min_size=2, max_size=3), st.sampled_from(["and", "or"])),
        st.builds(lambda a: f"not {p(a)}", children),
        st.builds(lambda a: f"-{p(a)}", children),
        st.builds(lambda a, c, b: f"{p(a)} if {p(c)} else {p(b)}", children, children, children),
        st.builds(lambda a: f"abs({a})", children),
        st.builds(lambda f, xs: f"{f}({', '.join(xs)})", st.sampled_from(["min", "max"]),
                  st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda x, lo, hi: f"clamp({x}, {lo}, {hi})", children, children, children),
        powers,
    )


expressions = st.recursive(st.one_of(atoms, powers), _extend, max_leaves=10)

# Feature values: bounded floats with zero made likely, so divisions by zero happen on purpose.
feature_values = st.one_of(st.just(0.0), st.floats(-1000, 1000, allow_nan=False, allow_infinity=False),
                           st.sampled_from([1.0, -1.0, 18.0, 30.0]))
# The catalog the generated expressions are checked against: the range the values above come from.
VALUE_RANGES = {name: (-1000.0, 1000.0) for name in FEATURES}
param_values = st.one_of(st.integers(-100, 100), st.floats(-100, 100).map(lambda x: round(x, 2)))


# -- the three evaluations ---------------------------------------------------------------------

def _outcome(fn):
    try:
        return ("value", fn())
    except Exception as exc:  # noqa: BLE001 - the exception type is what we compare
        return ("raises", type(exc).__name__)


def _production(source: str, params: dict, features: dict) -> tuple[str, object]:
    """Compile `source` as a rule's `when` through the real loader and read its condition slot."""
    policy = {"policy": "prop", "params": params, "rules": [{"name": "r", "when": source}]}
    text = yaml.safe_dump(policy, width=10**6, sort_keys=False)
    compiled = load_texts([("prop.yaml", text)], VALUE_RANGES)
    conds = compiled.conditions(features, [False] * len(compiled.rules), [], [])
    value = conds[compiled.rules[0].when_slot]
    if isinstance(value, Failure):
        return ("raises", value.error.split(":", 1)[0])
    return ("value", value)


def _same(a: tuple[str, object], b: tuple[str, object]) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "raises":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=expressions,
       values=st.fixed_dictionaries({f: feature_values for f in FEATURES}),
       params=st.fixed_dictionaries({**{n: param_values for n in NUMERIC_PARAMS}, BOOL_PARAM: st.booleans()}))
def test_compiled_expressions_agree_with_simpleeval(source, values, params):
    assume(len(source) <= MAX_SOURCE_CHARS)
    try:
        compiled = check_and_compile(source, VALUE_RANGES, params, None)
    except ExpressionError as exc:
        # Refused by the magnitude bound (a product of many features can exceed it): the
        # property is about what the checker accepts.
        assert "bounded to" in exc.message, exc.message
        reject()

    expected = _outcome(lambda: reference_eval(source, {**values, **params}))
    local = {f"f_{name}": values[name] for name in compiled.features}
    direct = _outcome(lambda: eval(compiled.python, dict(COMPILED_GLOBALS), local))  # noqa: S307
    production = _production(source, params, values)

    assert _same(direct, expected), f"{source!r} -> {compiled.python!r}: compiled {direct}, simpleeval {expected}"
    assert _same(production, expected), f"{source!r}: production path {production}, simpleeval {expected}"


@pytest.mark.parametrize("source, value, expected", [
    ("-offset_bps ** 2", -5, -25),           # inlined negative param keeps ** above unary minus
    ("offset_bps ** 2", -5, 25),
    ("2 ** offset_bps", -2, 0.25),           # a param is an allowed exponent
    ("vol_bps > offset_bps", -5, True),
])
def test_inlined_params_keep_python_precedence(source, value, expected):
    compiled = check_and_compile(source, frozenset(FEATURES), {"offset_bps": value}, None)
    got = eval(compiled.python, dict(COMPILED_GLOBALS), {"f_vol_bps": 0.0})  # noqa: S307
    assert got == expected == reference_eval(source, {"offset_bps": value, "vol_bps": 0.0})
    assert compiled.params == ("offset_bps",)


def test_compiled_expression_reports_what_it_reads():
    compiled = check_and_compile("vol_bps >= pause_vol_bps and abs(trend_bps) < 5", frozenset(FEATURES),
                                 {"pause_vol_bps": 30}, None)
    assert compiled.features == ("trend_bps", "vol_bps")
    assert compiled.params == ("pause_vol_bps",)
    assert not compiled.constant
    assert check_and_compile("2 * 3 > 5", frozenset(FEATURES), {}, None).constant


# -- rejections --------------------------------------------------------------------------------

@pytest.mark.parametrize("source, message", [
    ("__import__('os')", "dunder names like '__import__' are not allowed"),
    ("().__class__", "attribute access ('.__class__') is not allowed"),
    ("vol_bps.real", "attribute access ('.real') is not allowed"),
    ("x[0]", "indexing ('[...]') is not allowed"),
    ("lambda: 1", "lambdas and comprehensions are not allowed"),
    ("[1,2]", "lists, tuples, dicts and sets are not allowed"),
    ("9**9**9", "'**' needs a literal exponent between -8 and 8"),
    ("2**vol_bps", "'**' needs a literal exponent between -8 and 8"),
    ("vol_bps ** 9", "'**' needs a literal exponent between -8 and 8"),
    ('f"{x}"', "f-strings are not allowed"),
    ("(y := 1)", "assignment (':=') is not allowed"),
    ("vol_bsp > 30", "unknown name 'vol_bsp': expected a catalog feature"),
    ("__builtins__", "dunder names like '__builtins__' are not allowed"),
    ("sqrt(vol_bps)", "unknown function 'sqrt': expected one of abs, active, clamp, in_state, max, min, state_var"),
    ("abs(vol_bps, 2)", "abs() takes 1 arguments, got 2"),
    ("clamp(vol_bps, 1)", "clamp() takes 3 arguments, got 2"),
    ("min(vol_bps)", "min() takes 2 to 8 arguments, got 1"),
    ("min(vol_bps, trend_bps, key=abs)", "min() takes no keyword arguments"),
    ("active(pause)", 'active() takes quoted names, like active("pnl_guard.guard")'),
    ("vol_bps > 'high'", "text literals are only allowed as names in active()/in_state()/state_var()"),
    ("vol_bps & 1", "unsupported operator (bitwise and matrix operators are not allowed)"),
    ("vol_bps in trend_bps", "unsupported comparison"),
    ("vol_bps > ", "invalid expression syntax"),
    ("min > 1", "min is a function; call it like min(...)"),
    ("   ", "expected an expression, got an empty string"),
])
def test_sandbox_rejections_say_what_is_wrong(source, message):
    with pytest.raises(ExpressionError) as info:
        check_and_compile(source, frozenset(FEATURES), {"pause_vol_bps": 30}, None)
    assert message in info.value.message


def test_rejected_expression_points_at_the_offending_column():
    with pytest.raises(ExpressionError) as info:
        check_and_compile("vol_bps > 1 and trend_bps.real > 0", frozenset(FEATURES), {}, None)
    assert info.value.column == len("vol_bps > 1 and ") + 1


def test_too_long_expression_is_refused_at_the_limit_not_before():
    prefix = "vol_bps > 0."
    at_limit = prefix + "1" * (MAX_SOURCE_CHARS - len(prefix))       # one long (small) literal: few parts
    assert len(at_limit) == MAX_SOURCE_CHARS
    check_and_compile(at_limit, frozenset(FEATURES), {}, None)
    with pytest.raises(ExpressionError) as info:
        check_and_compile(at_limit + "1", frozenset(FEATURES), {}, None)
    assert info.value.message == (f"expression is {MAX_SOURCE_CHARS + 1} characters; "
                                  f"at most {MAX_SOURCE_CHARS} allowed")


def test_expression_with_too_many_parts_is_refused():
    source = "+".join(["1"] * 120)           # 239 characters, well under the length limit
    assert len(source) < MAX_SOURCE_CHARS
    with pytest.raises(ExpressionError, match=f"at most {MAX_NODES} allowed"):
        check_and_compile(source, frozenset(FEATURES), {}, None)


def test_exponent_limit_is_inclusive():
    check_and_compile(f"vol_bps ** {MAX_EXPONENT}", frozenset(FEATURES), {}, None)
    check_and_compile(f"vol_bps ** -{MAX_EXPONENT}", frozenset(FEATURES), {}, None)
    with pytest.raises(ExpressionError):
        check_and_compile(f"vol_bps ** {MAX_EXPONENT + 1}", frozenset(FEATURES), {}, None)
    with pytest.raises(ExpressionError):
        check_and_compile(f"vol_bps ** -{MAX_EXPONENT + 1}", frozenset(FEATURES), {}, None)
    with pytest.raises(ExpressionError):       # a param exponent is bounded the same way
        check_and_compile("vol_bps ** big", frozenset(FEATURES), {"big": 9}, None)


def test_rule_references_need_a_linker():
    with pytest.raises(ExpressionError, match=r"active\(\) is not available here"):
        check_and_compile('active("x.y")', frozenset(FEATURES), {}, None)


def test_compiled_code_runs_without_builtins():
    assert COMPILED_GLOBALS["__builtins__"] == {}
    compiled = check_and_compile("abs(vol_bps) > 1", frozenset(FEATURES), {}, None)
    assert "__" not in compiled.python
