"""The Lighter venue's configuration (`venue.lighter` in config.yaml), owned by the adapter.

Secrets never live here: the model holds the *names* of the environment variables that carry
them (`LIGHTER_API_PRIVATE_KEY`, ...), and `LighterSecrets` reads them once at start-up. The
secrets object's repr masks the key and the tokens, so a log line or a traceback cannot leak them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from runtime.config import PositiveFloat, StrictModel

MAINNET_URL = "https://mainnet.zklighter.elliot.ai"
MAINNET_CHAIN_ID = 304          # reference §1: part of the signed hash
TESTNET_CHAIN_ID = 300


class LighterBudget(StrictModel):
    """One rolling-window request budget (reference §11). A standard account gets 60 requests a
    minute with sendTx included; premium accounts configure their own numbers here."""

    tier: Literal["standard", "premium"] = "standard"
    requests_per_window: Annotated[int, Field(ge=1)] = 60
    window_s: PositiveFloat = 60.0
    # Requests kept back from sends for reconciliation reads (a reconnect must always be able
    # to read the account), so quoting can never starve the recovery path.
    reserve_for_reads: Annotated[int, Field(ge=0)] = 6
    # Each request counts this much longer than the window: the exchange clocks it on arrival.
    guard_s: Annotated[float, Field(ge=0)] = 1.0


class LighterConfig(StrictModel):
    """Lighter mainnet by default; point `base_url`/`ws_url` at `lighter-bot fake-server` to rehearse."""

    base_url: str = MAINNET_URL
    ws_url: str = ""                          # empty: derived from base_url (https -> wss, + /stream)
    chain_id: int = MAINNET_CHAIN_ID
    market_id: int = 2                         # SOL on mainnet; the symbol is checked at start-up
    expect_symbol: str = "SOL"
    budget: LighterBudget = LighterBudget()
    request_timeout_s: PositiveFloat = 10.0    # a send unanswered this long has an unknown outcome
    connect_timeout_s: PositiveFloat = 10.0
    start_timeout_s: PositiveFloat = 30.0      # start() gives up (VenueDisconnected) after this long
    book_stale_s: PositiveFloat = 5.0          # no book update this long: quotes are pulled
    channel_silent_s: PositiveFloat = 30.0     # a subscribed channel silent this long: the socket is dead
    ping_interval_s: PositiveFloat = 30.0      # our keepalive (the server closes idle sockets after 2 min)
    reconnect_min_s: PositiveFloat = 0.25      # jittered exponential backoff between reconnects
    reconnect_max_s: PositiveFloat = 30.0
    # Post-only quotes live this long (the server silently refuses expiries under ~5 min, §5.2).
    post_only_expiry_s: Annotated[float, Field(ge=600.0)] = 28 * 24 * 3600.0
    auth_token_ttl_s: Annotated[float, Field(ge=60.0, le=8 * 3600.0)] = 600.0
    auth_refresh_before_s: PositiveFloat = 60.0
    shutdown_timeout_s: PositiveFloat = 10.0   # stop() waits this long for the cancel-all to be confirmed
    dry_run: bool = False                      # stream and reconcile, log intents, send nothing
    # Environment variable names (the values are secrets and never enter the config).
    private_key_env: str = "LIGHTER_API_PRIVATE_KEY"
    account_index_env: str = "LIGHTER_ACCOUNT_INDEX"
    api_key_index_env: str = "LIGHTER_API_KEY_INDEX"
    ws_token_env: str = "WS_AUTH_TOKEN"
    ws_token_file: str = ".env.ws_token"       # read when the variable is unset (as the seed does)
    bearer_env: str = "LIGHTER_API_BEARER"
    signer_library: str = ""                   # path of the signer .so; empty: the one in lighter-sdk

    def stream_url(self) -> str:
        if self.ws_url:
            return self.ws_url
        base = self.base_url.rstrip("/")
        if base.startswith("https://"):
            return "wss://" + base[len("https://"):] + "/stream"
        if base.startswith("http://"):
            return "ws://" + base[len("http://"):] + "/stream"
        raise ValueError(f"venue.lighter.base_url: expected http(s)://host, got {self.base_url!r}")


class MissingSecret(Exception):
    """A required secret is not in the environment; the message names the variable, never a value."""


@dataclass(frozen=True)
class LighterSecrets:
    """What the environment provides. `repr` never shows the key or a token."""

    account_index: int
    api_key_index: int
    private_key: str = field(repr=False)
    ws_token: str = field(default="", repr=False)
    bearer: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, config: LighterConfig, environ: dict[str, str] | None = None) -> "LighterSecrets":
        env = os.environ if environ is None else environ
        missing = [name for name in (config.private_key_env, config.account_index_env, config.api_key_index_env)
                   if not env.get(name, "").strip()]
        if missing:
            raise MissingSecret(f"set {', '.join(missing)} in the environment (see README: Trading on Lighter)")
        numbers = {}
        for name in (config.account_index_env, config.api_key_index_env):
            text = env[name].strip()
            if not text.isdigit():
                raise MissingSecret(f"{name}: expected a non-negative integer")
            numbers[name] = int(text)
        key_index = numbers[config.api_key_index_env]
        if not 0 <= key_index <= 254:
            raise MissingSecret(f"{config.api_key_index_env}: expected 0..254 (255 means 'all keys')")
        token = env.get(config.ws_token_env, "").strip()
        if not token and config.ws_token_file and Path(config.ws_token_file).is_file():
            token = Path(config.ws_token_file).read_text().strip()
        return cls(numbers[config.account_index_env], key_index, env[config.private_key_env].strip(),
                   token, env.get(config.bearer_env, "").strip())
