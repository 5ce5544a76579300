"""What a sweep varies: `--sweep NAME=START:STOP:STEP`, resolved to a policy param or a config key.

A name is `policy.param` (a policy of the set, e.g. `trend_guard.down_trigger_bps`) or a dotted
config key (`maker.spread_bps`). Its first part must name exactly one of the two: a policy
called like a config section is refused rather than guessed. Every combination of values is
built here, in the parent, as the texts and data a worker receives (policy texts through the
policy language's own loader, the config through the config model), so a value either of them
refuses stops the sweep before anything runs, with their own located message.
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from rules.errors import ConfigError, Problem
from rules.loader import load_texts
from rules.overrides import PolicyTexts, param_value, policy_names, set_params
from runtime.catalog import FEATURE_NAMES

MAX_COMBINATIONS = 200   # a larger grid is a few sweeps, each a stated question


@dataclass(frozen=True)
class SweepRange:
    """One `--sweep` flag as written: the name and its values (STOP included when on the grid)."""

    name: str
    values: tuple[float, ...]
    text: str


@dataclass(frozen=True)
class SweepParam:
    name: str
    kind: str                     # "policy" or "config"
    path: tuple[str, ...]         # (policy, param) or the config key's parts
    values: tuple[float, ...]


@dataclass(frozen=True)
class Combination:
    """One point of the grid: its values and what a worker runs it with."""

    values: tuple[float, ...]     # one per SweepParam, in --sweep order
    config: dict                  # the config model's dump, validated
    policy_texts: tuple[tuple[str, str], ...]
    policies_version: str


def parse_range(text: str) -> SweepRange:
    """argparse type for `NAME=START:STOP:STEP`; exact decimal steps, so 0.1 steps do not drift."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    parts = spec.split(":")
    if not sep or not name or len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected NAME=START:STOP:STEP (e.g. trend_guard.down_trigger_bps=-10:-2:1), "
                                         f"got {text!r}")
    if "." not in name:
        raise argparse.ArgumentTypeError(f"{name!r}: expected policy.param or a config key like maker.spread_bps")
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r}: START, STOP and STEP must be numbers") from None
    if not all(d.is_finite() for d in (start, stop, step)):
        raise argparse.ArgumentTypeError(f"{text!r}: START, STOP and STEP must be finite numbers")
    if step <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: STEP must be > 0, got {step}")
    if stop < start:
        raise argparse.ArgumentTypeError(f"{text!r}: STOP ({stop}) is below START ({start}): no value to run")
    count = int((stop - start) // step) + 1
    if count > MAX_COMBINATIONS:
        raise argparse.ArgumentTypeError(f"{text!r}: {count} values; at most {MAX_COMBINATIONS} per sweep "
                                         "(use a coarser STEP, then zoom in)")
    return SweepRange(name, tuple(float(start + i * step) for i in range(count)), text)


def resolve(ranges: list[SweepRange], texts: PolicyTexts, config_dump: dict) -> list[SweepParam]:
    """Each range as a policy param or a config key, refused when unknown or ambiguous."""
    if len(ranges) > 2:
        raise ConfigError([Problem("--sweep", 0, 0, "", f"at most two parameters per sweep, got {len(ranges)}")])
    names = [r.name for r in ranges]
    if len(set(names)) != len(names):
        raise ConfigError([Problem("--sweep", 0, 0, "", f"{names[0]} is swept twice")])
    total = 1
    for r in ranges:
        total *= len(r.values)
    if total > MAX_COMBINATIONS:
        raise ConfigError([Problem("--sweep", 0, 0, "", f"{total} combinations; at most {MAX_COMBINATIONS} per "
                                                        "sweep (use coarser steps)")])
    policies = policy_names(texts)
    out = []
    for r in ranges:
        head, rest = r.name.split(".", 1)
        is_policy, is_config = head in policies, head in config_dump
        if is_policy and is_config:
            raise ConfigError([Problem("--sweep", 0, 0, "", f"{r.name}: {head!r} is both a policy and a config "
                                                            "section; rename the policy to sweep it")])
        if is_policy:
            if "." in rest:
                raise ConfigError([Problem("--sweep", 0, 0, "", f"{r.name}: expected policy.param")])
            param_value(texts, head, rest)     # PolicyError naming the params that exist
            out.append(SweepParam(r.name, "policy", (head, rest), r.values))
        elif is_config:
            _config_number(config_dump, r.name)
            out.append(SweepParam(r.name, "config", tuple(r.name.split(".")), r.values))
        else:
            raise ConfigError([Problem("--sweep", 0, 0, "", f"{r.name}: {head!r} is neither a policy (policies: "
                                                            f"{', '.join(sorted(policies))}) nor a config section "
                                                            f"({', '.join(sorted(config_dump))})")])
    return out


def _config_number(dump: dict, name: str) -> float:
    node: Any = dump
    parts = name.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            raise ConfigError([Problem("--sweep", 0, 0, "", f"{name}: no config key {'.'.join(parts[:depth + 1])} "
                                                            f"(keys there: {known})")])
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ConfigError([Problem("--sweep", 0, 0, "", f"{name}: a sweep sets numbers; this key is {node!r}")])
    return node


def combinations(params: list[SweepParam], texts: PolicyTexts, config, config_model) -> list[Combination]:
    """Every combination (the first parameter outermost), each checked by the policy loader and
    the config model; raises PolicyError / ConfigError naming the value refused."""
    base = config.model_dump()
    out = []
    for values in itertools.product(*(p.values for p in params)):
        policy_values = {p.path: v for p, v in zip(params, values) if p.kind == "policy"}
        combo_texts = set_params(texts, policy_values) if policy_values else list(texts)
        version = load_texts(combo_texts, FEATURE_NAMES).version
        dump = _copy(base)
        for p, v in zip(params, values):
            if p.kind == "config":
                _set(dump, p.path, v)
        try:
            validated = config_model.model_validate(dump)
        except ValidationError as exc:
            where = ", ".join(f"{p.name}={v:g}" for p, v in zip(params, values))
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError([Problem("--sweep", 0, 0, "", f"at {where} the config is refused: {problems}")]) from None
        out.append(Combination(tuple(values), validated.model_dump(),
                               tuple((str(path), text) for path, text in combo_texts), version))
    return out


def _copy(node: Any) -> Any:
    return {k: _copy(v) for k, v in node.items()} if isinstance(node, dict) else node


def _set(dump: dict, path: tuple[str, ...], value: float) -> None:
    node = dump
    for part in path[:-1]:
        node = node[part]
    old = node[path[-1]]
    node[path[-1]] = int(value) if isinstance(old, int) and float(value).is_integer() else value
