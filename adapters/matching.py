"""How our resting orders fill against a public market we do not move: one matcher for the
paper venue (a simulated top of book) and the replay venue (recorded books and prints).

Both venues hand it their resting orders and the market's prints and touch, in their own units
(the paper venue integer ticks and lots, the replay venue prices and base units: only
comparisons and sums are done here), and a `fill(order, size) -> filled` callback that books a
maker fill at the order's own price and returns what it filled (a reduce-only order may take
less). It knows nothing of clocks, events or budgets.

Queue position is a named, swappable model (hftbacktest's `QueueModel`). Our order is not in
the market's data: it joins the *back* of its price level, so `front` starts at the size
displayed there (what that is, is the venue's to say: the paper venue shows only a touch).
The displayed level then changes for two reasons, and a model says how each moves `front`:

- a print at our price (`trade`): the queue is served first come, so the traded size comes off
  `front`; what is left of the print after `front` reaches zero fills us (partial fills are
  limited by the print's size). That traded size also shows as a drop of the level in the next
  depth update; `pending_traded` remembers it so it is not counted twice;
- a level decrease not explained by prints (`depth`, full-depth replays only): a cancellation
  somewhere in the queue. `RiskAverseQueue` assumes it was behind us (front moves only by
  prints, and never exceeds the level's size; hftbacktest's `RiskAdverseQueueModel`).
  `ProbQueue` splits it: the share `1 - p` came from ahead of us, with
  p = f(back) / (f(back) + f(front)), f(x) = x**n (`PowerProb`, hftbacktest's
  `PowerProbQueueFunc`) or log(1 + x) (`LogProb`). It uses the expectation, not a random draw,
  so a replay is deterministic. Increases join behind us and never move `front`.
  `FrontOfQueue` is the optimistic model (first in every queue, a cross fills everything),
  kept for paper tests that are about something else and to show what the queue costs.

And two rules for fills that are not at our price:

- a print through our price (a sweep that traded past our level) traded everything at our
  level, the queue ahead included: `front` is gone and we fill by what is left of the print;
- the opposite touch reaching our price (the book crossing us) fills us at most by the size
  displayed at that touch, shared best price first among our orders: those orders would have
  traded with us.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, TypeVar


@dataclass(slots=True)
class QueuePos:
    front: float                 # displayed size ahead of us, in the venue's size units
    pending_traded: float = 0.0  # traded at our level since its last depth update


class QueueModel(Protocol):
    name: str
    limits_cross: bool           # a crossing touch fills us only up to its displayed size

    def new_order(self, level_qty: float) -> QueuePos: ...

    def trade(self, pos: QueuePos, qty: float) -> float:
        """A print of `qty` at our price against our side; returns the size that reaches us."""

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        """Our level's displayed size went from `prev_qty` to `new_qty`."""


class _Base:
    name = "base"
    limits_cross = True

    def new_order(self, level_qty: float) -> QueuePos:
        return QueuePos(max(level_qty, 0))

    def trade(self, pos: QueuePos, qty: float) -> float:
        pos.pending_traded += qty
        if qty <= pos.front:
            pos.front -= qty
            return 0
        left = qty - pos.front
        pos.front = 0
        return left


class RiskAverseQueue(_Base):
    """Only prints at our price move us up; cancellations are all assumed behind us."""

    name = "risk_averse"

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        pos.pending_traded = 0.0
        pos.front = min(pos.front, max(new_qty, 0.0))


class FrontOfQueue(_Base):
    """Optimistic: nothing is ahead of us, and a crossing touch fills us whole."""

    name = "front_of_queue"
    limits_cross = False

    def new_order(self, level_qty: float) -> QueuePos:
        return QueuePos(0)

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        pos.pending_traded = 0.0


class PowerProb:
    def __init__(self, n: float):
        self.n = n
        self.name = f"power(n={n:g})"

    def __call__(self, front: float, back: float) -> float:
        b, f = back**self.n, front**self.n
        return b / (b + f) if b + f > 0 else 1.0


class LogProb:
    name = "log"

    def __call__(self, front: float, back: float) -> float:
        b, f = math.log1p(back), math.log1p(front)
        return b / (b + f) if b + f > 0 else 1.0


class ProbQueue(_Base):
    """A decrease not explained by prints comes from ahead of us with probability 1 - p."""

    def __init__(self, prob: PowerProb | LogProb):
        self.prob = prob
        self.name = f"prob_queue[{prob.name}]"

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        change = prev_qty - new_qty - pos.pending_traded
        pos.pending_traded = 0.0
        if change <= 0:
            pos.front = min(pos.front, max(new_qty, 0.0))
            return
        front = pos.front
        back = max(prev_qty - front, 0.0)
        p = self.prob(front, back)
        estimate = front - (1.0 - p) * change + min(back - p * change, 0.0)
        pos.front = min(max(estimate, 0.0), max(new_qty, 0.0))


def queue_model(name: str, n: float = 3.0) -> QueueModel:
    """`risk_averse`, `log`, `front_of_queue`, or `power` with exponent `n`."""
    if name == "risk_averse":
        return RiskAverseQueue()
    if name == "log":
        return ProbQueue(LogProb())
    if name == "front_of_queue":
        return FrontOfQueue()
    return ProbQueue(PowerProb(n))


class RestingOrder(Protocol):
    """What the matcher reads of a venue's resting order: `level` is its price in the units
    the venue's prints and touch come in."""

    client_id: int
    buy: bool
    level: float
    queue: QueuePos


O = TypeVar("O", bound=RestingOrder)
Fill = Callable[[O, float], float]


def match_print(orders: Sequence[O], px: float, qty: float, hits_bids: bool, queue: QueueModel,
                fill: Fill) -> None:
    """A public print of `qty` at `px` (a sell hitting bids, or a buy lifting asks): our orders
    at or past `px` on the side it hit fill, best price first, the print's size shared among
    them; at our own price behind the queue ahead, past it (traded through) right away."""
    if hits_bids:
        hit = [o for o in orders if o.buy and o.level >= px]
        hit.sort(key=lambda o: (-o.level, o.client_id))
    else:
        hit = [o for o in orders if not o.buy and o.level <= px]
        hit.sort(key=lambda o: (o.level, o.client_id))
    available = qty
    for order in hit:
        if available <= 0:
            break
        if order.level == px:
            reach = queue.trade(order.queue, available)
        else:
            order.queue.front = 0            # traded through: the level, queue included, is gone
            reach = available
        available = reach - fill(order, reach) if reach > 0 else reach


def match_cross(orders: Sequence[O], bid: float | None, bid_qty: float, ask: float | None, ask_qty: float,
                queue: QueueModel, fill: Fill) -> None:
    """The opposite touch at or past our orders' prices: what is displayed there trades with
    them, best price first, up to its size (all of them with an unlimited model)."""
    crossed = [o for o in orders
               if (ask is not None and o.buy and ask <= o.level) or (bid is not None and not o.buy and bid >= o.level)]
    if not crossed:
        return
    crossed.sort(key=lambda o: (-o.level if o.buy else o.level, o.client_id))
    room = {True: ask_qty, False: bid_qty}
    for order in crossed:
        order.queue.front = 0
        size = room[order.buy] if queue.limits_cross else math.inf
        if size > 0:
            room[order.buy] -= fill(order, size)
