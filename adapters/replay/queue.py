"""Queue position of our resting orders: named, swappable models (hftbacktest's `QueueModel`).

Our order is not in the recorded data. When it reaches the venue it joins the back of its
price level: `front` is the displayed size ahead of it. The recorded level then changes for
two reasons, and a model says how each moves `front`:

- a trade at our price (`trade`): the queue is served first-come, so the traded size comes off
  `front`; what is left of the print after `front` reaches zero fills us (partial fills are
  limited by the print's size). That traded size will also show as a drop of the level in the
  next depth update; `pending_traded` remembers it so it is not counted twice;
- a level decrease not explained by trades (`depth`): a cancellation somewhere in the queue.
  `RiskAverseQueue` assumes it was behind us (front moves only by trades, and never exceeds
  the level's size). `ProbQueue` splits it: the share `1 - p` came from ahead of us, with
  p = f(back) / (f(back) + f(front)), f(x) = x**n (`PowerProb`, hftbacktest's
  `PowerProbQueueFunc`) or log(1 + x) (`LogProb`). It uses the expectation, not a random
  draw, so a replay is deterministic. Increases join behind us and never move `front`.

A paper venue could share these: its matcher calls `new_order` when an order rests, `trade` on
each print at the order's price and `depth` on each change of that level's displayed size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class QueuePos:
    front: float                 # displayed size ahead of us, base units
    pending_traded: float = 0.0  # traded at our level since its last depth update


class QueueModel(Protocol):
    name: str

    def new_order(self, level_qty: float) -> QueuePos: ...

    def trade(self, pos: QueuePos, qty: float) -> float:
        """A print of `qty` at our price against our side; returns the size that reaches us."""

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        """Our level's displayed size went from `prev_qty` to `new_qty`."""


class _Base:
    name = "base"

    def new_order(self, level_qty: float) -> QueuePos:
        return QueuePos(max(level_qty, 0.0))

    def trade(self, pos: QueuePos, qty: float) -> float:
        pos.pending_traded += qty
        if qty <= pos.front:
            pos.front -= qty
            return 0.0
        left = qty - pos.front
        pos.front = 0.0
        return left


class RiskAverseQueue(_Base):
    """Only trades at our price move us up; cancellations are all assumed behind us."""

    name = "risk_averse"

    def depth(self, pos: QueuePos, prev_qty: float, new_qty: float) -> None:
        pos.pending_traded = 0.0
        pos.front = min(pos.front, max(new_qty, 0.0))


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
    """A decrease not explained by trades comes from ahead of us with probability 1 - p."""

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


def queue_model(name: str, n: float) -> QueueModel:
    if name == "risk_averse":
        return RiskAverseQueue()
    if name == "log":
        return ProbQueue(LogProb())
    return ProbQueue(PowerProb(n))
