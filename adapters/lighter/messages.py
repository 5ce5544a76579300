"""Lighter's wire formats as frozen models, and pure functions that parse them.

The models name every field Lighter is known to send (reference §3, §9; the recorded mainnet
session and the 2026 format both parse). Unknown fields are kept in `model_extra` rather than
refused, so a server upgrade that adds a field does not stop trading; the recorded-session
test asserts there are none. Fields that Lighter omits when zero or absent in one of its two
formats are optional.

Decimal quantities arrive as fixed-decimal strings ("92834.8", "0.00000"); `units` turns them
into exact integers of the market's smallest step, which is how the book keys its levels and
how orders are signed ("92835.90" and "92835.9" are one level).
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, ValidationError


class WireError(ValueError):
    """A frame or response that does not have the shape Lighter sends."""


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


def units(text: str, decimals: int) -> int:
    """A fixed-decimal string as an integer count of 10^-decimals; exact, or WireError."""
    try:
        scaled = Decimal(text).scaleb(decimals)
    except (InvalidOperation, TypeError) as exc:
        raise WireError(f"not a decimal: {text!r}") from exc
    if scaled != scaled.to_integral_value():
        raise WireError(f"{text!r} has more than {decimals} decimals")
    return int(scaled)


def fixed(value: int, decimals: int) -> str:
    """An integer count of 10^-decimals as Lighter formats it (exactly `decimals` decimals)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if decimals == 0:
        return f"{sign}{value}"
    scale = 10**decimals
    return f"{sign}{value // scale}.{value % scale:0{decimals}d}"


# -- public market data ------------------------------------------------------------------------

class Level(Wire):
    price: str
    size: str


class OrderBookBody(Wire):
    code: int
    asks: list[Level]
    bids: list[Level]
    offset: int
    nonce: int
    begin_nonce: int | None = None          # format B (2026) only: the nonce chain of §9.4
    last_updated_at: int | None = None      # format B, microseconds


class OrderBookFrame(Wire):
    type: str                               # subscribed/order_book | update/order_book
    channel: str
    offset: int
    order_book: OrderBookBody
    timestamp: int | None = None            # ms
    last_updated_at: int | None = None

    @property
    def is_snapshot(self) -> bool:
        return self.type.startswith("subscribed/")


class Trade(Wire):
    trade_id: int
    tx_hash: str
    type: str                               # trade | liquidation | deleverage | market-settlement
    market_id: int
    size: str
    price: str
    usd_amount: str
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account_id: int
    bid_account_id: int
    is_maker_ask: bool
    block_height: int
    timestamp: int                          # ms
    # Omitted when zero or false, or absent in one of the two server formats (§3.3).
    maker_fee: int | None = None            # fee rate, 1e-6 units
    taker_fee: int | None = None
    taker_position_size_before: str | None = None
    taker_entry_quote_before: str | None = None
    taker_initial_margin_fraction_before: int | None = None
    taker_position_sign_changed: bool | None = None
    maker_position_size_before: str | None = None
    maker_entry_quote_before: str | None = None
    maker_initial_margin_fraction_before: int | None = None
    maker_position_sign_changed: bool | None = None
    trade_id_str: str | None = None
    ask_id_str: str | None = None
    bid_id_str: str | None = None
    transaction_time: int | None = None


class TradeFrame(Wire):
    type: str                               # subscribed/trade | update/trade
    channel: str
    trades: list[Trade]
    liquidation_trades: list[Trade] | None = None   # null on most updates
    nonce: int | None = None


class MarketStats(Wire):
    symbol: str
    market_id: int
    index_price: str
    mark_price: str
    open_interest: str
    open_interest_limit: str
    funding_clamp_small: str
    funding_clamp_big: str
    last_trade_price: str
    current_funding_rate: str
    funding_rate: str
    funding_timestamp: int
    daily_base_token_volume: float
    daily_quote_token_volume: float
    daily_price_low: float
    daily_price_high: float
    daily_price_change: float
    mid_price: str | None = None


class MarketStatsFrame(Wire):
    type: str
    channel: str
    market_stats: MarketStats
    timestamp: int | None = None


class Connected(Wire):
    type: str
    session_id: str


class Control(Wire):
    """ping, pong, shutdown, unsubscribed, error and jsonapi replies: small frames read by key."""

    type: str
    close_in_ms: int | None = None
    code: int | None = None
    message: str | None = None
    channel: str | None = None


# -- our account ---------------------------------------------------------------------------------

class Order(Wire):
    order_index: int
    client_order_index: int
    market_index: int
    is_ask: bool
    price: str
    initial_base_amount: str
    remaining_base_amount: str
    filled_base_amount: str
    status: str
    order_id: str | None = None
    client_order_id: str | None = None
    owner_account_index: int | None = None
    side: str | None = None
    type: str | None = None
    time_in_force: str | None = None
    reduce_only: bool | None = None
    filled_quote_amount: str | None = None
    order_expiry: int | None = None
    timestamp: int | None = None
    updated_at: int | None = None
    nonce: int | None = None
    order_version: int | None = None


