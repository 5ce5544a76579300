"""`scripts/apply_profile.py`: a commented config.yaml keeps every byte outside the keys the
profile changes; the result is validated before writing; the diff, the reload/restart split and
the instrument metadata; clear errors."""
from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import yaml

from lighter_bot import BotConfig, load_config
from runtime.service.apply_profile import main

REPO = Path(__file__).resolve().parent.parent


def leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_the_commented_config_round_trips_outside_the_changed_keys(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    original = (REPO / "config.yaml").read_text()
    config.write_text(original)
    profile = REPO / "profiles" / "market_1.yaml"
    meta = tmp_path / "data" / "instruments" / "market_1.json"
    assert main(BotConfig, ["--profile", str(profile), "--config", str(config), "--metadata-out", str(meta)]) == 0
    new = config.read_text()
    old_lines, new_lines = original.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)                       # no line added, dropped or re-wrapped
    wanted = leaves({k: v for k, v in yaml.safe_load(profile.read_text()).items() if k != "price_range"})
    names = {k.rsplit(".", 1)[1] for k in wanted}
    changed = [(a, b) for a, b in zip(old_lines, new_lines) if a != b]
    assert changed, "the BTC profile changes the SOL config"
    for a, b in changed:
        key_a, key_b = a.split(":")[0].strip(), b.split(":")[0].strip()
        assert key_a == key_b and key_a in names, (a, b)
        if "#" in a:                                             # an end-of-line comment stays
            assert a[a.index("#"):] == b[b.index("#"):]
    # every comment line of the file is untouched
    assert [x for x in old_lines if x.lstrip().startswith("#")] == [x for x in new_lines if x.lstrip().startswith("#")]
    loaded = load_config(config)
    assert loaded.market.symbol == "BTC" and loaded.maker.size_max_units == 0.00024
    assert loaded.venue.paper.start_price == 65000.0
    assert loaded.maker.spread_bps == load_config(REPO / "config.yaml").maker.spread_bps
    out = capsys.readouterr().out
    assert "-  symbol: SOL" in out and "+  symbol: BTC" in out
    assert "reloads on save: maker.size_units" in out and "need a restart: market.market_id" in out
    assert "maker.notional_floor" not in out                      # the same value: not a change
    assert json.loads(meta.read_text())["price_range"] == [5000.0, 1000000.0]
    assert json.loads(meta.read_text())["size_decimals"] == 5
    # applying it again changes nothing
    assert main(BotConfig, ["--profile", str(profile), "--config", str(config)]) == 0
    assert config.read_text() == new and "already has every value" in capsys.readouterr().out


def test_unrelated_keys_quotes_and_comments_kept_byte_for_byte(tmp_path):
    text = ("# top comment\n"
            "runtime:\n"
            "  ledger:\n"
            "    path: 'data/metrics/fills.jsonl'   # quoted, with a comment\n"
            "maker:\n"
            "  spread_bps: 12.0 # odd spacing kept\n"
            "  size_units: 0.064\n"
            "\n"
            "# a trailing comment block\n")
    config = tmp_path / "config.yaml"
    config.write_text(text)
    profile = tmp_path / "p.yaml"
    profile.write_text("maker:\n  size_units: 0.07\n  size_max_units: 0.08\n")
    assert main(BotConfig, ["--profile", str(profile), "--config", str(config)]) == 0
    new = config.read_text()
    diff = [line for line in difflib.ndiff(text.splitlines(), new.splitlines()) if line[:1] in "+-"]
    assert diff == ["-   size_units: 0.064", "+   size_units: 0.07", "+   size_max_units: 0.08"]


def test_an_invalid_result_writes_nothing(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config.yaml").read_text())
    before = config.read_text()
    profile = tmp_path / "bad.yaml"
    profile.write_text("maker:\n  size_units: 0.5\n")               # above size_max_units 0.072
    assert main(BotConfig, ["--profile", str(profile), "--config", str(config), "--metadata-out",
                            str(tmp_path / "m.json")]) == 1
    err = capsys.readouterr().err
    assert "does not validate, nothing written" in err and "size_min_units <= size_units" in err
    assert config.read_text() == before and not (tmp_path / "m.json").exists()
    assert list(tmp_path.glob(".config.yaml.*")) == []             # no temporary file left behind
    assert main(BotConfig, ["--profile", str(tmp_path / "missing.yaml"), "--config", str(config)]) == 1
    assert "cannot read the profile" in capsys.readouterr().err


def test_dry_run_writes_nothing(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config.yaml").read_text())
    before = config.read_text()
    assert main(BotConfig, ["--profile", str(REPO / "profiles" / "market_1.yaml"), "--config", str(config),
                            "--dry-run"]) == 0
    assert config.read_text() == before and "dry run" in capsys.readouterr().out


def test_the_script_help_and_a_bad_flag():
    script = [sys.executable, str(REPO / "scripts" / "apply_profile.py")]
    ok = subprocess.run([*script, "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "--metadata-out" in ok.stdout
    bad = subprocess.run([*script, "--profile"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected one argument" in bad.stderr and "Traceback" not in bad.stderr
