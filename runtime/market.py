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

# Float noise guard: 0.064 / 0.001 is 63.99999999999999, which must count as 64 lots. The
# venue's minimums are checked in exact integers (`is_valid_order`), so this only absorbs noise.
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
    # The venue's minimums in its own integers: lots, and ticks x lots of notional.
    _min_base_lots: int = field(init=False, repr=False, compare=False)
    _min_quote_units: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_price_scale", 10**self.price_decimals)
        object.__setattr__(self, "_size_scale", 10**self.size_decimals)
        object.__setattr__(self, "tick", 10.0 ** -self.price_decimals)
        object.__setattr__(self, "lot", 10.0 ** -self.size_decimals)
        object.__setattr__(self, "_min_base_lots", math.ceil(self.min_base_units * self._size_scale - _EPS_STEPS))
        notional_scale = self._price_scale * self._size_scale
        object.__setattr__(self, "_min_quote_units", math.ceil(round(self.min_quote * notional_scale, 6)))

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
        steps = size * self._size_scale
        return math.floor(steps + _EPS_STEPS)

    def lots(self, size: float) -> int:
        """A size the venue reported (a whole number of lots, up to float noise) in lots."""
        return round(size * self._size_scale)

    def quantize_size(self, size: float) -> float:
        return round(self.size_lots(size) / self._size_scale, self.size_decimals)

    def round_up_size(self, size: float) -> float:
        """`size` rounded up to a whole lot (for floors: never below what is required)."""
        steps = size * self._size_scale
        lots = math.ceil(steps - _EPS_STEPS)
        return round(lots / self._size_scale, self.size_decimals)

    def min_size_at(self, price: float) -> float:
        """Smallest size the venue accepts at `price`: both minimums, in whole lots.

        Computed in the venue's integers (ticks x lots), so it is exact: one lot less is refused.
        """
        price_ticks = round(price * self._price_scale)
        if price_ticks <= 0:
            return math.inf
        lots = max(self._min_base_lots, -(-self._min_quote_units // price_ticks))
        return round(lots / self._size_scale, self.size_decimals)

    def is_valid_order(self, price: float, size: float) -> bool:
        """What the venue checks before accepting an order (Lighter's 21706 rule), in its integers."""
        price_ticks = round(price * self._price_scale)
        lots = round(size * self._size_scale)
        return price_ticks > 0 and lots >= self._min_base_lots and lots * price_ticks >= self._min_quote_units


def market_spec(config) -> MarketSpec:
    """The market's trading rules as configured in `config.market` (a runtime.config.MarketConfig).

    Live venues check these against the exchange's `orderBookDetails` at start-up.
    """
    return MarketSpec(market_id=config.market_id, symbol=config.symbol, price_decimals=config.price_decimals,
                      size_decimals=config.size_decimals, min_base_units=config.min_base_units,
                      min_quote=config.min_quote)