class AccountOrdersFrame(Wire):
    type: str
    channel: str
    orders: dict[str, list[Order]]
    account: int | None = None
    nonce: int | None = None


class AccountTradesFrame(Wire):
    type: str
    channel: str
    trades: Union[dict[str, list[Trade]], list[Trade]]
    total_volume: float | None = None
    monthly_volume: float | None = None
    weekly_volume: float | None = None
    daily_volume: float | None = None

    def all_trades(self) -> list[Trade]:
        if isinstance(self.trades, list):
            return list(self.trades)
        return [t for market in self.trades.values() for t in market]


class Position(Wire):
    market_id: int
    sign: int                                # 1 long, -1 short
    position: str                            # unsigned size
    avg_entry_price: str
    symbol: str | None = None
    position_value: str | None = None
    unrealized_pnl: str | None = None
    realized_pnl: str | None = None
    liquidation_price: str | None = None
    allocated_margin: str | None = None
    margin_mode: int | None = None
    initial_margin_fraction: str | None = None
    open_order_count: int | None = None
    pending_order_count: int | None = None
    total_funding_paid_out: str | None = None


class AccountPositionsFrame(Wire):
    type: str
    channel: str
    positions: dict[str, Position]


# -- REST ------------------------------------------------------------------------------------------

class MarketDetail(Wire):
    market_id: int
    symbol: str
    status: str
    size_decimals: int
    price_decimals: int
    supported_size_decimals: int
    supported_price_decimals: int
    min_base_amount: str
    min_quote_amount: str
    market_type: str | None = None
    supported_quote_decimals: int | None = None
    taker_fee: str | None = None
    maker_fee: str | None = None
    last_trade_price: float | str | None = None


class OrderBookDetails(Wire):
    code: int
    order_book_details: list[MarketDetail]
    spot_order_book_details: list[Any] | None = None


class Account(Wire):
    index: int
    collateral: str
    positions: list[Position]
    account_index: int | None = None
    available_balance: str | None = None
    status: int | None = None


class Accounts(Wire):
    code: int
    accounts: list[Account]
    total: int | None = None


class OrdersResponse(Wire):
    code: int
    orders: list[Order]
    next_cursor: str | None = None


class TradesResponse(Wire):
    code: int
    trades: list[Trade]
    next_cursor: str | None = None


class NextNonce(Wire):
    code: int
    nonce: int


class SendTxResult(Wire):
    """sendTx / sendTxBatch answer. A 200 whose body `code` is not 200 is a refusal (§2)."""

    code: int
    message: str | None = None
    tx_hash: str | list[str] | None = None
    predicted_execution_time_ms: int | None = None
    volume_quota_remaining: int | None = None


# -- parsing ---------------------------------------------------------------------------------------

Frame = Union[OrderBookFrame, TradeFrame, MarketStatsFrame, Connected, Control, AccountOrdersFrame,
              AccountTradesFrame, AccountPositionsFrame]

_BY_KIND: dict[str, type[Wire]] = {
    "order_book": OrderBookFrame,
    "trade": TradeFrame,
    "market_stats": MarketStatsFrame,
    "account_orders": AccountOrdersFrame,
    "account_all_orders": AccountOrdersFrame,
    "account_all_trades": AccountTradesFrame,
    "account_all_positions": AccountPositionsFrame,
}


def parse_frame(text: str | bytes) -> Frame | None:
    """One WebSocket frame as its model; None for kinds the adapter does not read."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WireError(f"frame is not JSON: {str(text)[:80]!r}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise WireError(f"frame without a type: {str(text)[:80]!r}")
    kind = data["type"]
    try:
        if kind == "connected":
            return Connected.model_validate(data)
        if "/" in kind and kind.split("/", 1)[0] in ("subscribed", "update"):
            model = _BY_KIND.get(kind.split("/", 1)[1])
            return model.model_validate(data) if model is not None else None
        return Control.model_validate(data)
    except ValidationError as exc:
        raise WireError(f"{kind}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


def parse_response(model: type[Wire], data: Any) -> Wire:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WireError(f"{model.__name__}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


def unknown_fields(model: BaseModel) -> list[str]:
    """Dotted names of fields present on the wire that no model declares (for fidelity tests)."""
    found = [name for name in (model.model_extra or {})]
    for name, value in model:
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for item in items:
            for sub in (item if isinstance(item, list) else [item]):
                if isinstance(sub, BaseModel):
                    found += [f"{name}.{inner}" for inner in unknown_fields(sub)]
    return sorted(set(found))
