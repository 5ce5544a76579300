"""One error hierarchy for user input: policies, tests and config.

Every problem carries the file, line, column and field it is about, so the CLI can
print `policies/trend.yaml:12:5: rules[2].for: expected a duration like "30s", got "30"`
without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Problem:
    """One located complaint about a user's file."""

    path: Path | str
    line: int          # 1-based; 0 when unknown
    column: int        # 1-based; 0 when unknown
    field: str         # dotted key path, e.g. "rules[2].for"; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}" if self.line else f"{self.path}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputError(Exception):
    """A user's file (policy, policy test, config) cannot be used; holds every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PolicyError(InputError):
    """A policy file failed to parse, validate or compile."""


class ConfigError(InputError):
    """`config.yaml` (or a flag overriding it) is invalid."""


class ExpressionError(Exception):
    """An expression is outside the sandboxed language; `message` says what was expected."""

    def __init__(self, message: str, column: int = 0):
        self.message = message
        self.column = column
        super().__init__(message)
