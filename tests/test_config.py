"""`config.yaml`: the seed's numbers as defaults, and every mistake located, before anything starts."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from rules.errors import ConfigError
from rules.loader import load_policy_set
from rules.schema import parse_duration
from runtime.catalog import FEATURE_NAMES
from runtime.service.cli import main
from lighter_bot import BotConfig as Config
from lighter_bot import load_config

REPO = Path(__file__).resolve().parent.parent


def test_defaults_are_the_seed_numbers():
    c = Config()
    assert c.maker.size_units == 0.064
    assert (c.maker.size_min_units, c.maker.size_max_units) == (0.061, 0.072)
    assert c.maker.notional_floor == 10.5
    assert c.maker.spread_bps == 12.0
    assert (c.maker.volatility.min_spread_bps, c.maker.volatility.max_spread_bps) == (7.0, 13.0)
    assert (c.maker.adaptive_size.wild_mult, c.maker.adaptive_size.calm_mult) == (0.7, 1.1)
    assert c.maker.volatility.halflife_s == 45.0
    assert c.maker.trend.lookback_s == 45.0
    h = c.hedger
    assert (h.trigger_units, h.target_units, h.max_clip_units, h.max_slippage_bps, h.passive_wait_s,
            h.passive_offset_bps, h.aggressive_after_s) == (0.05, 0.02, 0.10, 12.0, 0.25, 2.0, 8.0)
    assert (c.risk.max_position_units, c.risk.max_inventory_notional) == (0.3, 50.0)
    assert c.market.min_base_units == 0.061 and c.market.market_id == 2
    assert not c.risk.kill_switch


def test_the_seed_block_backoff_lives_in_the_inventory_guard_policy():
    # risk.block_backoff_s (5 s) moved out of config.yaml into the policy that uses it.
    compiled = load_policy_set([REPO / "policies" / "inventory_guard.yaml"], FEATURE_NAMES)
    assert parse_duration(compiled.params["inventory_guard"]["backoff"]) == 5.0
    assert {r.keep_for_s for r in compiled.rules} == {5.0}


def test_no_path_means_the_embedded_defaults():
    assert load_config(None) == Config()


def test_the_repo_config_yaml_loads_and_restates_the_defaults():
    path = REPO / "config.yaml"
    if not path.exists():
        pytest.skip("no config.yaml in the repository")
    assert load_config(path) == Config()   # its header says every value is the embedded default
    # ... and it lists every key, so a trader sees every knob (the paper market's regime table is
    # long and lives in adapters/paper/config.py, as the file says).
    def keys(tree: dict, prefix: str = "") -> set[str]:
        out = set()
        for name, value in tree.items():
            out.add(prefix + name)
            if isinstance(value, dict):
                out |= keys(value, f"{prefix}{name}.")
        return out
    listed = keys(yaml.safe_load(path.read_text()))
    expected = {k for k in keys(Config().model_dump()) if not k.startswith("venue.paper.regimes")}
    assert expected - listed == set()


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_unknown_key_is_located_with_a_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """
        maker:
          spread_bps: 12
          volatlity:
            halflife_s: 45
    """)
    assert problems(Path("config.yaml")) == [
        "config.yaml:3:3: maker.volatlity: unknown key, did you mean maker.volatility?"]


def test_unknown_section_is_located_with_a_suggestion(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """
        market:
          symbol: SOL
        hedgr:
          enabled: false
    """)
    assert problems(Path("config.yaml")) == ["config.yaml:3:1: hedgr: unknown key, did you mean hedger?"]


@pytest.mark.parametrize("text, expected", [
    ("maker:\n  spread_bps: wide\n",
     "config.yaml:2:3: maker.spread_bps: expected a valid number, unable to parse string as a number, got 'wide'"),
    ("risk:\n  max_position_units: -1\n",
     "config.yaml:2:3: risk.max_position_units: expected greater than 0, got -1"),
    ("risk:\n  max_inventory_notional: 0\n",
     "config.yaml:2:3: risk.max_inventory_notional: expected greater than 0, got 0"),
    ("market:\n  market_id: 2.5\n",
     "config.yaml:2:3: market.market_id: expected a valid integer, got a number with a fractional part, got 2.5"),
    ("venue:\n  paper:\n    sweep_prob: 1.5\n",
     "config.yaml:3:5: venue.paper.sweep_prob: expected less than or equal to 1, got 1.5"),
    ("venue:\n  kind: lighter_mainnet\n",
     "config.yaml:2:3: venue.kind: expected 'paper', 'lighter' or 'replay', got 'lighter_mainnet'"),
    ("maker:\n  size_units: 0.05\n",
     "config.yaml:1:1: maker: expected size_min_units <= size_units <= size_max_units"),
    ("hedger:\n  target_units: 0.06\n",
     "config.yaml:1:1: hedger: target_units must be below trigger_units"),
    ("hedger:\n  trigger_units: 0.03\n",
     "config.yaml:1:1: hedger.trigger_units + hedger.target_units (0.03 + 0.02) must be at least "
     "market.min_base_units (0.061): a position between the trigger and the venue minimum minus the target "
     "could never be hedged"),
    ("maker:\n  volatility: {min_spread_bps: 14}\n",
     "config.yaml:2:3: maker.volatility: min_spread_bps must not exceed max_spread_bps"),
])
def test_wrong_types_and_violated_constraints_are_located(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(text)
    found = problems(Path("config.yaml"))
    assert found == [expected]


def test_constraints_sit_exactly_at_their_thresholds(tmp_path):
    # Sizes equal to their bounds are fine; one lot past is not.
    at_bounds = write(tmp_path, "maker:\n  size_units: 0.061\n", "a.yaml")
    assert load_config(at_bounds).maker.size_units == 0.061
    below = write(tmp_path, "maker:\n  size_units: 0.060\n", "b.yaml")
    assert "size_min_units <= size_units" in problems(below)[0]
    # target must be strictly below trigger
    assert "target_units must be below" in problems(write(tmp_path, "hedger:\n  target_units: 0.05\n", "c.yaml"))[0]
    assert load_config(write(tmp_path, "hedger:\n  target_units: 0.049\n", "d.yaml")).hedger.target_units == 0.049


def test_yaml_syntax_error_is_located(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """
        maker:
          spread_bps: 12
         size_units: 0.064
    """)
    [problem] = problems(Path("config.yaml"))
    assert problem.startswith("config.yaml:3:")
    assert "invalid YAML" in problem


def test_a_non_mapping_config_is_refused(tmp_path):
    path = write(tmp_path, "- maker\n- risk\n")
    assert problems(path) == [f"{path}:1:1: expected a mapping of sections (market:, maker:, ...)"]


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(tmp_path, """
        maker:
          spred_bps: 12
        risk:
          max_position_units: 0
    """)
    found = problems(path)
    assert len(found) == 2
    assert found[0].startswith(f"{path}:2:3: maker.spred_bps: unknown key, did you mean maker.spread_bps?")
    assert found[1].startswith(f"{path}:4:3: risk.max_position_units: expected greater than 0")


def test_overrides_merge_with_defaults(tmp_path):
    config = load_config(write(tmp_path, "maker:\n  spread_bps: 9\nrisk:\n  kill_switch: true\n"))
    assert config.maker.spread_bps == 9 and config.maker.size_units == 0.064
    assert config.risk.kill_switch and config.risk.max_position_units == 0.3


def test_config_is_frozen():
    with pytest.raises(Exception):
        Config().risk.max_position_units = 10  # type: ignore[misc]


def test_run_with_a_bad_config_exits_1_before_starting_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """
        maker:
          volatlity:
            halflife_s: 45
    """, "bad.yaml")
    opened = []

    def open_venue(*args):
        opened.append(args)
        raise AssertionError("the venue must not be opened with a bad config")

    code = main(["run", "--config", "bad.yaml", "--duration", "1", "--port", "0"], config_model=Config, open_venue=open_venue)
    out, err = capsys.readouterr()
    assert code == 1
    assert opened == []
    assert err.strip() == "bad.yaml:2:3: maker.volatlity: unknown key, did you mean maker.volatility?"
    assert "Traceback" not in out + err
    assert not (tmp_path / "data").exists()          # no decision log was opened


def test_run_with_a_missing_config_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--config", "nope.yaml"], config_model=Config, open_venue=lambda *a: pytest.fail("venue opened"))
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("nope.yaml: cannot read config:")


def test_defaults_round_trip_through_yaml(tmp_path):
    dumped = Config().model_dump(mode="json")
    path = write(tmp_path, yaml.safe_dump(dumped))
    assert load_config(path) == Config()
