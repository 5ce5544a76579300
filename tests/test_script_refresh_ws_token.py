"""`scripts/refresh_ws_token.py` against the fake Lighter server: a signer-made token the venue
accepts, written with mode 600; `--railway`/`--print` never show the token; clear errors."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lighter_harness import require_lighter_sdk

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = 1001


@pytest.fixture(scope="module")
def fake():
    require_lighter_sdk()
    from adapters.lighter.fake_server import FakeLighter, FakeSettings

    server = FakeLighter(FakeSettings(seed=5, trade_interval_s=3600.0)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env():
    require_lighter_sdk()
    from adapters.lighter.signer import generate_api_key

    private, _ = generate_api_key()
    return {"LIGHTER_API_PRIVATE_KEY": private, "LIGHTER_ACCOUNT_INDEX": str(ACCOUNT), "LIGHTER_API_KEY_INDEX": "3"}


def config_file(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"venue:\n  kind: lighter\n  lighter:\n    base_url: {base_url}\n    chain_id: 304\n"
                    f"    ws_token_file: {tmp_path / '.env.ws_token'}\n")
    return path


def run_script(*args: str, env: dict[str, str], path_prefix: str = "") -> subprocess.CompletedProcess:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    full.pop("WS_AUTH_TOKEN", None)
    if path_prefix:
        full["PATH"] = path_prefix + os.pathsep + full["PATH"]
    return subprocess.run([sys.executable, str(REPO / "scripts" / "refresh_ws_token.py"), *args], capture_output=True,
                          text=True, timeout=120, check=False, env=full)


def test_writes_a_token_the_venue_accepts_with_mode_600(fake, env, tmp_path):
    config = config_file(tmp_path, fake.url)
    done = run_script("--config", str(config), "--ttl", "3600", env=env)
    assert done.returncode == 0, done.stderr
    out = tmp_path / ".env.ws_token"
    token = out.read_text().strip()
    deadline, account, key, signature = token.split(":")
    assert (int(account), int(key)) == (ACCOUNT, 3) and len(signature) >= 64
    assert abs(int(deadline) - (time.time() + 3600)) < 60
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert token not in done.stdout + done.stderr and signature not in done.stdout + done.stderr
    assert fake.call(lambda: fake._check_token(token, ACCOUNT)) is None       # the fake's own check passes


def test_railway_print_and_run_never_show_the_token(fake, env, tmp_path):
    config = config_file(tmp_path, fake.url)
    shown = run_script("--config", str(config), "--railway", "--print", env=env)
    assert shown.returncode == 0, shown.stderr
    token = (tmp_path / ".env.ws_token").read_text().strip()
    assert "railway variables --service lighter-bot --set WS_AUTH_TOKEN=<token>" in shown.stdout
    assert token.split(":")[3] not in shown.stdout + shown.stderr
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "railway_args"
    railway = bin_dir / "railway"
    railway.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\necho \"Set variables: $6\"\n")
    railway.chmod(0o755)
    ran = run_script("--config", str(config), "--railway", env=env, path_prefix=str(bin_dir))
    assert ran.returncode == 0, ran.stderr
    token = (tmp_path / ".env.ws_token").read_text().strip()
    args = record.read_text().splitlines()
    assert args == ["variables", "--service", "lighter-bot", "--set", f"WS_AUTH_TOKEN={token}"]
    assert token.split(":")[3] not in ran.stdout + ran.stderr      # railway's own echo is captured, not shown
    assert "set WS_AUTH_TOKEN on Railway service lighter-bot" in ran.stdout
    railway.write_text("#!/bin/sh\necho \"rejected $6\" >&2\nexit 3\n")
    failed = run_script("--config", str(config), "--railway", env=env, path_prefix=str(bin_dir))
    assert failed.returncode == 1 and "failed with exit 3" in failed.stderr
    assert "WS_AUTH_TOKEN=<token>" in failed.stderr and token.split(":")[3] not in failed.stderr


def test_errors_are_one_line_and_non_zero(fake, env, tmp_path):
    unreachable = run_script("--config", str(config_file(tmp_path, "http://127.0.0.1:9")), env=env)
    assert unreachable.returncode == 1 and "cannot reach http://127.0.0.1:9" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and not (tmp_path / ".env.ws_token").exists()
    missing = run_script("--config", str(config_file(tmp_path, fake.url)),
                         env={**env, "LIGHTER_API_PRIVATE_KEY": ""})
    assert missing.returncode == 1 and "set LIGHTER_API_PRIVATE_KEY" in missing.stderr
    # an HTTP error (a wrong base URL: the fake answers 404 with a text body)
    refused = run_script("--config", str(config_file(tmp_path, fake.url)), "--base-url", fake.url + "/nope", env=env)
    assert refused.returncode == 1 and "HTTP 404" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / ".env.ws_token").exists()
    bad = run_script("--ttl", "forever", env=env)
    assert bad.returncode == 2 and "invalid float value" in bad.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("venue:\n  lighter:\n    chain_idd: 1\n")
    assert run_script("--config", str(broken), env=env).returncode == 1
    helped = run_script("--help", env=env)
    assert helped.returncode == 0 and "--railway" in helped.stdout and "mode 600" in helped.stdout
