"""`scripts/set_market.py`: the derivation beside the seed's numbers, and the command against the
fake Lighter server (profile written, activated, loadable by `run --profile`; clear errors)."""
from __future__ import annotations

import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml

from lighter_harness import require_lighter_sdk

REPO = Path(__file__).resolve().parent.parent


def sol(price: str = "185"):
    from adapters.lighter.set_market import MarketInfo

    # Lighter's SOL perp as the fake server (and mainnet) describe it: lot 0.001, at least 0.050 SOL and $10
    return MarketInfo(2, "SOL", 3, 3, D("0.050"), D("10.000000"), D(price))


def test_the_seeds_inputs_beside_the_seeds_numbers():
    """--balance-usd 30 --sizing-multiplier 1.1 on SOL. The seed ran 0.064 / 0.061 / 0.072, floor 10.5.

    The seed's size_min 0.061 is the notional floor at SOL ~172 (10.5 / 0.061 = 172.1), and the
    derivation agrees there: size_min 0.061, floor 10.5. Its size and size_max are not the
    multiplier applied literally (0.064 / 0.061 = 1.05, 0.072 / 0.064 = 1.125); ours are
    0.061 x 1.1 -> 0.068 and 0.068 x 1.1 -> 0.075 (rounded up to a lot). The limits come out at
    the seed's notionals ($50 inventory, $40 an order) in units of that price."""
    from adapters.lighter.set_market import derive, validate

    profile = derive(sol("172.2"), D("172.2"), D(30), D("1.1"))
    validate(profile)
    seed = {"size_units": 0.064, "size_min_units": 0.061, "size_max_units": 0.072, "notional_floor": 10.5}
    ours = profile["maker"]
    assert ours == {"size_units": 0.068, "size_min_units": 0.061, "size_max_units": 0.075, "notional_floor": 10.5}
    assert ours["size_min_units"] == seed["size_min_units"] and ours["notional_floor"] == seed["notional_floor"]
    assert profile["risk"]["max_inventory_notional"] == 50.0 and profile["risk"]["max_order_notional"] == 40.0
    assert profile["risk"]["max_position_units"] == 0.29          # the seed's 0.3 is $51.7 at 172.2
    assert profile["risk"]["max_drawdown_quote"] == 1.5 and profile["risk"]["halt_drawdown_quote"] == 3.0


def test_never_below_the_minimum_size_or_the_notional_floor():
    from adapters.lighter.set_market import derive

    high = derive(sol("400"), D("400"), D(100), D("1.0"))       # 10.5 / 400 = 0.026 < min 0.050
    assert high["maker"]["size_min_units"] == 0.05 and high["maker"]["size_units"] == 0.05
    low = derive(sol("100"), D("100"), D(30), D("1.0"))         # 10.5 / 100 = 0.105 > min 0.050
    assert low["maker"]["size_min_units"] == 0.105
    for p in ("17.31", "99.99", "185.007"):
        m = derive(sol(p), D(p), D(300), D("1.1"))["maker"]
        assert m["size_min_units"] * float(p) >= 10.5 and m["size_min_units"] >= 0.05


def test_a_balance_too_small_is_refused():
    from adapters.lighter.set_market import derive
    from adapters.lighter.tool_rest import ToolError

    with pytest.raises(ToolError, match="too small"):
        derive(sol(), D("185"), D(5), D("1.1"))


@pytest.fixture(scope="module")
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=4, trade_interval_s=3600.0)).start()
    yield server
    server.stop()


def test_writes_activates_and_loads_with_run_profile(fake, tmp_path, capsys):
    from adapters.lighter.set_market import main
    from lighter_bot import BotConfig
    from runtime.service import replay as replay_cli

    out = tmp_path / "profiles" / "market_<id>.yaml"
    assert main(["--symbol", "sol", "--balance-usd", "30", "--sizing-multiplier", "1.1", "--profile-out", str(out),
                 "--activate", "--price", "185", "--base-url", fake.url]) == 0
    written = tmp_path / "profiles" / "market_2.yaml"
    profile = yaml.safe_load(written.read_text())
    assert profile["market"] == {"market_id": 2, "symbol": "SOL", "price_decimals": 3, "size_decimals": 3,
                                 "min_base_units": 0.05, "min_quote": 10.0}
    assert profile["maker"] == {"size_units": 0.063, "size_min_units": 0.057, "size_max_units": 0.07,
                                "notional_floor": 10.5}
    active = tmp_path / "profiles" / "active.yaml"
    assert yaml.safe_load(active.read_text()) == profile
    config, price_range = replay_cli.apply_profile(BotConfig(), active, BotConfig)
    assert config.maker.size_units == 0.063 and config.risk.max_position_units == 0.27
    assert price_range == (18.5, 1850.0)
    assert "activated" in capsys.readouterr().out


def test_sizes_at_the_markets_last_price_by_default(fake, tmp_path):
    from adapters.lighter.set_market import main

    out = tmp_path / "m.yaml"
    assert main(["--symbol", "SOL", "--balance-usd", "30", "--profile-out", str(out), "--base-url", fake.url]) == 0
    profile = yaml.safe_load(out.read_text())
    price = profile["venue"]["paper"]["start_price"]
    assert 150 < price < 220                      # the fake's moving SOL mid, from orderBookDetails
    assert profile["maker"]["size_min_units"] * price >= 10.5
    assert not (tmp_path / "active.yaml").exists()


def test_errors_are_one_line_and_non_zero(fake, tmp_path, capsys):
    from adapters.lighter.set_market import main

    base = ["--balance-usd", "30", "--profile-out", str(tmp_path / "x.yaml")]
    assert main(["--symbol", "DOGE", *base, "--base-url", fake.url]) == 1
    assert "no perp market 'DOGE'" in capsys.readouterr().err
    assert main(["--symbol", "SOL", "--balance-usd", "4", "--profile-out", str(tmp_path / "x.yaml"),
                 "--base-url", fake.url]) == 1
    assert "too small" in capsys.readouterr().err
    assert main(["--symbol", "SOL", *base, "--base-url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


def test_the_script_help_and_a_bad_flag():
    script = [sys.executable, str(REPO / "scripts" / "set_market.py")]
    ok = subprocess.run([*script, "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "--sizing-multiplier" in ok.stdout and "active.yaml" in ok.stdout
    bad = subprocess.run([*script, "--symbol", "SOL", "--balance-usd", "lots"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "--balance-usd" in bad.stderr and "Traceback" not in bad.stderr
