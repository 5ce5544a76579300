"""Shared set-up for tests against the fake Lighter server: skips without lighter-sdk, a fake
server in its own thread, and a live adapter with a fresh API key registered on it."""
from __future__ import annotations

import importlib.util

import pytest

INSTALL = "pip install -e '.[lighter]'"


def require_lighter_sdk() -> None:
    if importlib.util.find_spec("lighter") is None or importlib.util.find_spec("aiohttp") is None:
        pytest.skip(f"needs lighter-sdk and aiohttp (the [lighter] extra): {INSTALL}")


def venue_on(server, api_key_index: int = 3, **overrides):
    """A LighterVenue for the fake server's account, with a new key registered there."""
    from adapters.lighter.config import LighterConfig, LighterSecrets
    from adapters.lighter.signer import generate_api_key
    from adapters.lighter.venue import LighterVenue
    from runtime.market import MarketSpec

    private, public = generate_api_key()
    server.register_key(server.settings.account_index, api_key_index, public)
    config = LighterConfig(base_url=server.url, chain_id=304, **overrides)
    secrets = LighterSecrets(server.settings.account_index, api_key_index, private)
    placeholder = MarketSpec(server.settings.market_id, "SOL", 3, 3, 0.05, 10.0)
    return LighterVenue(placeholder, config, secrets)
