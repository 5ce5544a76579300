"""Mutation test of the shipped policy tests: every threshold a policy names is pinned by a test.

For every numeric or duration param of every policy in policies/, a copy of the folder
(tests included) is written to tmp_path with that one param moved by one unit in its
last written digit, up and down: 30 -> 31 / 29, 0.85 -> 0.86 / 0.84, -0.10 -> -0.09 /
-0.11, 10s -> 11s / 9s. The shipped policy tests must then fail. A mutation they do
not notice is a threshold a trader could mistype without `policy check` saying so.

The step is the finest the file itself expresses, which is at least as demanding as
"+1 bps / +1 s" for the integer-valued params and stricter for the decimal ones.
Everything runs in-process through rules.testing (the production loader and engine).
"""
from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from rules.source import load_yaml
from rules.testing import run_policy_tests
from runtime.catalog import FEATURE_NAMES
from rules.lint import lint
from rules.loader import load_policy_set
from lighter_bot import load_config
from runtime.features import FeatureStore

POLICIES = Path(__file__).resolve().parent.parent / "policies"
BASELINE = FeatureStore(load_config(None)).values

# (policy file, param, direction) -> why no policy test can notice that one-unit change.
# Adding an entry here needs a reason a reviewer accepts.
UNDETECTABLE: dict[tuple[str, str, int], str] = {
    ("trend_guard.yaml", "down_trigger_bps", +1): (
        "trend_guard.down releases on `trend_bps > -resume_bps` (> -6) in the same evaluation in which it "
        "fires, so with a trigger of -5 a trend in (-6, -5] fires and releases within one step and nothing "
        "can observe it: the effective trigger is min(down_trigger_bps, -resume_bps) = -6 either way. "
        "The other direction (-7) is caught. Moving resume_bps (both directions) is caught. "
        "`policy check` warns about it (rules/lint.py): the shape is caught, by the checker, not a test."),
}

_NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$")


