"""FIFO position accounting: which fills close which, and what that realized.

FIFO (the oldest open lot closes first) is how the seed reported
`maker_fifo_realized_quote`, and it keeps realized PnL independent of how the
remaining position is marked. Pure arithmetic, no clock and no I/O, so the
feature store and a fills ledger can share it and replay it from any history.
"""
from __future__ import annotations

from collections import deque

from runtime.events import Side

# A lot closed to within this many units is gone: 0.3 - 0.1 - 0.2 leaves ~3e-17, and a
# ghost lot that small would otherwise flip the sign of a flat position.
DUST_UNITS = 1e-12


class FifoPosition:
    """Open lots of one market, oldest first, and the PnL realized by closing them.

    Every open lot has the same sign as the position: a fill first closes opposite
    lots oldest first, and whatever is left of it opens a new lot (so one fill can
    flip long to short). Amounts are quote currency, sizes base units.
    """

    __slots__ = ("_lots", "_units", "_cost_quote", "_realized_quote")

    def __init__(self) -> None:
        self._lots: deque[tuple[float, float]] = deque()   # (signed_units, price), oldest first
        self._units = 0.0          # signed sum of the lots
        self._cost_quote = 0.0     # sum of units * price over the lots
        self._realized_quote = 0.0

    def apply(self, side: Side, price: float, size: float, fee: float = 0.0) -> float:
        """Book one fill; return the PnL it realized, fee deducted (positive fee = paid)."""
        lots = self._lots
        remaining = size if side == "buy" else -size
        realized = 0.0
        units = self._units
        cost_quote = self._cost_quote
        while lots and (remaining > DUST_UNITS or remaining < -DUST_UNITS) and (lots[0][0] > 0) != (remaining > 0):
            lot_units, lot_price = lots[0]
            if abs(remaining) < abs(lot_units):
                # The fill closes part of the oldest lot and is used up.
                realized -= (price - lot_price) * remaining   # remaining has the opposite sign to the lot
                left = lot_units + remaining
                units += remaining
                cost_quote += remaining * lot_price
                remaining = 0.0
                if abs(left) <= DUST_UNITS:
                    lots.popleft()
                else:
                    lots[0] = (left, lot_price)
            else:
                # The whole lot closes; the rest of the fill moves on to the next lot.
                realized += (price - lot_price) * lot_units
                remaining += lot_units
                units -= lot_units
                cost_quote -= lot_units * lot_price
                lots.popleft()
        if remaining > DUST_UNITS or remaining < -DUST_UNITS:
            lots.append((remaining, price))
            units += remaining
            cost_quote += remaining * price
        if len(lots) <= 1:
            # Running sums drift; with one lot or none they can be exact again (and flat is 0.0).
            units, cost_quote = (lots[0][0], lots[0][0] * lots[0][1]) if lots else (0.0, 0.0)
        self._units = units
        self._cost_quote = cost_quote
        realized -= fee
        self._realized_quote += realized
        return realized

    def reset(self, units: float, price: float) -> None:
        """Replace the open lots with one lot of `units` at `price`, realizing nothing.

        For a venue's truth that our fills cannot explain (a snapshot after missed fills, a
        restart with an open position): the position becomes what the venue says, at the
        venue's entry price, and realized PnL stays what our fills earned.
        """
        self._lots.clear()
        if abs(units) > DUST_UNITS:
            self._lots.append((units, price))
            self._units, self._cost_quote = units, units * price
        else:
            self._units, self._cost_quote = 0.0, 0.0

    def restore(self, lots: list[tuple[float, float]], realized_quote: float) -> None:
        """Replace the whole state with `lots` ((signed units, price), oldest first) and a realized
        total: a restart rebuilding the position from the fills ledger."""
        self._lots.clear()
        self._units = self._cost_quote = 0.0
        for units, price in lots:
            if abs(units) > DUST_UNITS:
                self._lots.append((units, price))
                self._units += units
                self._cost_quote += units * price
        self._realized_quote = realized_quote

    @property
    def lots(self) -> list[tuple[float, float]]:
        """The open lots, (signed units, price), oldest first."""
        return list(self._lots)

    def add_realized(self, amount_quote: float) -> None:
        """Cash that is PnL without a trade (funding payments: positive = received)."""
        self._realized_quote += amount_quote

    @property
    def units(self) -> float:
        """Signed position: positive long, negative short."""
        return self._units

    @property
    def avg_entry(self) -> float:
        """Size-weighted price of the open lots; 0.0 when flat."""
        return self._cost_quote / self._units if self._lots else 0.0

    @property
    def realized_total(self) -> float:
        """Sum of every fill's realized PnL, fees deducted."""
        return self._realized_quote

    @property
    def lot_count(self) -> int:
        return len(self._lots)

    def unrealized(self, mark: float) -> float:
        """What closing every open lot at `mark` would realize (before fees)."""
        return self._units * mark - self._cost_quote
