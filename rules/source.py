"""YAML with line numbers: load a file and map any key path back to where it was written.

pydantic reports errors as a `loc` tuple (`("rules", 2, "for")`); `yaml.compose`
keeps each node's start mark. Together they give `file:line:col: rules[2].for: ...`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from rules.errors import Problem

Loc = tuple[str | int, ...]


@dataclass
class YamlSource:
    """Parsed YAML data plus the position of every key and item in it."""

    path: Path | str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int, int]:
        """(line, column) of the deepest part of `loc` that exists in the file."""
        for end in range(len(loc), -1, -1):
            mark = self.marks.get(tuple(loc[:end]))
            if mark:
                return mark
        return (1, 1)

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = self.position(loc)
        return Problem(self.path, line, column, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    """("rules", 2, "for") -> "rules[2].for"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


# libyaml's parser when PyYAML was built with it (same marks, several times faster): reload
# latency and `policy check` on a large folder depend on it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    """The text is not YAML; carries the located problem."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


# Bounds on what a policy, policy test or config file may make the parser do. Real files are a few
# KB, a few hundred nodes and a handful of levels deep; these are far above that and far below
# what could stall a reload or exhaust memory (an alias "billion laughs" of 333 bytes expands to
# millions of nodes).
MAX_FILE_BYTES = 256 * 1024
MAX_NODES = 50_000          # after aliases are expanded
MAX_DEPTH = 32              # nested mappings and lists


def read_text(path: Path | str, what: str = "file") -> str:
    """The file at `path` as text, refused (located YamlSyntaxError) when unreadable, too large or
    not UTF-8; `what` names it in the message ("config", "policy file")."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"cannot read {what}: {exc.strerror or exc}")) from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"file is larger than {MAX_FILE_BYTES // 1024} KiB; "
                                                      "a policy or config file is a few KiB"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlSyntaxError(Problem(path, line, column, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                                                              f"offset {exc.start}); save the file as UTF-8")) from None


def load_yaml(text: str, path: Path | str) -> YamlSource:
    """Parse `text`; raise YamlSyntaxError with the parser's line and column, or when the document
    is larger, deeper or expands (through aliases) to more nodes than the bounds above."""
    if len(text) > MAX_FILE_BYTES:
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"text is larger than {MAX_FILE_BYTES // 1024} KiB"))
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except RecursionError:
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"nested too deeply (at most {MAX_DEPTH} levels)")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = exc.problem or str(exc)
        raise YamlSyntaxError(Problem(path, line, col, "", f"invalid YAML: {what}")) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"invalid YAML: {exc}")) from None
    source = YamlSource(path, None)
    if node is None:
        source.data = {}
        return source
    try:
        # One constructor per file: it caches what it built, so it is neither shared nor kept.
        source.data = _construct(node, (), source.marks, yaml.constructor.SafeConstructor(), [MAX_NODES])
    except _DuplicateKey as dup:
        raise YamlSyntaxError(source.problem(dup.loc, "duplicate key (each key may appear once)")) from None
    except _TooBig as big:
        raise YamlSyntaxError(Problem(path, big.line, big.column, format_loc(big.loc), big.message)) from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        # A scalar the constructor cannot build (an absurd timestamp or number).
        raise YamlSyntaxError(Problem(path, 0, 0, "", f"invalid YAML value: {exc}")) from None
    return source


class _DuplicateKey(Exception):
    def __init__(self, loc: Loc):
        self.loc = loc


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, loc: Loc, message: str):
        self.line, self.column = node.start_mark.line + 1, node.start_mark.column + 1
        self.loc, self.message = loc, message


def _construct(node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]],
               constructor: yaml.constructor.SafeConstructor, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(node, loc, f"the document expands to more than {MAX_NODES} values (aliases repeated "
                                 "inside aliases?); a policy or config file has a few hundred")
    if len(loc) > MAX_DEPTH:
        raise _TooBig(node, loc, f"nested more than {MAX_DEPTH} levels deep")
    marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, constructor)
            key = key if isinstance(key, (str, int, float, bool)) or key is None else str(key)
            child = loc + (str(key),)
            if key in out:
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                raise _DuplicateKey(child)
            out[key] = _construct(value_node, child, marks, constructor, budget)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, loc + (i,), marks, constructor, budget) for i, item in enumerate(node.value)]
    return _scalar(node, constructor)


def _scalar(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    return constructor.construct_object(node, deep=True)


def validation_problems(exc: ValidationError, source: YamlSource, model: type[BaseModel],
                        prefix: Loc = ()) -> list[Problem]:
    """Translate pydantic errors into located problems with plain-language expectations."""
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
        problems.append(source.problem(loc, _explain(err, model, loc[len(prefix):])))
    return sorted(problems, key=lambda p: (p.line, p.column))


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the chosen union member (e.g. "function-after[...]") into loc.
    return isinstance(part, str) and ("[" in part or part in {"float", "int", "bool", "str"})


def _explain(err: dict[str, Any], model: type[BaseModel], loc: Loc) -> str:
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        parent = format_loc(loc[:-1])
        if hint:
            return f"unknown key, did you mean {parent + '.' if parent else ''}{hint[0]}?"
        return f"unknown key (expected one of: {', '.join(sorted(known))})" if known else "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif msg.startswith("Input should be"):
        msg = "expected" + msg[len("Input should be"):]
    if kind != "missing" and not isinstance(got, (dict, list)) and f"got {got!r}" not in msg:
        msg += f", got {got!r}"
    return msg


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the sub-model reached by `loc`, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(part)
        if info is None:
            alias = {f.alias: f for f in current.model_fields.values() if f.alias}
            info = alias.get(part)
            if info is None:
                return []
        current = _unwrap(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """list[X] / X | None / dict[str, X] -> X, so hints work inside containers."""
    args = getattr(annotation, "__args__", None)
    if not args:
        return annotation
    for arg in reversed(args):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation
