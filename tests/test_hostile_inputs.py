"""Files a hostile (or unlucky) user could save: each is refused by `policy check` quickly, within a
memory bound, with a located message and no traceback; whatever the checker accepts evaluates in
bounded time without escaping errors."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.engine import PolicyEngine
from rules.errors import InputError
from rules.loader import load_texts
from runtime.catalog import FEATURE_NAMES

REPO = Path(__file__).resolve().parent.parent
BOT = [sys.executable, "-c", "from lighter_bot import main; main()"]

TOWER = "((((((((9)**8)**8)**8)**8)**8)**8)**8)**8"
BOMB = "\n".join(['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
    f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)])


def rule(when: str = "vol_bps > 30", then: str = "{pause: both}", params: str = "") -> str:
    return f"policy: hostile\n{params}rules:\n  - name: r\n    when: \"{when}\"\n    then: {then}\n"


HOSTILE = {
    "power tower in a condition": (rule(f"{TOWER} % 7 == 100"), "hostile.yaml:4:", "bounded to 1e+15"),
    "power tower as an effect value": (rule(then=f"{{spread_add_bps: \"{TOWER}\"}}"), "hostile.yaml:5:",
                                       "bounded to 1e+15"),
    "a 310-digit literal": (rule("mid * 1" + "0" * 310 + " > 0"), "hostile.yaml:4:", "too large"),
    "a 5000-digit literal": (rule("mid * 1" + "0" * 5000 + " > 0"), "hostile.yaml:4:", "characters; at most 600"),
    "a 400-digit param": (rule("vol_bps > big", params="params:\n  big: 1" + "0" * 400 + "\n"),
                          "hostile.yaml:3:", "params.big: number too large"),
    "a .nan param": (rule("vol_bps > x and trend_bps > x", params="params:\n  x: .nan\n"),
                     "hostile.yaml:3:", "params.x: expected a finite number"),
    "feature to a power beyond its range": (rule("book_age_s ** 4 > 1"), "hostile.yaml:4:", "can reach 1e+36"),
    "billion laughs": (BOMB + "\n" + rule(), "hostile.yaml:", "expands to more than 50000 values"),
    "nested 600 levels": ("x: " + "[" * 600 + "]" * 600 + "\n" + rule(), "hostile.yaml:", "nested"),
}


def policy_check(folder: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `lighter-bot policy check` in a child process; its wall time and peak memory (MiB)."""
    started = time.monotonic()
    code = ("import resource, subprocess, sys\n"
            f"r = subprocess.run({BOT!r} + ['policy', 'check', sys.argv[1]], capture_output=True, text=True)\n"
            "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
            "print('MAXRSS', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(r.returncode)\n")
    result = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    elapsed = time.monotonic() - started
    rss_mib = int(result.stderr.rsplit("MAXRSS", 1)[1].strip()) / 1024
    return result, elapsed, rss_mib


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_policy_check_refuses_hostile_files_fast_and_located(tmp_path, case):
    text, where, message = HOSTILE[case]
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "hostile.yaml").write_text(text)
    result, elapsed, rss_mib = policy_check(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("MAXRSS")]
    assert any(line.startswith(str(folder / where)) and message in line for line in lines), lines
    assert len(lines) <= 2, lines          # one located problem, not a cascade
    assert elapsed < 2.0 + 1.0, f"took {elapsed:.1f}s"   # 2 s for the check, +1 s to start the interpreters
    assert rss_mib < 200, f"peak {rss_mib:.0f} MiB"


def test_a_non_utf8_policy_is_refused_with_its_position(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "latin.yaml").write_bytes(rule().encode() + b"# caf\xe9\n")
    result, _, _ = policy_check(folder)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{folder / 'latin.yaml'}:6:6: not UTF-8 text (byte 0xe9" in result.stderr


def test_a_hostile_config_is_refused_before_the_bot_starts(tmp_path):
    for name, content in (("bomb", BOMB.encode()), ("latin", b"maker:\n  spread_bps: 12 # caf\xe9\n")):
        (tmp_path / "config.yaml").write_bytes(content)
        started = time.monotonic()
        result = subprocess.run(BOT + ["run", "--duration", "5", "--port", "0"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr and "config.yaml" in result.stderr, (name, result.stderr)
        assert time.monotonic() - started < 5.0, name


def test_a_guard_whose_condition_fails_fails_closed_and_other_rules_stand_still():
    compiled = load_texts([("p.yaml", """
policy: p
rules:
  - name: pause
    when: vol_bps / inventory_units > 3
    then: {pause: both}
  - name: tighten
    when: vol_bps / inventory_units < 3
    then: {spread_add_bps: -1}
""")], FEATURE_NAMES)
    engine = PolicyEngine(compiled)
    features = dict.fromkeys(FEATURE_NAMES, 0.0)          # inventory 0: both divide by zero
    decision = engine.evaluate(features, 0.0)
    assert decision.effects.pause_bid and decision.effects.pause_ask      # the guard fires
    assert decision.effects.spread_add_bps == 0.0                         # the loosening rule does not
    assert engine.error_counts == {"p.pause": 1, "p.tighten": 1}
    assert [r.guard for r in compiled.rules] == [True, False]


# -- fuzz: whatever the checker accepts runs in bounded time and never raises ------------------------

_ATOMS = st.sampled_from(["vol_bps", "mid", "book_age_s", "inventory_units", "fill_count", "9", "0", "1e9",
                          "0.5", "-3", "True"])


def _grow(children):
    return st.one_of(
        st.builds(lambda a, op, b: f"({a}) {op} ({b})", children, st.sampled_from(["+", "-", "*", "/", "%", "//"]),
                  children),
        st.builds(lambda a, n: f"({a}) ** {n}", children, st.integers(-9, 9)),
        st.builds(lambda a, op, b: f"({a}) {op} ({b})", children, st.sampled_from(["<", ">=", "==", "and", "or"]),
                  children),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max"]), children, children),
        st.builds(lambda a: f"abs({a})", children),
        st.builds(lambda a, b, c: f"({a}) if ({b}) else ({c})", children, children, children),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(_ATOMS, _grow, max_leaves=12),
       st.dictionaries(st.sampled_from(["vol_bps", "mid", "book_age_s", "inventory_units", "fill_count"]),
                       st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
                                 st.just(0.0))))
def test_accepted_expressions_evaluate_in_bounded_time_without_escaping(expr, values):
    text = f"policy: fuzz\nrules:\n  - name: r\n    when: \"({expr}) > 0\"\n    then: {{pause: both}}\n" \
           f"  - name: e\n    when: \"mid > 0\"\n    then: {{spread_add_bps: \"clamp({expr}, 0, 5)\"}}\n"
    started = time.monotonic()
    try:
        compiled = load_texts([("fuzz.yaml", text)], FEATURE_NAMES)
    except InputError as exc:
        assert all(str(p).startswith("fuzz.yaml:") for p in exc.problems)
        return
    finally:
        assert time.monotonic() - started < 2.0
    engine = PolicyEngine(compiled)
    features = {**dict.fromkeys(FEATURE_NAMES, 0.0), **values}
    started = time.monotonic()
    engine.evaluate(features, 0.0)                 # never raises: failures are rule errors
    engine.evaluate(features, 1.0)
    assert time.monotonic() - started < 0.05


_YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**400, 10**400),
                          st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                          st.sampled_from(["vol_bps > 30", "9**9**9", "30s", "&a x", "*a", "!!python/object:os.system",
                                           "pause: both", "{", "]", "- ", ".nan", "1e400"]))
_YAML_TREES = st.recursive(_YAML_SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.sampled_from(["policy", "rules", "name", "when", "until", "then", "params", "for", "states",
                                     "x", "pause", "spread_add_bps"]), children, max_size=4)), max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_YAML_TREES, cut=st.integers(0, 400), junk=st.binary(max_size=20))
def test_any_yaml_document_is_a_located_refusal_or_a_policy_never_an_escape(tree, cut, junk):
    import yaml
    text = yaml.safe_dump({"policy": "fuzz", "rules": tree}, allow_unicode=True)
    for candidate in (text, text[:cut], text[:cut] + junk.decode("utf-8", "replace") + text[cut:]):
        started = time.monotonic()
        try:
            load_texts([("fuzz.yaml", candidate)], FEATURE_NAMES)
        except InputError as exc:
            assert exc.problems and all(str(p).startswith("fuzz.yaml") for p in exc.problems)
        assert time.monotonic() - started < 2.0
