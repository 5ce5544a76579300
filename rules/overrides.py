"""A policy param set to another value *in the policy's text*, for sweeps.

The new value is spliced into the text where the old one was written, so comments, order and
line numbers stay as they were, and the result is checked by the same loader `policy check`
uses: a sweep can never run a set the loader would refuse, and the loader's own located error
is what a refused value prints. Workers receive these texts, never compiled objects.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from rules.errors import PolicyError, Problem
from rules.loader import parse_policy
from rules.schema import parse_duration

PolicyTexts = list[tuple[Path | str, str]]


def policy_names(texts: PolicyTexts) -> dict[str, int]:
    """`policy:` name -> index in `texts` (files that do not parse are left out: the loader
    reports them when the set is loaded)."""
    out = {}
    for index, (path, text) in enumerate(texts):
        try:
            out[parse_policy(text, path).spec.policy] = index
        except PolicyError:
            continue
    return out


def param_value(texts: PolicyTexts, policy: str, param: str) -> object:
    """The param's current value; PolicyError naming the policies or params that exist."""
    index = _policy_index(texts, policy)
    path, text = texts[index]
    params = parse_policy(text, path).spec.params
    if param not in params:
        known = ", ".join(sorted(params)) or "none"
        raise PolicyError([Problem(path, 0, 0, "params", f"policy {policy!r} has no param {param!r} "
                                                         f"(its params: {known})")])
    return params[param]


def set_params(texts: PolicyTexts, values: dict[tuple[str, str], float]) -> PolicyTexts:
    """`texts` with each (policy, param) set to its value, every changed file re-parsed by the
    loader. A param written as a duration ("30s") takes the value in seconds ("45s")."""
    out = list(texts)
    changed = set()
    for (policy, param), value in values.items():
        old = param_value(out, policy, param)
        index = _policy_index(out, policy)
        path, text = out[index]
        out[index] = (path, _splice(text, path, param, _literal(value, old)))
        changed.add(index)
    for index in sorted(changed):
        parse_policy(out[index][1], out[index][0])
    return out


def _policy_index(texts: PolicyTexts, policy: str) -> int:
    names = policy_names(texts)
    if policy not in names:
        where = texts[0][0] if texts else "policies"
        raise PolicyError([Problem(Path(where).parent if texts else where, 0, 0, "",
                                   f"no policy named {policy!r} (policies: {', '.join(sorted(names)) or 'none'})")])
    return names[policy]


def _literal(value: float, old: object) -> str:
    if isinstance(old, str) and parse_duration(old) is not None:
        return f'"{_number(value)}s"'
    return _number(value)


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _splice(text: str, path: Path | str, param: str, literal: str) -> str:
    """Replace the scalar written for `params.<param>` (its exact span in the text)."""
    # The pure-Python loader: its marks' `index` counts characters, as `text` is indexed.
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    params = next(value for key, value in root.value if key.value == "params")
    node = next(value for key, value in params.value if key.value == param)
    if not isinstance(node, yaml.ScalarNode):
        raise PolicyError([Problem(path, node.start_mark.line + 1, node.start_mark.column + 1, f"params.{param}",
                                   "expected a number to sweep")])
    start, end = node.start_mark.index, node.end_mark.index
    return text[:start] + literal + text[end:]
