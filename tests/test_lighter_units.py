"""The Lighter adapter's small parts: secrets from the environment (never shown), the request
budget, the nonce counter, the backoff, and the fake-server command's fault flags."""
from __future__ import annotations

import random

import pytest

from adapters.lighter.budget import RequestBudget
from adapters.lighter.commands import parse_faults
from adapters.lighter.config import LighterConfig, LighterSecrets, MissingSecret
from adapters.lighter.nonces import NonceCounter
from adapters.lighter.transport import Backoff, Refused
from lighter_harness import require_lighter_sdk

KEY = "ab" * 40
ENV = {"LIGHTER_API_PRIVATE_KEY": KEY, "LIGHTER_ACCOUNT_INDEX": "1001", "LIGHTER_API_KEY_INDEX": "3",
       "WS_AUTH_TOKEN": "1796190000:1001:3:" + "cd" * 80}


def test_secrets_come_from_the_environment_and_are_never_shown():
    secrets = LighterSecrets.from_env(LighterConfig(), ENV)
    assert (secrets.account_index, secrets.api_key_index, secrets.private_key) == (1001, 3, KEY)
    assert KEY not in repr(secrets) and "cd" * 80 not in repr(secrets) and "1001" in repr(secrets)
    assert KEY not in repr(LighterConfig())          # the config holds variable names only


@pytest.mark.parametrize("env, message", [
    ({k: v for k, v in ENV.items() if k != "LIGHTER_API_PRIVATE_KEY"}, "LIGHTER_API_PRIVATE_KEY"),
    ({**ENV, "LIGHTER_ACCOUNT_INDEX": ""}, "LIGHTER_ACCOUNT_INDEX"),
    ({**ENV, "LIGHTER_API_KEY_INDEX": "x"}, "LIGHTER_API_KEY_INDEX: expected a non-negative integer"),
    ({**ENV, "LIGHTER_API_KEY_INDEX": "255"}, "expected 0..254"),
])
def test_a_missing_or_malformed_secret_names_the_variable_and_never_the_key(env, message):
    with pytest.raises(MissingSecret) as caught:
        LighterSecrets.from_env(LighterConfig(), env)
    assert message in str(caught.value) and KEY not in str(caught.value)


def test_the_stream_url_follows_the_base_url():
    assert LighterConfig().stream_url() == "wss://mainnet.zklighter.elliot.ai/stream"
    assert LighterConfig(base_url="http://127.0.0.1:8765").stream_url() == "ws://127.0.0.1:8765/stream"


def test_the_budget_refuses_sends_beyond_the_window_and_keeps_a_reserve_for_reads():
    budget = RequestBudget(limit=5, window_s=60.0, reserve_for_reads=2)
    assert [budget.try_send(t) for t in (0, 1, 2, 3)] == [True, True, True, False]   # 5 - 2 reserved
    assert budget.try_send(3, protective=True)                                         # a cancel may use it
    budget = RequestBudget(limit=5, window_s=60.0, reserve_for_reads=2)
    assert [budget.try_send(t) for t in (0, 1, 2)] == [True, True, True]
    assert budget.read_wait_s(3) == 0.0
    budget.spend_read(3)
    budget.spend_read(4)
    assert budget.used(4) == 5 and budget.read_wait_s(4) == pytest.approx(56.0)       # reads wait, not refused
    assert budget.used(60.5) == 4 and budget.refused_total == 0                        # the window rolls
    guarded = RequestBudget(limit=1, window_s=60.0, guard_s=1.0)
    assert guarded.try_send(0) and not guarded.try_send(60.5) and guarded.try_send(61.5)


def test_nonces_count_locally_give_back_refusals_and_go_stale_when_in_doubt():
    nonces = NonceCounter()
    assert nonces.stale
    nonces.reset(41)
    assert nonces.take(3) == [41, 42, 43]
    nonces.give_back([41, 42, 43])                    # a 4xx: none consumed
    assert nonces.take(1) == [41]
    nonces.invalidate()                               # a 429, 5xx or timeout: the server's count is unknown
    assert nonces.stale and nonces.refetches_total == 1
    with pytest.raises(RuntimeError):
        nonces.take(1)


def test_invalid_nonce_is_recognised_by_code_and_by_old_servers_text():
    assert Refused(400, 21104, "invalid nonce").invalid_nonce
    assert Refused(400, 400, "Invalid Nonce").invalid_nonce      # SDK-era servers (reference §2)
    assert not Refused(400, 21706, "invalid order base or quote amount").invalid_nonce


def test_backoff_is_jittered_exponential_and_capped():
    backoff = Backoff(0.25, 4.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.125 <= d <= 4.0 for d in delays) and max(delays[4:]) > max(delays[:1])
    backoff.reset()
    assert backoff.next_delay() <= 0.25


def test_fake_server_fault_flags():
    require_lighter_sdk()         # the fake server needs aiohttp
    faults = parse_faults("late_fills=1.5, duplicate_fills,lost_acks")
    assert (faults.late_fills_s, faults.duplicate_fills, faults.lost_acks) == (1.5, True, True)
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("explode")
    with pytest.raises(ValueError, match="needs a number"):
        parse_faults("late_fills=soon")


def test_without_the_extra_the_venue_refuses_to_start_naming_the_install_command(monkeypatch):
    from adapters.lighter import signer
    from adapters.lighter.venue import LighterVenue, VenueConfigError
    from runtime.market import MarketSpec

    monkeypatch.setattr(signer, "_sdk_spec", lambda: None)      # as if lighter-sdk were not installed
    secrets = LighterSecrets.from_env(LighterConfig(), ENV)
    with pytest.raises(VenueConfigError, match=r"pip install -e '\.\[lighter\]'") as caught:
        LighterVenue(MarketSpec(2, "SOL", 3, 3, 0.05, 10.0), LighterConfig(), secrets)
    assert KEY not in str(caught.value)
