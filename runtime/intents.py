"""What the runtime asks a venue to do.

Intents are plain values: the maker and hedger produce them, the risk gate
(`runtime.risk`) approves or drops them, and only then does a venue see them.
`decision` is the sequence number of the decision trace line that caused the
intent, so any order can be traced back to the rules and feature values behind it.

Batch contract: the intents handed to one `Venue.submit` call are one batch and the
venue applies them in that order (Lighter: one `sendTxBatch` with consecutive nonces),
so a cancel listed before a place is processed first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from runtime.events import Side

Purpose = Literal["quote", "hedge"]
TimeInForce = Literal["post_only", "ioc", "gtc"]


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A limit order. `ioc` with a limit price is how a capped-slippage cross is sent."""

    client_id: int
    side: Side
    price: float
    size: float
    tif: TimeInForce
    purpose: Purpose
    reduce_only: bool = False
    decision: int = 0


@dataclass(frozen=True, slots=True)
class ModifyOrder:
    """Move a resting order to `price` with `size` remaining, in place (one request instead of
    a cancel and a place; Lighter's ModifyOrder keeps the client id)."""

    client_id: int
    price: float
    size: float
    decision: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one of our orders by client id."""

    client_id: int
    decision: int = 0


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every order we have in this market (halts, shutdown)."""

    reason: str
    decision: int = 0


@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    """Ask the venue for a fresh OrdersSnapshot and PositionSnapshot (reconciliation)."""

    reason: str


Intent = Union[PlaceOrder, ModifyOrder, CancelOrder, CancelAll, RequestSnapshot]
