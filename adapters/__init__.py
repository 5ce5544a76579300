"""Venues: the exchange side of `runtime.ports`.

Only the composition root (`lighter_bot.py`) imports this package; the runtime sees
venues through the `Venue` protocol alone.
"""
from __future__ import annotations

from runtime.config import Config
from runtime.market import market_spec
from runtime.ports import Venue

KNOWN_KINDS = ("paper",)


def open_venue(kind: str, config: Config, start_ts: float) -> Venue:
    """Build the venue named `kind` for `config.market`. Unknown kinds are a ValueError
    naming the known ones, so a typo on the command line says what would have worked."""
    if kind == "paper":
        # Imported here so choosing one venue never imports another's dependencies.
        from adapters.paper.venue import PaperVenue

        return PaperVenue(market_spec(config.market), config.venue.paper, start_ts)
    raise ValueError(f"unknown venue kind {kind!r}; known kinds: {', '.join(KNOWN_KINDS)}")

