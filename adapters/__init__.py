"""Venues: the exchange side of `runtime.ports`.

Only the composition root (`lighter_bot.py`) imports this package; the runtime sees
venues through the `Venue` protocol alone. Each adapter owns its config model; the
composition root assembles them into the `venue:` section of config.yaml.
"""
from __future__ import annotations

from pydantic import BaseModel

from adapters.lighter.config import LighterConfig
from adapters.paper.config import PaperConfig
from adapters.replay.config import ReplayConfig
from runtime.market import MarketSpec
from runtime.ports import Venue

# Every adapter's config model, by `venue.kind`. Adding a venue adds a line here; the core's
# config never changes.
VENUE_CONFIGS: dict[str, type[BaseModel]] = {"paper": PaperConfig, "lighter": LighterConfig,
                                              "replay": ReplayConfig}
DEFAULT_KIND = "paper"


def open_venue(kind: str, venue_config, market: MarketSpec, start_ts: float) -> Venue:
    """Build the venue named `kind` from the `venue:` section. Unknown kinds are a ValueError
    naming the known ones, so a typo on the command line says what would have worked."""
    if kind == "paper":
        # Imported here so choosing one venue never imports another's dependencies.
        from adapters.paper.venue import PaperVenue

        return PaperVenue(market, venue_config.paper, start_ts)
    if kind == "lighter":
        from adapters.lighter.venue import LighterVenue

        return LighterVenue(market, venue_config.lighter)
    if kind == "replay":
        raise ValueError("the replay venue needs recorded data: use `lighter-bot replay --data FILE...`")
    raise ValueError(f"unknown venue kind {kind!r}; known kinds: {', '.join(VENUE_CONFIGS)}")
