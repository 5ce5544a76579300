"""Files on disk -> a compiled policy set, all or nothing.

Every file is read, parsed, validated and compiled before anything running is
touched; any problem in any file fails the whole set with every problem located.
That is the property live reload relies on: a broken file never goes live.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from rules.expr import FeatureCatalog
from rules.errors import PolicyError, Problem
from rules.ruleset import CompiledSet, LoadedPolicy, PolicyCompileError, compile_set
from rules.schema import PolicySpec
from rules.source import read_text, YamlSyntaxError, load_yaml, validation_problems

POLICY_SUFFIXES = (".yaml", ".yml")


def policy_files(paths: Iterable[Path | str]) -> list[Path]:
    """Policy files named by `paths`: files as given, folders by their top-level *.yaml.

    Sub-folders (`tests/`, `shadow/`) are not part of a folder's set: tests are not
    policies, and a shadow set is loaded on its own.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file()
                          and not p.name.startswith("."))
        else:
            out.append(path)
    return out


def parse_policy(text: str, path: Path | str) -> LoadedPolicy:
    """Parse and schema-check one policy's text; raise PolicyError with located problems."""
    try:
        source = load_yaml(text, path)
    except YamlSyntaxError as exc:
        raise PolicyError([exc.problem]) from None
    if not isinstance(source.data, dict):
        raise PolicyError([source.problem((), "expected a mapping with `policy:` and `rules:`")])
    try:
        spec = PolicySpec.model_validate(source.data)
    except ValidationError as exc:
        raise PolicyError(validation_problems(exc, source, PolicySpec)) from None
    seen: set[str] = set()
    duplicates = []
    for i, rule in enumerate(spec.rules):
        if rule.name in seen:
            duplicates.append(source.problem(("rules", i, "name"), f"rule name {rule.name!r} is used twice"))
        seen.add(rule.name)
    if duplicates:
        raise PolicyError(duplicates)
    return LoadedPolicy(spec, source)


def content_version(texts: list[tuple[str, str]]) -> str:
    """The set's version: a hash of file names and contents, stable across machines."""
    digest = hashlib.sha256()
    for name, text in sorted(texts):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:12]


def load_texts(texts: list[tuple[Path | str, str]], features: FeatureCatalog) -> CompiledSet:
    """Compile (path, text) pairs as one set. Raises PolicyError listing every problem."""
    problems: list[Problem] = []
    loaded: list[LoadedPolicy] = []
    for path, text in texts:
        try:
            loaded.append(parse_policy(text, path))
        except PolicyError as exc:
            problems += exc.problems
    if problems:
        raise PolicyError(problems)
    version = content_version([(Path(p).name, t) for p, t in texts])
    try:
        return compile_set(loaded, features, version)
    except PolicyCompileError as exc:
        raise PolicyError(exc.problems) from None


def read_policy_texts(paths: Iterable[Path | str]) -> list[tuple[Path | str, str]]:
    """The text of every policy file at `paths`; PolicyError naming each file that cannot be used
    (unreadable, too large, not UTF-8, or a symbolic link: a link's target is not the folder's
    and is not watched, so an edit to it would never go live)."""
    texts: list[tuple[Path | str, str]] = []
    problems: list[Problem] = []
    for path in policy_files(paths):
        if Path(path).is_symlink():
            problems.append(Problem(path, 0, 0, "", "is a symbolic link; policy files must be regular files in "
                                                    "the folder (a link's target is not watched)"))
            continue
        try:
            texts.append((path, read_text(path, "policy file")))
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
    if problems:
        raise PolicyError(problems)
    return texts


def load_policy_set(paths: Iterable[Path | str], features: FeatureCatalog) -> CompiledSet:
    """Read and compile the policies at `paths` (files or folders)."""
    return load_texts(read_policy_texts(paths), features)
