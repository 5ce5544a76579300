"""A market's trading rules and the quantization every order goes through.

Lighter prices and sizes are integers (`price_int = price * 10^price_decimals`), and
an order below `min_base_units` or `min_quote` is refused with 21706. Quantizing
here, once, in integer steps, is what keeps the maker and hedger from ever sending
such an order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from runtime.events import Side

# Float noise guard: 0.064 / 0.001 is 63.99999999999999, which must count as 64 lots.
_EPS_STEPS = 1e-9


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Static description of one market (from config now, from `orderBookDetails` live)."""

    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    min_base_units: float
    min_quote: float
    # Integer scales and step sizes, computed once: quantization runs several times a tick.
    _price_scale: int = field(init=False, repr=False, compare=False)
    _size_scale: int = field(init=False, repr=False, compare=False)
    tick: float = field(init=False, repr=False, compare=False)
    lot: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_price_scale", 10**self.price_decimals)
        object.__setattr__(self, "_size_scale", 10**self.size_decimals)
        object.__setattr__(self, "tick", 10.0 ** -self.price_decimals)
        object.__setattr__(self, "lot", 10.0 ** -self.size_decimals)

    def price_ticks(self, price: float, side: Side) -> int:
        """Price in integer ticks, rounded away from the touch: bids down, asks up.

        Rounding passive quotes outward means quantization can only widen our spread,
        never make a post-only order cross.
        """
        steps = price * self._price_scale
        if side == "buy":
            return math.floor(steps + _EPS_STEPS)
        return math.ceil(steps - _EPS_STEPS)

    def quantize_price(self, price: float, side: Side) -> float:
        return round(self.price_ticks(price, side) / self._price_scale, self.price_decimals)

    def size_lots(self, size: float) -> int:
        """Size in integer lots, rounded down (never send more than asked)."""
        return math.floor(size * self._size_scale + _EPS_STEPS)

    def quantize_size(self, size: float) -> float:
        return round(self.size_lots(size) / self._size_scale, self.size_decimals)

    def round_up_size(self, size: float) -> float:
        """`size` rounded up to a whole lot (for floors: never below what is required)."""
        lots = math.ceil(size * self._size_scale - _EPS_STEPS)
        return round(lots / self._size_scale, self.size_decimals)

    def min_size_at(self, price: float) -> float:
        """Smallest size the venue accepts at `price`: both minimums, rounded up to a lot."""
        return self.round_up_size(max(self.min_base_units, self.min_quote / price if price > 0 else math.inf))

    def is_valid_order(self, price: float, size: float) -> bool:
        """What the venue checks before accepting an order (Lighter's 21706 rule)."""
        return (
            price > 0
            and size >= self.min_base_units - _EPS_STEPS * self.lot
            and size * price >= self.min_quote - self._notional_slack
        )

    @property
    def _notional_slack(self) -> float:
        """Float noise to forgive in `size * price`: less than half the notional grid (one tick times
        one lot), so a real shortfall of one grid step is never forgiven, e.g. with 6 price and 3 size
        decimals a notional of min_quote - 1e-9 is a whole step short and the venue refuses it."""
        return min(1e-9, 0.5 * 10.0 ** -(self.price_decimals + self.size_decimals))


def market_spec(config) -> MarketSpec:
    """The market's trading rules as configured in `config.market` (a runtime.config.MarketConfig).

    Live venues check these against the exchange's `orderBookDetails` at start-up.
    """
    return MarketSpec(market_id=config.market_id, symbol=config.symbol, price_decimals=config.price_decimals,
                      size_decimals=config.size_decimals, min_base_units=config.min_base_units,
                      min_quote=config.min_quote)
