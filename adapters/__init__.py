"""Venues: the exchange side of `runtime.ports`.

Only the composition root (`lighter_bot.py`) imports this package; the runtime sees
venues through the `Venue` protocol alone.
"""
from __future__ import annotations

from runtime.config import Config
from runtime.market import MarketSpec
from runtime.ports import Venue


def open_venue(kind: str, config: Config, start_ts: float) -> Venue:
    """Build the venue named `kind` for `config.market`. Unknown kinds are a ValueError
    naming the known ones, so a typo on the command line says what would have worked."""
    if kind == "paper":
        # Imported here so choosing one venue never imports another's dependencies.
        from adapters.paper.venue import PaperVenue

        return PaperVenue(market_spec(config), config.venue.paper, start_ts)
    raise ValueError(f"unknown venue kind {kind!r}; known kinds: {', '.join(KNOWN_KINDS)}")


KNOWN_KINDS = ("paper",)


def market_spec(config: Config) -> MarketSpec:
    """The market's trading rules as configured (live venues check them against the exchange)."""
    m = config.market
    return MarketSpec(market_id=m.market_id, symbol=m.symbol, price_decimals=m.price_decimals,
                      size_decimals=m.size_decimals, min_base_units=m.min_base_units, min_quote=m.min_quote)
