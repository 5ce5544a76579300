"""How our resting orders fill against a public market we do not move: queue position and prints.

Shared by any venue that matches our orders against a market it replays or simulates
(the paper venue today; a replay venue of recorded books and prints later), so it knows
nothing of clocks, events or budgets: integer ticks and lots in, lots filled out.

The queue is hftbacktest's `RiskAdverseQueueModel` (STYLE.md section 6: the queue ahead
advances only on trades at our price), with explicit rules for a trade-through and the
book crossing us, which a top-of-book simulation needs because it shows no depth:

- Joining: an order joins *behind* what is displayed at its price. At our side's touch
  that is the touch size; better than the touch (inside the spread) nothing is ahead;
  behind the touch the book shows us nothing, so `behind_touch_lots` stands for the depth
  resting at that level.
- A print at our price first trades the volume ahead of us, then us, never more than
  the print's size in all.
- A print through our price (a sweep that traded past our level) traded everything at
  our level, the queue ahead included; we fill by the print's size at most, so a small
  print partially fills us.
- The opposite touch reaching our price (the book crossing us) fills us at most by the
  size displayed at that touch: those orders would have traded with us.

Assuming we are behind everything displayed is pessimistic on purpose: the old paper venue
filled us first in every queue, which flattered every maker number it reported.
"""
from __future__ import annotations

from dataclasses import dataclass

from runtime.events import Side


@dataclass(slots=True)
class QueuedOrder:
    """The matching state of one of our resting orders."""

    client_id: int
    side: Side
    price_ticks: int
    remaining_lots: int
    ahead_lots: int = 0


@dataclass(frozen=True, slots=True)
class Touch:
    """The displayed top of the public book, in ticks and lots."""

    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int


class QueueModel:
    """Queue position and fill sizes for resting orders; `enabled=False` is the old optimistic
    model (first in every queue, a cross fills everything), kept for tests that are about
    something else and for comparing what the queue costs."""

    def __init__(self, enabled: bool = True, behind_touch_lots: int = 0):
        self.enabled = enabled
        self.behind_touch_lots = behind_touch_lots

    def ahead_on_join(self, side: Side, price_ticks: int, touch: Touch) -> int:
        """Volume ahead of an order joining at `price_ticks` (also on a modify to a new price:
        a new price goes to the back of its level)."""
        if not self.enabled:
            return 0
        if side == "buy":
            if price_ticks > touch.bid_ticks:
                return 0
            return touch.bid_lots if price_ticks == touch.bid_ticks else self.behind_touch_lots
        if price_ticks < touch.ask_ticks:
            return 0
        return touch.ask_lots if price_ticks == touch.ask_ticks else self.behind_touch_lots

    def print_fills(self, orders: list[QueuedOrder], aggressor: Side, print_ticks: int,
                    print_lots: int) -> list[tuple[QueuedOrder, int]]:
        """Lots each of `orders` fills from one public print, best price first, the print's size
        shared among them. Updates the queue ahead; the caller applies the fills."""
        if aggressor == "sell":
            hit = [o for o in orders if o.side == "buy" and o.price_ticks >= print_ticks]
            hit.sort(key=lambda o: -o.price_ticks)
        else:
            hit = [o for o in orders if o.side == "sell" and o.price_ticks <= print_ticks]
            hit.sort(key=lambda o: o.price_ticks)
        out: list[tuple[QueuedOrder, int]] = []
        available = print_lots
        for order in hit:
            if available <= 0:
                break
            if order.price_ticks == print_ticks and order.ahead_lots > 0:
                traded_ahead = min(order.ahead_lots, available)
                order.ahead_lots -= traded_ahead
                available -= traded_ahead
            else:
                order.ahead_lots = 0        # traded through: the level, queue included, is gone
            lots = min(order.remaining_lots, available)
            if lots > 0:
                out.append((order, lots))
                available -= lots
        return out

    def cross_fills(self, orders: list[QueuedOrder], touch: Touch) -> list[tuple[QueuedOrder, int]]:
        """Lots each order fills because the opposite touch reached its price, limited by the size
        displayed there (all of it with the model off)."""
        out: list[tuple[QueuedOrder, int]] = []
        bid_room, ask_room = touch.bid_lots, touch.ask_lots
        for order in sorted(orders, key=lambda o: -o.price_ticks if o.side == "buy" else o.price_ticks):
            if order.side == "buy" and touch.ask_ticks <= order.price_ticks:
                lots = order.remaining_lots if not self.enabled else min(order.remaining_lots, ask_room)
                ask_room -= lots
            elif order.side == "sell" and touch.bid_ticks >= order.price_ticks:
                lots = order.remaining_lots if not self.enabled else min(order.remaining_lots, bid_room)
                bid_room -= lots
            else:
                continue
            order.ahead_lots = 0
            if lots > 0:
                out.append((order, lots))
        return out