def _params() -> list[tuple[str, str, str]]:
    """(file name, param, value as written) for every param of every shipped policy."""
    out = []
    for path in sorted(POLICIES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        for name in (spec.get("params") or {}):
            out.append((path.name, name, _written_value(path, name)))
    return out


def _written_value(path: Path, name: str) -> str:
    line_no, _ = load_yaml(path.read_text(), path).marks[("params", name)]
    line = path.read_text().splitlines()[line_no - 1]
    match = re.match(rf"^\s*{re.escape(name)}:\s*([^\s#]+)", line)
    assert match, f"{path.name}:{line_no}: cannot find the value of param {name} on its line"
    return match.group(1)


def _moved(written: str, direction: int) -> str:
    """`written` moved by one unit of its last digit: "0.85" -> "0.86", "10s" -> "9s"."""
    match = _NUMBER.match(written)
    number, unit = Decimal(match.group(1)), match.group(2) or ""
    step = Decimal(1).scaleb(number.as_tuple().exponent)
    return f"{number + direction * step}{unit}"


PARAMS = _params()
MUTATIONS = [(f, p, w, d) for f, p, w in PARAMS if _NUMBER.match(w) for d in (+1, -1)
             if (f, p, d) not in UNDETECTABLE]


def test_every_param_is_mutated_or_excluded_with_a_reason():
    assert PARAMS, "no params found in policies/*.yaml"
    not_numeric = [(f, p, w) for f, p, w in PARAMS if not _NUMBER.match(w)]
    assert not not_numeric, f"params this test does not know how to move (add a rule or an exclusion): {not_numeric}"
    covered = {(f, p, d) for f, p, _, d in MUTATIONS}
    assert covered | set(UNDETECTABLE) == {(f, p, d) for f, p, _ in PARAMS for d in (+1, -1)}
    assert all(reason.strip() for reason in UNDETECTABLE.values())
    assert set(UNDETECTABLE) <= {(f, p, d) for f, p, _ in PARAMS for d in (+1, -1)}, "stale exclusion"


def test_excluded_mutations_really_go_unnoticed(tmp_path):
    """An exclusion that a test could catch after all should be removed, not kept."""
    for i, (file_name, param, direction) in enumerate(UNDETECTABLE):
        written = dict(((f, p), w) for f, p, w in PARAMS)[(file_name, param)]
        copy = _copy_with(tmp_path / str(i), file_name, param, _moved(written, direction))
        report = run_policy_tests([copy], FEATURE_NAMES, BASELINE)
        assert report.ok, f"{file_name}: {param} {direction:+d} is caught now; drop it from UNDETECTABLE"


def test_excluded_mutations_are_flagged_by_policy_check(tmp_path):
    """What no policy test can see, the checker's lint says: the rule cannot be observed there."""
    for i, (file_name, param, direction) in enumerate(UNDETECTABLE):
        written = dict(((f, p), w) for f, p, w in PARAMS)[(file_name, param)]
        copy = _copy_with(tmp_path / str(i), file_name, param, _moved(written, direction))
        warnings = [str(w) for w in lint(load_policy_set([copy], FEATURE_NAMES))]
        assert any(f"{file_name}:" in w and "cannot be observed" in w for w in warnings), warnings
    assert lint(load_policy_set([POLICIES], FEATURE_NAMES)) == []      # the shipped set is clean


def test_mutation_steps():
    assert _moved("30", +1) == "31" and _moved("30", -1) == "29"
    assert _moved("0.85", +1) == "0.86" and _moved("0.7", +1) == "0.8"
    assert _moved("-0.10", +1) == "-0.09" and _moved("-0.10", -1) == "-0.11"
    assert _moved("10s", +1) == "11s" and _moved("250ms", -1) == "249ms" and _moved("1.0", -1) == "0.9"


def _copy_with(tmp_path: Path, file_name: str, param: str, new_value: str) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    path = copy / file_name
    lines = path.read_text().splitlines(keepends=True)
    line_no, _ = load_yaml(path.read_text(), path).marks[("params", param)]
    lines[line_no - 1] = re.sub(rf"^(\s*{re.escape(param)}:\s*)[^\s#]+", lambda m: m.group(1) + new_value,
                                lines[line_no - 1], count=1)
    path.write_text("".join(lines))
    assert yaml.safe_load(path.read_text())["params"][param] == yaml.safe_load(new_value)
    return copy


def test_the_unmutated_copy_passes(tmp_path):
    shutil.copytree(POLICIES, tmp_path / "policies")
    report = run_policy_tests([tmp_path / "policies"], FEATURE_NAMES, BASELINE)
    assert report.ok, "\n".join(map(str, report.problems + report.failures))
    assert report.cases_passed > 0


@pytest.mark.parametrize("file_name,param,written,direction", MUTATIONS,
                         ids=[f"{f[:-5]}.{p}={_moved(w, d)}" for f, p, w, d in MUTATIONS])
def test_policy_tests_notice_a_one_unit_change(tmp_path, file_name, param, written, direction):
    mutated = _moved(written, direction)
    copy = _copy_with(tmp_path, file_name, param, mutated)
    # The policy's own test file first, then the others, stopping at the first that fails:
    # "the shipped tests fail" is decided as soon as one does, which keeps this file fast.
    own = copy / "tests" / f"{Path(file_name).stem}_test.yaml"
    others = sorted(p for p in (copy / "tests").glob("*.yaml") if p != own)
    test_files = [own] + sorted(others, key=lambda p: file_name not in p.read_text())   # listing it first
    for test_file in test_files:
        report = run_policy_tests([test_file], FEATURE_NAMES, BASELINE)
        assert not report.problems, "the mutated set should still load:\n" + "\n".join(map(str, report.problems))
        if report.failures:
            return
    pytest.fail(f"policies/{file_name}: {param} {written} -> {mutated} went unnoticed by policies/tests")
