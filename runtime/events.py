"""What a venue tells the runtime: market data and the fate of our orders.

Every adapter (paper, live Lighter, replay) translates its wire format into these
types at its boundary, so the feature store and the order tracker never see a
venue's own messages. Times are seconds (float, epoch or simulated), prices are
quote currency, sizes are base units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Side = Literal["buy", "sell"]
Liquidity = Literal["maker", "taker"]


@dataclass(frozen=True, slots=True)
class BookTop:
    """Best bid and ask of the public book after a change."""

    ts: float
    bid_px: float
    bid_size: float
    ask_px: float
    ask_size: float


@dataclass(frozen=True, slots=True)
class MarketTrade:
    """A public trade print; `aggressor` is the taker's side."""

    ts: float
    price: float
    size: float
    aggressor: Side


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """Our order is live on the book (resting) or being matched (IOC)."""

    ts: float
    client_id: int
    side: Side
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    """Our order left the book without (fully) filling.

    `reason` uses the venue's vocabulary where it has one (Lighter's `canceled-post-only`,
    `canceled-reduce-only`, ...) and `requested` for cancels we asked for.
    """

    ts: float
    client_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The venue refused our order before it reached the book; `code` is the venue's error code."""

    ts: float
    client_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Fill:
    """(Part of) our order traded. `fee` is in quote currency, positive = paid."""

    ts: float
    client_id: int
    side: Side
    price: float
    size: float
    liquidity: Liquidity
    fee: float = 0.0
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """The venue's view of our position; used to reconcile after reconnects."""

    ts: float
    units: float


Event = Union[BookTop, MarketTrade, OrderAccepted, OrderCanceled, OrderRejected, Fill, PositionSnapshot]
