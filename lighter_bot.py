"""Composition root: the only module that imports both the runtime and the adapters.

It assembles the whole `config.yaml` model (the core's sections, the service's and every
adapter's own `venue.<kind>` model) and hands the CLI a venue factory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from adapters import DEFAULT_KIND, VENUE_CONFIGS, open_venue
from adapters.lighter.commands import COMMANDS as LIGHTER_COMMANDS
from adapters.lighter.config import MAINNET_URL
from runtime.service.config import BotConfig as _BotConfigBase
from runtime.service.config import bot_config_model
from runtime.service.config import load_config as _load_config

BotConfig: type[_BotConfigBase] = bot_config_model(VENUE_CONFIGS, DEFAULT_KIND)


def load_config(path: Path | None) -> _BotConfigBase:
    """`config.yaml` at `path` (None: the embedded defaults), with located errors."""
    return _load_config(path, BotConfig)


def cli(argv: Sequence[str] | None = None) -> int:
    """`lighter-bot ARGS`, returning the exit code (tests call this)."""
    from runtime.service.cli import main as cli_main

    return cli_main(argv, config_model=BotConfig, open_venue=open_venue, extra_commands=LIGHTER_COMMANDS,
                    replay_backend=_replay_backend, sweep_parts=replay_worker_parts,
                    candle_fetcher=_fetch_lighter_candles, default_rest=MAINNET_URL)


def _replay_backend():
    """adapters/replay (numpy, msgspec), imported only by the commands that use it."""
    import adapters.replay

    return adapters.replay


def replay_worker_parts():
    """(replay backend, config model) for a sweep's worker processes and Ray tasks. A module-level
    function pickles by reference, so a worker gets the adapters through the composition root, as
    the CLI does, and runtime.service never imports them."""
    return _replay_backend(), BotConfig


def _fetch_lighter_candles(base_url: str, market_id: int, start_s: float, end_s: float) -> list[tuple]:
    """`analyze --candles lighter:N`: 1-minute bars through the lighter adapter's REST client; its
    errors become the analysis's located CandleError."""
    from adapters.lighter.candles import fetch_candles
    from adapters.lighter.tool_rest import ToolError, ToolRest
    from runtime.service.regimes.candles import CandleError

    try:
        with ToolRest(base_url) as rest:
            return fetch_candles(rest, market_id, start_s, end_s)
    except ToolError as exc:
        raise CandleError(f"--candles lighter:{market_id}: {exc}") from None


def main() -> None:
    raise SystemExit(cli())
