"""What a venue tells the runtime: market data, the venue's own state, and the fate of our orders.

Every adapter (paper, live Lighter, replay) translates its wire format into these
types at its boundary, so the feature store and the order tracker never see a
venue's own messages. Times are seconds (float, epoch or simulated), prices are
quote currency, sizes are base units.

The order lifecycle is shaped after Lighter, where a send that the API accepted is
not yet an order on the book (the sequencer may still cancel it), a cancel can be
refused because the order is already gone (filled or canceled), and a send that
timed out or got a 429/5xx may or may not have happened:

    PlaceOrder ─► OrderAccepted (API took it) ─► OrderOpen (on the book) ─► Fill* ─► gone
                 └► OrderRejected (refused before the book)      └► OrderCanceled(reason)
                 └► OutcomeUnknown (timeout, 429, 5xx: resolved by the next OrdersSnapshot)

Position-changing events (fills, funding) carry the venue's `seq`, increasing from 1 in
the order the venue applied them; snapshots say up to which `seq` they are complete
(`as_of_seq`, 0 before any), so a snapshot is compared only with the fills it already
includes. A venue that numbers nothing sends `seq` 0 and `as_of_seq` None.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Side = Literal["buy", "sell"]
Liquidity = Literal["maker", "taker"]
Action = Literal["place", "cancel", "modify"]


# -- market data ------------------------------------------------------------------------------

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


# -- the venue itself -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VenueStatus:
    """The venue's connection and book state changed.

    `connected` False: no orders can be sent and account events may be missing.
    `book_synced` False: market data is stale or has a gap (quotes must be pulled); the
    next True follows a resync, across which prices may jump.
    """

    ts: float
    connected: bool
    book_synced: bool
    reason: str


@dataclass(frozen=True, slots=True)
class BudgetUpdate:
    """The venue's request budget: `used` of `limit` requests in the rolling `window_s`.

    Lighter's standard account allows 60 requests a minute, sends included; every place,
    cancel and modify spends one.
    """

    ts: float
    used: int
    limit: int
    window_s: float


# -- our orders -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """The venue's API accepted our transaction (`tx_ref`: its hash or id). Not yet on the book:
    the matching engine may still cancel it (post-only crossing, reduce-only, ...)."""

    ts: float
    client_id: int
    tx_ref: str = ""


@dataclass(frozen=True, slots=True)
class OrderOpen:
    """Our order rests on the book as the venue's `order_id`; `size` is what remains of it."""

    ts: float
    client_id: int
    side: Side
    price: float
    size: float
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class OrderModified:
    """A modify took effect: the order now rests at `price` with `size` remaining."""

    ts: float
    client_id: int
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class OrderCanceled:
    """Our order left the book without (fully) filling.

    `reason` uses the venue's vocabulary where it has one (Lighter's `canceled-post-only`,
    `canceled-reduce-only`, ...) and `requested` for cancels we asked for. `filled_size` is
    how much of it filled in all (Lighter's `filled_base_amount`), so fills still on their
    way are known to be due; None when the venue does not say.
    """

    ts: float
    client_id: int
    reason: str
    filled_size: float | None = None


@dataclass(frozen=True, slots=True)
class OrderRejected:
    """The venue refused our order before it reached the book; `code` is the venue's error code."""

    ts: float
    client_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """The venue refused a cancel (Lighter 21600/21709/21715: not an active order).

    The order may have filled or been canceled already, or the venue may be behind: it keeps
    counting as exposure until a fill, a cancel or an OrdersSnapshot settles it.
    """

    ts: float
    client_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class ModifyRejected:
    """The venue refused a modify; the order stays as it was (if it is still there at all)."""

    ts: float
    client_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    """A send whose fate is unknown (timed out, 429, 5xx): it may or may not have happened.

    The tracker keeps the order counted at its largest possible exposure and resolves it
    from the next OrdersSnapshot.
    """

    ts: float
    client_id: int
    action: Action
    reason: str
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class Fill:
    """(Part of) our order traded. `fee` is in quote currency, positive = paid.

    `trade_id` is unique per fill: a fill delivered twice (a reconnect replaying recent
    trades) is booked once. `seq` orders position changes (0: the venue gives none).
    """

    ts: float
    client_id: int
    side: Side
    price: float
    size: float
    liquidity: Liquidity
    fee: float = 0.0
    trade_id: str = ""
    seq: int = 0          # 0: the venue numbers nothing


@dataclass(frozen=True, slots=True)
class Funding:
    """A funding payment on our position; `amount` in quote currency, positive = received."""

    ts: float
    amount: float
    rate: float = 0.0
    seq: int = 0


# -- reconciliation ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """The venue's view of our position, complete up to position event `as_of_seq`.

    `entry_price` and `collateral` are the venue's where it reports them (0.0 / None: unknown).
    """

    ts: float
    units: float
    entry_price: float = 0.0
    collateral: float | None = None
    as_of_seq: int | None = None     # None: the venue numbers nothing


@dataclass(frozen=True, slots=True)
class OpenOrderReport:
    """One of our orders as the venue lists it."""

    client_id: int
    side: Side
    price: float
    remaining: float
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class OrdersSnapshot:
    """Every order of ours the venue has open in this market, as of `ts` (venue time).

    Orders sent after `ts` cannot be in it; anything sent earlier and missing is gone.
    """

    ts: float
    orders: tuple[OpenOrderReport, ...]
    as_of_seq: int | None = None


OrderEvent = Union[OrderAccepted, OrderOpen, OrderModified, OrderCanceled, OrderRejected, CancelRejected,
                   ModifyRejected, OutcomeUnknown]
Event = Union[BookTop, MarketTrade, VenueStatus, BudgetUpdate, OrderAccepted, OrderOpen, OrderModified,
              OrderCanceled, OrderRejected, CancelRejected, ModifyRejected, OutcomeUnknown, Fill, Funding,
              PositionSnapshot, OrdersSnapshot]
