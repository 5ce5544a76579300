"""`lighter-bot policy check`: every mistake a trader can make in a policy file is reported as
`file:line:col: field: what was expected`, with exit code 1 and no traceback.

Each case is a real file in tmp_path. The line the message must point at is marked `#!` in the
case's text, so the expected line number is read from the file, not written twice.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from lighter_bot import cli as main

REPO = Path(__file__).resolve().parent.parent

MARK = "#!"

CASES = {
    "yaml_syntax": ("", "invalid YAML", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            then: {pause: both
          - name: s  #!
            when: vol_bps > 2
    """),
    "unknown_key_with_hint": ("rules[0].wehn", "unknown key, did you mean rules[0].when?", """
        policy: p
        rules:
          - name: r
            wehn: vol_bps > 1  #!
    """),
    "unknown_top_level_key": ("rulez", "unknown key, did you mean rules?", """
        policy: p
        rulez:  #!
          - name: r
            when: vol_bps > 1
    """),
    "unknown_feature": ("rules[1].when", "unknown name 'vol_bsp'", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
          - name: s
            when: vol_bsp > 30  #!
    """),
    "expression_syntax": ("rules[0].until", "invalid expression syntax", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 30
            until: vol_bps <  #!
    """),
    "import": ("rules[0].when", "dunder names like '__import__' are not allowed", """
        policy: p
        rules:
          - name: r
            when: __import__('os')  #!
    """),
    "attribute": ("rules[0].when", "attribute access ('.real') is not allowed", """
        policy: p
        rules:
          - name: r
            when: vol_bps.real > 1  #!
    """),
    "dunder_name": ("rules[0].when", "dunder names like '__builtins__' are not allowed", """
        policy: p
        rules:
          - name: r
            when: __builtins__ > 1  #!
    """),
    "huge_power": ("rules[0].when", "'**' needs a literal exponent", """
        policy: p
        rules:
          - name: r
            when: 9**9**9 > 1  #!
    """),
    "pause_sideways": ("rules[0].then.pause", "expected 'bid', 'ask' or 'both', got 'sideways'", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            then: {pause: sideways}  #!
    """),
    "size_mult_bool": ("rules[0].then.size_mult", "got True", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            then:
              size_mult: true  #!
    """),
    "size_mult_list": ("rules[0].then.size_mult", "expected a valid number", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            then:
              size_mult: [1]  #!
    """),
    "size_mult_negative": ("rules[0].then.size_mult", "expected a finite value >= 0, got -1", """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            then:
              spread_add_bps: -1
              size_mult: -1  #!
    """),
    "duration_without_unit": ("rules[0].for", 'expected a duration like "30s"', """
        policy: p
        rules:
          - name: r
            when: vol_bps > 1
            for: 30  #!
    """),
    "duration_param_unknown": ("rules[0].for", "'hold_time' is not a duration param of this policy", """
        policy: p
        params:
          hold: 10s
        rules:
          - name: r
            when: vol_bps > 1
            for: hold_time  #!
    """),
    "duration_param_not_a_duration": ("rules[0].keep_for", "'limit' is not a duration param", """
        policy: p
        params:
          limit: 30
        rules:
          - name: r
            when: vol_bps > limit
            keep_for: limit  #!
    """),
    "unknown_rule_in_active": ("rules[1].when", "active('guard'): no rule 'p.guard' in the policy set", """
        policy: p
        rules:
          - name: pause
            when: vol_bps > 1
          - name: follow
            when: active("guard")  #!
    """),
    "duplicate_rule_names": ("rules[1].name", "rule name 'pause' is used twice", """
        policy: p
        rules:
          - name: pause
            when: vol_bps > 1
          - name: pause  #!
            when: vol_bps > 2
    """),
    "unknown_initial_state": ("states.initial", "initial state 'calmm' is not one of: calm, wild", """
        policy: p
        states:
          initial: calmm  #!
          states:
            calm: {}
            wild: {}
          transitions:
            - {from: calm, to: wild, when: "vol_bps > 1"}
    """),
    "param_shadows_feature": ("params.vol_bps", "param name shadows the catalog feature 'vol_bps'", """
        policy: p
        params:
          vol_bps: 30  #!
        rules:
          - name: r
            when: trend_bps > 1
    """),
}


def write_case(tmp_path: Path, text: str, name: str = "case.yaml") -> tuple[Path, int, str]:
    """Write the case; return its path, the 1-based marked line and that line's text."""
    text = textwrap.dedent(text).lstrip("\n")
    lines = text.splitlines()
    marked = [i for i, line in enumerate(lines, 1) if MARK in line]
    assert len(marked) == 1, "each case marks exactly one line"
    path = tmp_path / name
    path.write_text(text)
    return path, marked[0], lines[marked[0] - 1]


def check(paths: list[Path], capsys) -> tuple[int, str, str]:
    code = main(["policy", "check", *map(str, paths)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", sorted(CASES))
def test_policy_check_locates_each_mistake(case, tmp_path, capsys):
    field, message, text = CASES[case]
    path, line, line_text = write_case(tmp_path, text)
    code, out, err = check([path], capsys)

    assert code == 1
    assert "Traceback" not in err and out == ""
    located = [m for m in (re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): (.*)$", row)
                           for row in err.splitlines()) if m]
    assert located and len(located) == len(err.splitlines()), f"every line must be file:line:col:\n{err}"
    expected_prefix = f"{field}: " if field else ""
    matching = [m for m in located if m.group(3).startswith(expected_prefix) and message in m.group(3)]
    assert matching, f"no line names {field!r} with {message!r} in:\n{err}"
    row = matching[0]
    assert int(row.group(1)) == line, f"expected line {line}:\n{err}"
    if field:
        key = re.split(r"[.\[]", field)[-1].rstrip("]")
        assert int(row.group(2)) == line_text.index(key) + 1, f"expected the column of {key!r}:\n{err}"


def test_a_custom_message_does_not_repeat_the_value(tmp_path, capsys):
    path, _, _ = write_case(tmp_path, CASES["duration_without_unit"][2])
    _, _, err = check([path], capsys)
    assert err.count("got 30") == 1, err


def test_duplicate_policy_names_across_files_point_at_the_second_file(tmp_path, capsys):
    first, _, _ = write_case(tmp_path, """
        policy: guard  #!
        rules:
          - name: a
            when: vol_bps > 1
    """, "a.yaml")
    second, line, _ = write_case(tmp_path, """
        # the same policy name, copied by mistake
        policy: guard  #!
        rules:
          - name: b
            when: vol_bps > 2
    """, "b.yaml")
    code, _, err = check([tmp_path], capsys)
    assert code == 1
    assert f"{second}:{line}:1: policy: policy name 'guard' is also used by {first}; names must be unique" in err


def test_every_problem_of_a_set_is_reported_at_once(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("policy: a\nrules:\n  - name: r\n    when: vol_bsp > 1\n")
    (tmp_path / "b.yaml").write_text("policy: b\nrules:\n  - name: r\n    when: trend_bsp > 1\n")
    code, _, err = check([tmp_path], capsys)
    assert code == 1
    assert f"{tmp_path / 'a.yaml'}:4:5: rules[0].when: unknown name 'vol_bsp'" in err
    assert f"{tmp_path / 'b.yaml'}:4:5: rules[0].when: unknown name 'trend_bsp'" in err


def test_a_missing_path_is_reported_without_a_traceback(tmp_path, capsys):
    code, _, err = check([tmp_path / "nope.yaml"], capsys)
    assert code == 1
    assert err.strip() == f"{tmp_path / 'nope.yaml'}: no such file or folder"


def test_a_folder_without_policies_is_an_error(tmp_path, capsys):
    code, _, err = check([tmp_path], capsys)
    assert code == 1
    assert "no policy files" in err


def test_a_valid_file_passes(tmp_path, capsys):
    path = tmp_path / "ok.yaml"
    path.write_text(textwrap.dedent("""
        policy: ok
        params: {pause_vol_bps: 30, hold: 2s}
        rules:
          - name: pause
            when: vol_bps >= pause_vol_bps
            for: hold
            then: {pause: both, size_mult: "clamp(1 - vol_bps / 100, 0.5, 1)"}
    """))
    code, out, err = check([path], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("ok: 1 policy files, 1 rules, 0 state machines")


def test_the_shipped_policies_pass(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    code, out, err = check([REPO / "policies"], capsys)
    assert code == 0, err
    assert out.startswith("ok: ")


def test_an_expectation_that_checks_nothing_is_refused(tmp_path, capsys):
    folder = tmp_path / "p"
    (folder / "tests").mkdir(parents=True)
    (folder / "v.yaml").write_text("policy: v\nrules:\n  - name: pause\n    when: vol_bps > 30\n    then: {pause: both}\n")
    (folder / "tests" / "v_test.yaml").write_text("cases:\n  - name: typo\n    series:\n      - {at: 0s, vol_bps: 31}\n"
                                                  "    expect:\n      - at: 10s\n        firng: [v.pause]\n"
                                                  "      - at: 20s\n")
    code, out, err = check([folder], capsys)
    assert code == 1
    assert "v_test.yaml:7:9: cases[0].expect[0].firng: unknown key, did you mean cases[0].expect[0].firing?" in err
    assert "v_test.yaml:8:9: cases[0].expect[1]: this expectation checks nothing" in err


def test_policy_check_warns_about_a_rule_that_cannot_be_observed(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text("policy: t\nrules:\n  - name: down\n    when: trend_bps <= -5\n    until: trend_bps > -6\n"
                    "    then: {pause: bid}\n")
    code, out, err = check([path], capsys)
    assert code == 0 and out.startswith("ok:")
    assert (f"{path}:3: warning: t.down: `when` and `until` can hold together (trend_bps in (-6, -5]): there the "
            "rule fires and releases in the same step and cannot be observed") in err
