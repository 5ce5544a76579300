"""A fake Lighter exchange on 127.0.0.1: REST (`/api/v1/*`) and WebSocket (`/stream`) on one port.

It speaks the protocol of reference §14 closely enough that the live adapter and the official
SDK's own clients cannot tell it from Lighter on the paths they use: market metadata, the
account, `nextNonce`, `apikeys`, `sendTx`/`sendTxBatch` with the nonce chain checked per
(account, API key), and a matching engine for our orders (post-only, IOC, reduce-only, modify,
cancel, cancel-all, partial fills, a queue behind the displayed size) against a synthetic
market that moves. Order-book frames come in either of Lighter's two formats (§9.4), account
channels need an auth token, and faults can be injected (§14, "Fault injection").

It cannot verify signatures (the signer exports no verify): it parses `tx_info`, checks the
`Sig` is 108 base64 characters, and trusts the rest.

Run it with `lighter-bot fake-server --port PORT`, or in a test with `FakeLighter(...).start()`
(its own thread and event loop: the SDK's Go code blocks its caller, so never share a loop).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

try:
    from aiohttp import WSMsgType, web
except ImportError as exc:   # the fake server ships with the [lighter] extra
    raise ImportError("the fake Lighter server needs aiohttp: pip install -e '.[lighter]'") from exc

from adapters.lighter.messages import fixed

log = logging.getLogger("lighter_bot.fake_lighter")

POOL_ACCOUNT = 281474976710654       # the market's other side, as in the recording's pool trades
TX_CREATE, TX_CANCEL, TX_CANCEL_ALL, TX_MODIFY = 14, 15, 16, 17
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2
SIG_B64_CHARS = 108


@dataclass(frozen=True)
class FakeMarket:
    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base_amount: str
    min_quote_amount: str = "10.000000"
    # What a market the fake does not simulate shows (24 h stats, a static book): made-up but plausible.
    price: float = 100.0
    daily_volume_usd: float = 0.0
    daily_range_frac: float = 0.0       # (24 h high - low) / price
    spread_ticks: int = 2               # touch-to-touch width of the static book
    level_lots: int = 1000              # size of each static level
    funding_rate: float = 0.0           # hourly, percent (funding-rates)


MARKETS = (FakeMarket(0, "ETH", 4, 2, "0.0050", price=3000.0, daily_volume_usd=6.0e8, daily_range_frac=0.04,
                      spread_ticks=6, level_lots=40000, funding_rate=0.0012),
           FakeMarket(1, "BTC", 5, 1, "0.00020", price=90000.0, daily_volume_usd=1.2e9, daily_range_frac=0.03,
                      spread_ticks=10, level_lots=50000, funding_rate=0.0010),
           FakeMarket(2, "SOL", 3, 3, "0.050", price=185.0, daily_volume_usd=1.5e8, daily_range_frac=0.06,
                      funding_rate=-0.0020),
           FakeMarket(24, "HYPE", 2, 4, "0.50", price=40.0, daily_volume_usd=2.0e7, daily_range_frac=0.12,
                      spread_ticks=400, level_lots=5000, funding_rate=0.0050),
           FakeMarket(7, "XRP", 0, 6, "20", price=2.1, daily_volume_usd=3.0e5, daily_range_frac=0.05,
                      spread_ticks=1500, level_lots=200, funding_rate=0.0001))


@dataclass
class FakeFaults:
    """What the fake does wrong on purpose. Persistent switches here; one-shot faults via `inject`."""

    late_fills_s: float = 0.0        # account trade frames arrive this late
    duplicate_fills: bool = False    # every account trade frame is sent again 1 s later
    lost_acks: bool = False          # creates are executed but neither the HTTP reply nor order frames come
    silent_book: bool = False        # the book subscription stays open but gets nothing (zombie)
    ignore_pings: bool = False       # client pings are not answered
    slow_s: float = 0.0              # every REST answer waits this long
    trades_rate_limited: int = 0     # the next this many /api/v1/trades requests get 429 (Retry-After: 1)


@dataclass
class FakeSettings:
    host: str = "127.0.0.1"
    port: int = 0
    market_id: int = 2
    account_index: int = 1001
    collateral: str = "10000.000000"
    book_format: str = "B"           # "A": recorded Dec-2025 frames (offset chain); "B": begin_nonce chain
    start_price: float = 185.0
    seed: int = 1
    book_interval_s: float = 0.05    # a book update this often
    trade_interval_s: float = 0.4    # a public print this often (on average)
    move_prob: float = 0.3           # chance the mid moves per book step
    move_ticks: int = 1              # ... by up to this many ticks
    levels: int = 20
    sequencing_delay_s: float = 0.01   # the sequencer runs accepted txs this long after the reply
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    faults: FakeFaults = field(default_factory=FakeFaults)
    # `/api/v1/candles`: these 1-minute bars (ts_ms, open, high, low, close, volume) when given
    # (a test serves a kline file's bars), else a deterministic series (`synthetic_candle`).
    candles: list[tuple[float, float, float, float, float, float]] | None = None


CANDLES_MAX = 500            # candles per call (§3.4); a wider window keeps the most recent ones
CANDLE_MS = 60_000


def synthetic_candle(minute: int, start_price: float, seed: int) -> dict:
    """The fake's 1-minute bar opening at `minute` * 60 s: a pure function of the minute, so every
    page of every request agrees. Two slow waves (a day, ~1.6 h) give trends, a seeded draw per
    minute gives noise; fields as Lighter sends them (floats, zero fields omitted)."""
    def price(m: int) -> float:
        noise = random.Random(seed * 1_000_003 + m).gauss(0.0, 1.0)
        return start_price * math.exp(0.02 * math.sin(2 * math.pi * m / 1440) + 0.006 * math.sin(2 * math.pi * m / 97)
                                      + 0.0004 * noise)
    rng = random.Random(seed * 7_919 + minute)
    o, c = price(minute - 1), price(minute)
    h, low = max(o, c) * (1 + 0.0003 * rng.random()), min(o, c) * (1 - 0.0003 * rng.random())
    candle = {"t": minute * CANDLE_MS, "o": round(o, 3), "h": round(h, 3), "l": round(low, 3), "c": round(c, 3),
              "v": round(50 + 200 * rng.random(), 3), "i": 9_000_000 + minute}
    candle["V"] = round(candle["v"] * c, 6)
    return candle


@dataclass
class _Order:
    account: int
    order_index: int
    client_index: int
    market: int
    is_ask: bool
    price: int                # ticks
    initial: int              # lots
    remaining: int
    tif: int
    reduce_only: bool
    expiry: int
    nonce: int
    ahead: int = 0            # displayed lots ahead of us at our price (the queue)
    filled: int = 0
    filled_quote: int = 0     # ticks x lots
    status: str = "open"
    version: int = 0
    silent: bool = False      # lost_acks: no frames about it


@dataclass
class _Account:
    index: int
    collateral: str
    keys: dict[int, str] = field(default_factory=dict)   # api key index -> public key ("" = any key accepted)
    any_key: bool = True
    position: int = 0          # signed lots
    entry_cost: int = 0        # signed lots x ticks (average entry = entry_cost / position)
    realized: int = 0


def _hash80(text: str) -> str:
    """A deterministic 80-hex-character hash, the length of Lighter's tx hashes (the fake cannot
    compute the signer's own hash)."""
    return hashlib.blake2b(text.encode(), digest_size=40).hexdigest()


class TxRefused(Exception):
    def __init__(self, code: int, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class FakeLighter:
    """The fake exchange. `start()` runs it on its own thread; `url` is its base URL."""

    def __init__(self, settings: FakeSettings | None = None) -> None:
        self.settings = s = settings or FakeSettings()
        self.faults = s.faults
        self.market = next(m for m in MARKETS if m.market_id == s.market_id)
        self._price_scale = 10**self.market.price_decimals
        self._rng = random.Random(s.seed)
        self.accounts: dict[int, _Account] = {s.account_index: _Account(s.account_index, s.collateral)}
        self.nonces: dict[tuple[int, int], int] = {}
        self.orders: dict[int, _Order] = {}          # live orders by order_index
        self.inactive: deque[_Order] = deque(maxlen=1000)
        self.trades: list[dict] = []                 # every trade, ours and the pool's
        self._next_order_index = 281476929510000
        self._next_trade_id = 9_000_000
        self._tx_queue: deque[tuple[float, dict, int]] = deque()
        self._inject: deque[str] = deque()
        self._mid = round(s.start_price * self._price_scale)
        self._half_spread = 2
        self._pool_bids: dict[int, int] = {}
        self._pool_asks: dict[int, int] = {}
        self._shown_bids: dict[int, int] = {}
        self._shown_asks: dict[int, int] = {}
        self._book_nonce = 500_000
        self._book_offset = 7000
        self._skip_next_book = False
        self._subs: dict[web.WebSocketResponse, set[str]] = {}
        self._pongs: dict[web.WebSocketResponse, float] = {}
        self._transports: dict[web.WebSocketResponse, asyncio.BaseTransport] = {}
        self.requests: list[tuple[float, str]] = []   # (time, path) of every REST request
        self.max_live_per_side = {"buy": 0, "sell": 0}   # the most orders of one account resting on a side at once
        self.sent_txs: list[dict] = []                # every tx the API accepted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self.port = s.port
        self._ready = threading.Event()
        self._hung: list[asyncio.Future] = []
        self._refill_pool()

    # -- running ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.settings.host}:{self.port}/stream"

    def start(self) -> "FakeLighter":
        self._thread = threading.Thread(target=self._run_thread, name="fake-lighter", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Lighter server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop (state is only touched there) and return its result."""
        async def run():
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    async def serve_forever(self) -> None:
        """Run in the caller's loop until cancelled (the `lighter-bot fake-server` command)."""
        self._loop = asyncio.get_running_loop()
        await self._startup()
        try:
            await asyncio.Event().wait()
        finally:
            await self._shutdown()

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._startup())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        app = web.Application(middlewares=[self._count_requests])
        r = app.router
        r.add_get("/api/v1/orderBookDetails", self._h_details)
        r.add_get("/api/v1/orderBooks", self._h_order_books)
        r.add_get("/api/v1/orderBookOrders", self._h_book_orders)
        r.add_get("/api/v1/account", self._h_account)
        r.add_get("/api/v1/nextNonce", self._h_next_nonce)
        r.add_get("/api/v1/apikeys", self._h_apikeys)
        r.add_post("/api/v1/sendTx", self._h_send_tx)
        r.add_post("/api/v1/sendTxBatch", self._h_send_tx_batch)
        r.add_get("/api/v1/accountActiveOrders", self._h_active_orders)
        r.add_get("/api/v1/accountInactiveOrders", self._h_inactive_orders)
        r.add_get("/api/v1/trades", self._h_trades)
        r.add_get("/api/v1/recentTrades", self._h_recent_trades)
        r.add_get("/api/v1/funding-rates", self._h_funding_rates)
        r.add_get("/api/v1/candles", self._h_candles)
        r.add_post("/__fake/inject", self._h_inject)
        r.add_get("/stream", self._h_stream)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._tasks = [asyncio.create_task(self._market_task()), asyncio.create_task(self._sequencer_task()),
                       asyncio.create_task(self._ping_task())]
        log.info("fake Lighter on %s (market %d %s, account %d, book format %s)", self.url, self.market.market_id,
                 self.market.symbol, self.settings.account_index, self.settings.book_format)

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for fut in self._hung:
            if not fut.done():
                fut.cancel()
        for ws in list(self._subs):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- test controls (thread-safe) -----------------------------------------------------------------

    def inject(self, *faults: str) -> None:
        """One-shot faults for the next sends, in order: nonce, 21706, 21728, 429, 500, timeout, badcode,
        slow; or applied at once: drop, shutdown, skip_book (connection and book), sweep_down/sweep_up
        (the market jumps through our resting bids/asks)."""
        self._loop.call_soon_threadsafe(self._inject_now, list(faults))

    def register_key(self, account: int, api_key_index: int, public_key: str) -> None:
        def do():
            acct = self._account(account)
            acct.keys[api_key_index] = public_key.lower().removeprefix("0x")
            acct.any_key = False
        self.call(do)

    def open_orders(self, account: int | None = None) -> dict[int, float]:
        """Our live orders as {client index: remaining size}."""
        account = self.settings.account_index if account is None else account
        scale = 10**self.market.size_decimals
        return self.call(lambda: {o.client_index: o.remaining / scale for o in self.orders.values()
                                  if o.account == account})

    def position(self, account: int | None = None) -> float:
        account = self.settings.account_index if account is None else account
        return self.call(lambda: self._account(account).position / 10**self.market.size_decimals)

    def account_trades(self, account: int | None = None) -> list[dict]:
        account = self.settings.account_index if account is None else account
        return self.call(lambda: [t for t in self.trades if account in (t["ask_account_id"], t["bid_account_id"])])

    def _inject_now(self, faults: list[str]) -> None:
        for fault in faults:
            if fault == "drop":
                # An abrupt TCP close, no close frame (what a dead network looks like).
                for ws in list(self._subs):
                    transport = self._transports.get(ws)
                    if transport is not None:
                        transport.abort()
            elif fault == "shutdown":
                for ws in list(self._subs):
                    asyncio.ensure_future(self._send_shutdown(ws))
            elif fault == "skip_book":
                self._skip_next_book = True
            elif fault.startswith("sweep_"):
                # The market jumps through our resting orders on one side (informed flow).
                asyncio.ensure_future(self._sweep(-1 if fault == "sweep_down" else 1))
            else:
                self._inject.append(fault)

    async def _sweep(self, direction: int) -> None:
        ours = [o.price for o in self.orders.values() if o.is_ask == (direction > 0)]
        if not ours:
            return
        target = (max(ours) + self._half_spread + 1) if direction > 0 else (min(ours) - self._half_spread - 1)
        self._mid = target
        self._refill_pool()
        await self._trade_through()
        await self._publish_book()

    async def _send_shutdown(self, ws: web.WebSocketResponse) -> None:
        await self._send(ws, {"type": "shutdown", "close_in_ms": 100})
        await asyncio.sleep(0.1)
        await ws.close(code=1001)

    # -- REST ------------------------------------------------------------------------------------------

    @web.middleware
    async def _count_requests(self, request: web.Request, handler):
        """Every REST request, clocked on arrival (as a rate limiter sees it)."""
        if request.path.startswith("/api/"):
            self.requests.append((time.time(), request.path))
        return await handler(request)

    async def _answer(self, request: web.Request, body: dict, status: int = 200) -> web.Response:
        if self.faults.slow_s:
            await asyncio.sleep(self.faults.slow_s)
        return web.json_response(body, status=status)

    def _market_detail(self, m: FakeMarket) -> dict:
        own = m is self.market
        last = fixed(self._mid, m.price_decimals) if own else f"{m.price:.{m.price_decimals}f}"
        high, low = float(last) * (1 + m.daily_range_frac / 2), float(last) * (1 - m.daily_range_frac / 2)
        return {"symbol": m.symbol, "market_id": m.market_id, "market_type": "perp", "status": "active",
                "taker_fee": "0.0000", "maker_fee": "0.0000", "liquidation_fee": "1.0000",
                "min_base_amount": m.min_base_amount, "min_quote_amount": m.min_quote_amount,
                "order_quote_limit": "", "supported_size_decimals": m.size_decimals,
                "supported_price_decimals": m.price_decimals, "supported_quote_decimals": 6,
                "size_decimals": m.size_decimals, "price_decimals": m.price_decimals,
                "quote_multiplier": 1, "default_initial_margin_fraction": 500, "min_initial_margin_fraction": 200,
                "maintenance_margin_fraction": 120, "closeout_margin_fraction": 80,
                "last_trade_price": float(last), "daily_trades_count": 0,
                "daily_base_token_volume": m.daily_volume_usd / float(last),
                "daily_quote_token_volume": m.daily_volume_usd, "daily_price_low": low, "daily_price_high": high,
                "daily_price_change": 0.0, "open_interest": 0.0, "daily_chart": {},
                "market_config": {"market_margin_mode": 0, "force_reduce_only": False, "hidden": False}}

    async def _h_details(self, request: web.Request) -> web.Response:
        wanted = request.query.get("market_id")
        details = [self._market_detail(m) for m in MARKETS if wanted in (None, str(m.market_id))]
        return await self._answer(request, {"code": 200, "order_book_details": details,
                                            "spot_order_book_details": []})

    async def _h_order_books(self, request: web.Request) -> web.Response:
        books = [{k: v for k, v in self._market_detail(m).items() if k in (
            "symbol", "market_id", "market_type", "status", "taker_fee", "maker_fee", "liquidation_fee",
            "min_base_amount", "min_quote_amount", "order_quote_limit", "supported_size_decimals",
            "supported_price_decimals", "supported_quote_decimals")} for m in MARKETS]
        return await self._answer(request, {"code": 200, "order_books": books})

    async def _h_book_orders(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "20"))
        wanted = request.query.get("market_id", str(self.market.market_id))
        m = next((x for x in MARKETS if str(x.market_id) == wanted), None)
        if m is None:
            return await self._answer(request, {"code": 21600, "message": "market not found"}, 400)
        if m is not self.market:   # a market it does not simulate: a static book around its price
            mid = round(m.price * 10**m.price_decimals)
            shown_asks = {mid + m.spread_ticks // 2 + i: m.level_lots for i in range(10)}
            shown_bids = {mid - m.spread_ticks // 2 - i: m.level_lots for i in range(10)}
        else:
            shown_asks, shown_bids = self._shown_asks, self._shown_bids

        def side(levels: dict[int, int], reverse: bool) -> list[dict]:
            out = []
            for i, ticks in enumerate(sorted(levels, reverse=reverse)[:limit]):
                size = fixed(levels[ticks], m.size_decimals)
                out.append({"order_index": 1000 + i, "order_id": str(1000 + i), "owner_account_index": POOL_ACCOUNT,
                            "initial_base_amount": size, "remaining_base_amount": size,
                            "price": fixed(ticks, m.price_decimals), "order_expiry": 0,
                            "transaction_time": int(time.time() * 1e6)})
            return out
        asks, bids = side(shown_asks, False), side(shown_bids, True)
        return await self._answer(request, {"code": 200, "total_asks": len(asks), "asks": asks,
                                            "total_bids": len(bids), "bids": bids})

    def _account(self, index: int) -> _Account:
        acct = self.accounts.get(index)
        if acct is None:
            raise TxRefused(21100, "account not found")
        return acct

    def _position_json(self, acct: _Account) -> dict:
        m = self.market
        lots = acct.position
        entry = abs(acct.entry_cost) // abs(lots) if lots else 0
        return {"market_id": m.market_id, "symbol": m.symbol, "initial_margin_fraction": "5.00",
                "open_order_count": sum(1 for o in self.orders.values() if o.account == acct.index),
                "pending_order_count": 0, "position_tied_order_count": 0, "sign": 1 if lots >= 0 else -1,
                "position": fixed(abs(lots), m.size_decimals), "avg_entry_price": fixed(entry, m.price_decimals),
                "position_value": fixed(abs(lots) * self._mid, m.size_decimals + m.price_decimals),
                "unrealized_pnl": "0.000000", "realized_pnl": fixed(acct.realized, m.size_decimals + m.price_decimals),
                "liquidation_price": "0", "total_funding_paid_out": "0", "margin_mode": 0,
                "allocated_margin": "0.000000"}

    async def _h_account(self, request: web.Request) -> web.Response:
        try:
            acct = self._account(int(request.query.get("value", "-1")))
        except (TxRefused, ValueError):
            return await self._answer(request, {"code": 21100, "message": "account not found"}, 400)
        body = {"code": 200, "total": 1, "accounts": [{
            "code": 0, "account_type": 0, "index": acct.index, "account_index": acct.index,
            "l1_address": "0x" + "0" * 40, "cancel_all_time": 0, "total_order_count": len(self.orders),
            "total_isolated_order_count": 0, "pending_order_count": 0, "available_balance": acct.collateral,
            "status": 1, "collateral": acct.collateral, "positions": [self._position_json(acct)],
            "total_asset_value": acct.collateral, "cross_asset_value": acct.collateral, "shares": [],
            "assets": [{"symbol": "USDC", "asset_id": 3, "balance": acct.collateral, "locked_balance": "0.000000",
                        "margin_balance": acct.collateral, "margin_mode": "enabled"}]}]}
        return await self._answer(request, body)

    async def _h_next_nonce(self, request: web.Request) -> web.Response:
        key = (int(request.query.get("account_index", "0")), int(request.query.get("api_key_index", "0")))
        return await self._answer(request, {"code": 200, "nonce": self.nonces.get(key, 0)})

    async def _h_apikeys(self, request: web.Request) -> web.Response:
        account = int(request.query.get("account_index", "-1"))
        acct = self.accounts.get(account)
        wanted = request.query.get("api_key_index")
        keys = []
        if acct is not None:
            for index, pub in sorted(acct.keys.items()):
                if wanted in (None, "255", str(index)):
                    keys.append({"account_index": account, "api_key_index": index,
                                 "nonce": self.nonces.get((account, index), 0), "public_key": pub,
                                 "transaction_time": int(time.time() * 1e6)})
        return await self._answer(request, {"code": 200, "api_keys": keys})

    def _auth_error(self, request: web.Request, account: int) -> tuple[dict, int] | None:
        """Account reads need a token `deadline:account:key:sig` (header, any case, or `auth` query)."""
        token = request.headers.get("Authorization") or request.query.get("auth") or ""
        return self._check_token(token, account)

    def _check_token(self, token: str, account: int) -> tuple[dict, int] | None:
        if not token:
            return {"code": 20001, "message": "auth query param and Authorization header are empty"}, 400
        parts = token.split(":")
        now = time.time()
        try:
            deadline, acct = int(parts[0]), int(parts[1])
            ok = len(parts) == 4 and now < deadline <= now + 8 * 3600 + 60 and acct == account and len(parts[3]) >= 64
        except (ValueError, IndexError):
            ok = False
        return None if ok else ({"code": 20013, "message": "invalid auth string"}, 401)

    async def _h_active_orders(self, request: web.Request) -> web.Response:
        account = int(request.query.get("account_index", "-1"))
        error = self._auth_error(request, account)
        if error:
            return await self._answer(request, *error)
        market = request.query.get("market_id")
        orders = [self._order_json(o) for o in self.orders.values()
                  if o.account == account and market in (None, str(o.market))]
        return await self._answer(request, {"code": 200, "orders": orders})

    async def _h_inactive_orders(self, request: web.Request) -> web.Response:
        account = int(request.query.get("account_index", "-1"))
        error = self._auth_error(request, account)
        if error:
            return await self._answer(request, *error)
        limit = int(request.query.get("limit", "100"))
        orders = [self._order_json(o) for o in reversed(self.inactive) if o.account == account][:limit]
        return await self._answer(request, {"code": 200, "orders": orders})

    async def _h_trades(self, request: web.Request) -> web.Response:
        """`/api/v1/trades` (§3.3): account and market filters, sorted by trade id, at most 100 a page,
        and an opaque `next_cursor` while more remain (absent on the last page)."""
        q = request.query
        if self.faults.trades_rate_limited > 0:
            self.faults.trades_rate_limited -= 1
            return web.json_response({"code": 23000, "message": "Too Many Requests!"}, status=429,
                                     headers={"Retry-After": "1"})
        try:
            account = int(q["account_index"]) if "account_index" in q else None
            market = int(q["market_id"]) if "market_id" in q else None
            limit = int(q.get("limit", "100"))
            after = int(base64.urlsafe_b64decode(q["cursor"]).decode()) if q.get("cursor") else None
        except (ValueError, UnicodeDecodeError):
            return await self._answer(request, {"code": 20001, "message": "invalid param"}, 400)
        if not 1 <= limit <= 100:
            return await self._answer(request, {"code": 20001, "message": "invalid param: limit"}, 400)
        if account is not None:
            error = self._auth_error(request, account)
            if error:
                return await self._answer(request, *error)
        trades = [t for t in self.trades if (account is None or account in (t["ask_account_id"], t["bid_account_id"]))
                  and (market is None or t["market_id"] == market)]
        descending = q.get("sort_dir", "desc") == "desc"
        trades.sort(key=lambda t: t["trade_id"], reverse=descending)
        if after is not None:
            trades = [t for t in trades if (t["trade_id"] < after if descending else t["trade_id"] > after)]
        body: dict = {"code": 200, "trades": trades[:limit]}
        if len(trades) > limit:
            body["next_cursor"] = base64.urlsafe_b64encode(str(trades[limit - 1]["trade_id"]).encode()).decode()
        return await self._answer(request, body)

    async def _h_funding_rates(self, request: web.Request) -> web.Response:
        rates = [{"market_id": m.market_id, "exchange": "lighter", "symbol": m.symbol, "rate": m.funding_rate}
                 for m in MARKETS]
        rates += [{"market_id": m.market_id, "exchange": "binance", "symbol": m.symbol, "rate": 0.5} for m in MARKETS]
        return await self._answer(request, {"code": 200, "funding_rates": rates})

    async def _h_candles(self, request: web.Request) -> web.Response:
        """`/api/v1/candles` (§3.4): every parameter required, timestamps in ms or s (below 10^12),
        1-minute bars only, the most recent min(count_back, 500) of the window."""
        q = request.query
        try:
            market = int(q["market_id"])
            resolution = q["resolution"]
            start, end = (int(q[k]) for k in ("start_timestamp", "end_timestamp"))
            count = int(q["count_back"])
        except (KeyError, ValueError):
            return await self._answer(request, {"code": 20001, "message": "invalid param"}, 400)
        if resolution != "1m" or market != self.market.market_id or count < 1:
            return await self._answer(request, {"code": 20001, "message": "invalid param: resolution, market_id or "
                                                                          "count_back (the fake serves 1m bars of "
                                                                          "its own market)"}, 400)
        start, end = (t * 1000 if t < 10**12 else t for t in (start, end))
        count = min(count, CANDLES_MAX)
        if self.settings.candles is not None:
            bars = [{"t": int(t), "o": o, "h": h, "l": lo, "c": c, "v": v}
                    for t, o, h, lo, c, v in self.settings.candles if start <= t <= end][-count:]
            bars = [{k: v for k, v in b.items() if v} for b in bars]       # zero fields omitted, as Lighter does
        else:
            last = end // CANDLE_MS
            first = max(-(-start // CANDLE_MS), last - count + 1)
            bars = [synthetic_candle(m, self.settings.start_price, self.settings.seed) for m in range(first, last + 1)]
        return await self._answer(request, {"code": 200, "r": resolution, "c": bars})

    async def _h_recent_trades(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "50")), 100)
        return await self._answer(request, {"code": 200, "trades": self.trades[::-1][:limit]})

    async def _h_inject(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._inject_now(list(body.get("faults", [])))
        for name, value in (body.get("set") or {}).items():
            if not hasattr(self.faults, name):
                return web.json_response({"code": 400, "message": f"unknown fault {name}"}, status=400)
            setattr(self.faults, name, value)
        return web.json_response({"code": 200})

    # -- transactions ------------------------------------------------------------------------------

    async def _h_send_tx(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_types, tx_infos = [int(form["tx_type"])], [str(form["tx_info"])]
        except (KeyError, ValueError):
            return await self._answer(request, {"code": 21501, "message": "invalid tx info"}, 400)
        return await self._txs(request, tx_types, tx_infos, batch=False)

    async def _h_send_tx_batch(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            tx_types = [int(t) for t in json.loads(form["tx_types"])]   # "[14, 15]" and "[14,15]" alike
            tx_infos = [str(i) for i in json.loads(form["tx_infos"])]
        except (KeyError, ValueError, TypeError):
            return await self._answer(request, {"code": 21501, "message": "invalid tx info"}, 400)
        if len(tx_types) != len(tx_infos) or not tx_types:
            return await self._answer(request, {"code": 21501, "message": "invalid tx info"}, 400)
        if len(tx_types) > 50:
            return await self._answer(request, {"code": 21514, "message": "maximum 50 transactions allowed"}, 400)
        return await self._txs(request, tx_types, tx_infos, batch=True)

    async def _txs(self, request: web.Request, tx_types: list[int], tx_infos: list[str], batch: bool) -> web.Response:
        fault = self._inject.popleft() if self._inject else ""
        if fault == "429":
            return await self._answer(request, {"code": 23000, "message": "Too Many Requests!"}, 429)
        if fault == "500":
            return await self._answer(request, {"code": 29500, "message": "internal server error"}, 500)
        if fault == "slow":
            await asyncio.sleep(1.0)
        try:
            txs = [self._validate(t, i) for t, i in zip(tx_types, tx_infos)]
            first = txs[0]
            if batch:
                keys = {(tx["AccountIndex"], tx["ApiKeyIndex"]) for tx in txs}
                if len(keys) > 1:
                    raise TxRefused(21121, "all transactions in a batch must use same account and apikey")
                if [tx["Nonce"] for tx in txs] != list(range(first["Nonce"], first["Nonce"] + len(txs))):
                    raise TxRefused(21105, "batch transaction nonce is not increasing")
            key = (first["AccountIndex"], first["ApiKeyIndex"])
            expected = self.nonces.get(key, 0)
            if fault == "nonce" or first["Nonce"] != expected:
                raise TxRefused(21104, "invalid nonce")
            for tx, tx_type in zip(txs, tx_types):
                self._static_checks(tx_type, tx, txs)
            if fault in ("21706", "21728"):
                raise TxRefused(int(fault), "invalid order base or quote amount" if fault == "21706"
                                else "client order index already exists")
            if fault == "badcode":
                # An HTTP 200 that is a refusal all the same (body code != 200): nothing was accepted.
                raise TxRefused(21506, "too many pending txs, try again later", status=200)
        except TxRefused as exc:
            return await self._answer(request, {"code": exc.code, "message": exc.message}, exc.status)
        # Accepted: the nonces are consumed, the sequencer runs the txs shortly.
        self.nonces[key] = expected + len(txs)
        hashes = []
        silent = False
        for tx_type, tx, info in zip(tx_types, txs, tx_infos):
            self.sent_txs.append({"tx_type": tx_type, **tx})
            tx["_silent"] = self.faults.lost_acks and tx_type == TX_CREATE
            silent = silent or tx["_silent"]
            self._tx_queue.append((time.monotonic() + self.settings.sequencing_delay_s, tx, tx_type))
            hashes.append(_hash80(info))
        if fault == "timeout" or silent:
            # Executed, but the answer never comes (the client times out: outcome unknown).
            hang = asyncio.get_running_loop().create_future()
            self._hung.append(hang)
            try:
                await hang
            except asyncio.CancelledError:
                pass
            raise web.HTTPServiceUnavailable()
        body = {"code": 200, "message": "{\"ratelimit\": \"didn't use volume quota\"}",
                "tx_hash": hashes if batch else hashes[0], "predicted_execution_time_ms": int(time.time() * 1000) + 200,
                "volume_quota_remaining": 1000 - len(self.sent_txs)}
        return await self._answer(request, body)

    def _validate(self, tx_type: int, info: str) -> dict:
        try:
            tx = json.loads(info)
        except ValueError:
            raise TxRefused(21501, "invalid tx info")
        if tx_type not in (TX_CREATE, TX_CANCEL, TX_CANCEL_ALL, TX_MODIFY) or not isinstance(tx, dict):
            raise TxRefused(21505, "unsupported tx type")
        for name in ("AccountIndex", "ApiKeyIndex", "Nonce", "ExpiredAt", "Sig"):
            if name not in tx:
                raise TxRefused(21501, f"invalid tx info: no {name}")
        acct = self._account(tx["AccountIndex"])
        if not acct.any_key and tx["ApiKeyIndex"] not in acct.keys:
            raise TxRefused(21109, "api key not found")
        sig = tx["Sig"]
        if not isinstance(sig, str) or len(sig) != SIG_B64_CHARS:
            raise TxRefused(21120, "invalid signature")
        try:
            base64.b64decode(sig, validate=True)
        except ValueError:
            raise TxRefused(21120, "invalid signature")
        if tx["ExpiredAt"] < time.time() * 1000:
            raise TxRefused(21501, "invalid tx info: expired")
        return tx

    def _live(self, account: int, index: int) -> _Order | None:
        order = self.orders.get(index)
        if order is not None and order.account == account:
            return order
        for order in self.orders.values():
            if order.account == account and order.client_index == index:
                return order
        return None

    def _static_checks(self, tx_type: int, tx: dict, batch: list[dict]) -> None:
        m = self.market
        if tx_type in (TX_CREATE, TX_CANCEL, TX_MODIFY) and tx.get("MarketIndex") != m.market_id:
            raise TxRefused(21602, "invalid market index")
        if tx_type in (TX_CREATE, TX_MODIFY):
            base, price = tx.get("BaseAmount", 0), tx.get("Price", 0)
            if price <= 0:
                raise TxRefused(21702, "invalid price")
            min_base = round(float(m.min_base_amount) * 10**m.size_decimals)
            min_quote = round(float(m.min_quote_amount) * 10**(m.size_decimals + m.price_decimals))
            if base < min_base or base * price < min_quote:
                raise TxRefused(21706, "invalid order base or quote amount")
        if tx_type == TX_CREATE:
            tif, expiry = tx.get("TimeInForce"), tx.get("OrderExpiry", 0)
            if tif not in (TIF_IOC, TIF_GTT, TIF_POST_ONLY):
                raise TxRefused(21705, "invalid time in force")
            if (tif == TIF_IOC) != (expiry == 0):
                raise TxRefused(21711, "invalid expiry")
            if self._live(tx["AccountIndex"], tx["ClientOrderIndex"]) is not None:
                raise TxRefused(21728, "client order index already exists")
        if tx_type in (TX_CANCEL, TX_MODIFY):
            # A create still waiting for the sequencer (this batch or an earlier one) runs first, in
            # nonce order, so naming it is valid; only an order that is gone is refused here.
            pending = [queued for _, queued, kind in self._tx_queue if kind == TX_CREATE] + \
                [other for other in batch if other is not tx and "ClientOrderIndex" in other]
            created = any(other["AccountIndex"] == tx["AccountIndex"] and
                          other.get("ClientOrderIndex") == tx.get("Index") for other in pending)
            if not created and self._live(tx["AccountIndex"], tx.get("Index", -1)) is None:
                raise TxRefused(21600, "given order is not an active limit order")

    async def _sequencer_task(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            now = time.monotonic()
            while self._tx_queue and self._tx_queue[0][0] <= now:
                _, tx, tx_type = self._tx_queue.popleft()
                try:
                    await self._execute(tx_type, tx)
                except Exception:      # a bug in the fake must not stop the exchange; it is logged
                    log.exception("fake Lighter: executing %s failed", tx)

    async def _execute(self, tx_type: int, tx: dict) -> None:
        account = tx["AccountIndex"]
        if tx_type == TX_CREATE:
            await self._create(tx)
        elif tx_type == TX_CANCEL:
            order = self._live(account, tx["Index"])
            if order is not None:
                await self._close(order, "canceled")
        elif tx_type == TX_MODIFY:
            order = self._live(account, tx["Index"])
            if order is None:
                return
            crosses = tx["Price"] >= self._best_ask() if not order.is_ask else tx["Price"] <= self._best_bid()
            if order.tif == TIF_POST_ONLY and crosses:
                await self._close(order, "canceled-post-only")
                return
            if tx["Price"] != order.price:
                order.ahead = self._pool_at(order.is_ask, tx["Price"])
            order.price, order.remaining, order.version = tx["Price"], tx["BaseAmount"], order.version + 1
            order.initial = order.filled + order.remaining
            await self._order_frames(order)
            await self._publish_book()
        elif tx_type == TX_CANCEL_ALL:
            scope = (tx.get("L2TxAttributes") or {}).get("5", 255)      # attribute 5: one market, 255/absent: all
            if tx.get("TimeInForce", 0) == 0:
                for order in [o for o in self.orders.values() if o.account == account and scope in (255, o.market)]:
                    await self._close(order, "canceled")

    async def _create(self, tx: dict) -> None:
        m = self.market
        self._next_order_index += 1
        order = _Order(tx["AccountIndex"], self._next_order_index, tx["ClientOrderIndex"], tx["MarketIndex"],
                       bool(tx["IsAsk"]), tx["Price"], tx["BaseAmount"], tx["BaseAmount"], tx["TimeInForce"],
                       bool(tx.get("ReduceOnly")), tx.get("OrderExpiry", 0), tx["Nonce"], silent=tx.get("_silent", False))
        acct = self._account(order.account)
        if order.reduce_only and self._reducible(acct, order.is_ask) == 0:
            order.status = "canceled-reduce-only"
            self.inactive.append(order)
            await self._order_frames(order)
            return
        crosses = order.price <= self._best_bid() if order.is_ask else order.price >= self._best_ask()
        if order.tif == TIF_POST_ONLY and crosses:
            order.status = "canceled-post-only"
            self.inactive.append(order)
            await self._order_frames(order)
            return
        if crosses:
            await self._take(order, acct)
        if order.remaining == 0:
            order.status = "filled"
            self.inactive.append(order)
            await self._order_frames(order)
        elif order.tif == TIF_IOC:
            order.status = "canceled"
            self.inactive.append(order)
            await self._order_frames(order)
        else:
            order.ahead = self._pool_at(order.is_ask, order.price)
            self.orders[order.order_index] = order
            side = "sell" if order.is_ask else "buy"
            live = sum(1 for o in self.orders.values() if o.account == order.account and o.is_ask == order.is_ask)
            self.max_live_per_side[side] = max(self.max_live_per_side[side], live)
            await self._order_frames(order)
            await self._publish_book()
        del m

    async def _take(self, order: _Order, acct: _Account) -> None:
        """Fill a crossing order against the pool's displayed levels, best first, up to its limit."""
        levels = self._pool_bids if order.is_ask else self._pool_asks
        prices = sorted(levels, reverse=order.is_ask)
        for price in prices:
            if order.remaining == 0 or (price < order.price if order.is_ask else price > order.price):
                break
            available = levels[price]
            if order.reduce_only:
                available = min(available, self._reducible(acct, order.is_ask))
            lots = min(available, order.remaining)
            if lots <= 0:
                break
            levels[price] -= lots
            if levels[price] == 0:
                del levels[price]
            await self._trade(order, price, lots, taker=True)
        await self._publish_book()

    async def _trade(self, order: _Order, price: int, lots: int, taker: bool) -> None:
        """One fill of our `order` against the pool; books both sides and publishes the frames."""
        m = self.market
        acct = self._account(order.account)
        size_before = acct.position
        signed = -lots if order.is_ask else lots
        self._book_position(acct, signed, price)
        order.remaining -= lots
        order.filled += lots
        order.filled_quote += lots * price
        self._next_trade_id += 1
        ours_ask = order.is_ask
        trade = {
            "trade_id": self._next_trade_id, "tx_hash": _hash80(str(self._next_trade_id)),
            "type": "trade", "market_id": m.market_id, "size": fixed(lots, m.size_decimals),
            "price": fixed(price, m.price_decimals),
            "usd_amount": fixed(lots * price * 10**(6 - m.size_decimals - m.price_decimals), 6)
            if m.size_decimals + m.price_decimals <= 6 else fixed(lots * price, m.size_decimals + m.price_decimals),
            "ask_id": order.order_index if ours_ask else 562950878433000 + self._next_trade_id,
            "bid_id": 844423988645000 + self._next_trade_id if ours_ask else order.order_index,
            "ask_client_id": order.client_index if ours_ask else 0,
            "bid_client_id": 0 if ours_ask else order.client_index,
            "ask_account_id": order.account if ours_ask else POOL_ACCOUNT,
            "bid_account_id": POOL_ACCOUNT if ours_ask else order.account,
            "is_maker_ask": (not ours_ask) if taker else ours_ask,
            "block_height": 122317139 + self._next_trade_id, "timestamp": int(time.time() * 1000),
            "taker_position_size_before": fixed(size_before if taker else 0, m.size_decimals),
            "taker_entry_quote_before": "0.000000", "taker_initial_margin_fraction_before": 500,
            "maker_position_size_before": fixed(0 if taker else size_before, m.size_decimals),
            "maker_entry_quote_before": "0.000000", "maker_initial_margin_fraction_before": 500}
        self.trades.append(trade)
        await self._publish(f"trade:{m.market_id}", {"type": "update/trade", "channel": f"trade:{m.market_id}",
                                                     "liquidation_trades": None, "nonce": self._book_nonce,
                                                     "trades": [trade]})
        if not order.silent:
            frame = {"type": "update/account_all_trades", "channel": f"account_all_trades:{order.account}",
                     "trades": {str(m.market_id): [trade]}}
            delay = self.faults.late_fills_s
            await self._later(delay, self._publish(frame["channel"], frame))
            if self.faults.duplicate_fills:
                await self._later(delay + 1.0, self._publish(frame["channel"], frame))
        positions = {"type": "update/account_all_positions", "channel": f"account_all_positions:{order.account}",
                     "positions": {str(m.market_id): self._position_json(acct)}}
        await self._later(self.faults.late_fills_s, self._publish(positions["channel"], positions))

    async def _later(self, delay_s: float, coro) -> None:
        """Publish now (in order with what follows), or after `delay_s` without holding anything up."""
        if delay_s <= 0:
            await coro
            return

        async def run():
            await asyncio.sleep(delay_s)
            await coro
        asyncio.ensure_future(run())

    def _book_position(self, acct: _Account, signed: int, price: int) -> None:
        before = acct.position
        after = before + signed
        if before == 0 or (before > 0) == (signed > 0):
            acct.entry_cost += signed * price
        elif after == 0 or (after > 0) == (before > 0):
            closed = -signed
            acct.realized += closed * (price - acct.entry_cost // before) if before else 0
            acct.entry_cost = acct.entry_cost * after // before
        else:
            acct.entry_cost = after * price
        acct.position = after

    def _reducible(self, acct: _Account, is_ask: bool) -> int:
        return max(acct.position, 0) if is_ask else max(-acct.position, 0)

    async def _close(self, order: _Order, status: str) -> None:
        self.orders.pop(order.order_index, None)
        order.status = status
        self.inactive.append(order)
        await self._order_frames(order)
        await self._publish_book()

    def _order_json(self, o: _Order) -> dict:
        m = self.market
        now_ms = int(time.time() * 1000)
        return {"order_index": o.order_index, "client_order_index": o.client_index, "order_id": str(o.order_index),
                "client_order_id": str(o.client_index), "market_index": o.market, "owner_account_index": o.account,
                "initial_base_amount": fixed(o.initial, m.size_decimals), "price": fixed(o.price, m.price_decimals),
                "nonce": o.nonce, "remaining_base_amount": fixed(o.remaining, m.size_decimals),
                "is_ask": o.is_ask, "base_size": o.remaining, "base_price": o.price,
                "filled_base_amount": fixed(o.filled, m.size_decimals),
                "filled_quote_amount": fixed(o.filled_quote, m.size_decimals + m.price_decimals),
                "side": "sell" if o.is_ask else "buy", "type": "limit",
                "time_in_force": {TIF_IOC: "immediate-or-cancel", TIF_GTT: "good-till-time",
                                  TIF_POST_ONLY: "post-only"}[o.tif],
                "reduce_only": o.reduce_only, "trigger_price": "0.000", "order_expiry": o.expiry,
                "status": o.status, "trigger_status": "na", "block_height": 0, "timestamp": now_ms,
                "created_at": now_ms, "updated_at": now_ms, "order_version": o.version}

    async def _order_frames(self, order: _Order) -> None:
        if order.silent:
            return
        m = self.market
        body = {str(m.market_id): [self._order_json(order)]}
        await self._publish(f"account_orders:{m.market_id}:{order.account}",
                            {"type": "update/account_orders", "channel": f"account_orders:{m.market_id}:{order.account}",
                             "account": order.account, "nonce": self._book_nonce, "orders": body})
        await self._publish(f"account_all_orders:{order.account}",
                            {"type": "update/account_all_orders", "channel": f"account_all_orders:{order.account}",
                             "orders": body})

    # -- the synthetic market -----------------------------------------------------------------------

    def _best_bid(self) -> int:
        return max(self._pool_bids) if self._pool_bids else 0

    def _best_ask(self) -> int:
        return min(self._pool_asks) if self._pool_asks else 2**32

    def _pool_at(self, is_ask: bool, price: int) -> int:
        return (self._pool_asks if is_ask else self._pool_bids).get(price, 0)

    def _refill_pool(self) -> None:
        """Pool levels around the mid: one per tick, a few SOL each; levels we took are replenished."""
        scale = 10**self.market.size_decimals
        bids, asks = {}, {}
        for i in range(self.settings.levels):
            bid = self._mid - self._half_spread - i
            ask = self._mid + self._half_spread + i
            bids[bid] = self._pool_bids.get(bid) or self._rng.randint(1 * scale, 6 * scale)
            asks[ask] = self._pool_asks.get(ask) or self._rng.randint(1 * scale, 6 * scale)
            if self._rng.random() < 0.2:
                bids[bid] = self._rng.randint(1 * scale, 6 * scale)
            if self._rng.random() < 0.2:
                asks[ask] = self._rng.randint(1 * scale, 6 * scale)
        self._pool_bids, self._pool_asks = bids, asks

    def _displayed(self) -> tuple[dict[int, int], dict[int, int]]:
        bids, asks = dict(self._pool_bids), dict(self._pool_asks)
        for o in self.orders.values():
            side = asks if o.is_ask else bids
            side[o.price] = side.get(o.price, 0) + o.remaining
        return bids, asks

    async def _market_task(self) -> None:
        s = self.settings
        next_trade = time.monotonic() + self._rng.expovariate(1 / s.trade_interval_s)
        while True:
            await asyncio.sleep(s.book_interval_s)
            if self._rng.random() < s.move_prob:
                self._mid += self._rng.choice((-1, 1)) * self._rng.randint(1, s.move_ticks)
                self._refill_pool()
                await self._trade_through()
            else:
                self._refill_pool()
            if time.monotonic() >= next_trade:
                next_trade = time.monotonic() + self._rng.expovariate(1 / s.trade_interval_s)
                await self._public_print()
            await self._publish_book()

    async def _trade_through(self) -> None:
        """The market moved to or through a resting order of ours: it fills whole at its price."""
        for order in list(self.orders.values()):
            through = self._best_ask() <= order.price if not order.is_ask else self._best_bid() >= order.price
            if through:
                await self._fill_resting(order, order.remaining)

    async def _public_print(self) -> None:
        """A pool taker hits the touch; it eats the queue ahead of us first, then our order."""
        scale = 10**self.market.size_decimals
        is_buy = self._rng.random() < 0.5
        lots = self._rng.randint(scale // 10, 3 * scale)
        price = self._best_ask() if is_buy else self._best_bid()
        ours = sorted((o for o in self.orders.values() if o.is_ask == is_buy and
                       (o.price <= price if is_buy else o.price >= price)),
                      key=lambda o: (o.price if is_buy else -o.price, o.order_index))
        left = lots
        for order in ours:
            if order.price == price:
                eaten = min(order.ahead, left)
                order.ahead -= eaten
                left -= eaten
            if left <= 0:
                break
            take = min(order.remaining, left)
            left -= await self._fill_resting(order, take)
        self._next_trade_id += 1
        m = self.market
        trade = {"trade_id": self._next_trade_id, "tx_hash": _hash80(str(self._next_trade_id)),
                 "type": "trade", "market_id": m.market_id, "size": fixed(lots, m.size_decimals),
                 "price": fixed(price, m.price_decimals), "usd_amount": "0.000000",
                 "ask_id": 562950878433000 + self._next_trade_id, "bid_id": 844423988645000 + self._next_trade_id,
                 "ask_client_id": 0, "bid_client_id": 0, "ask_account_id": POOL_ACCOUNT, "bid_account_id": 555,
                 "is_maker_ask": is_buy, "block_height": 122317139 + self._next_trade_id,
                 "timestamp": int(time.time() * 1000), "taker_position_size_before": "0.000",
                 "taker_entry_quote_before": "0.000000", "taker_initial_margin_fraction_before": 500,
                 "maker_position_size_before": "0.000", "maker_entry_quote_before": "0.000000",
                 "maker_initial_margin_fraction_before": 500}
        self.trades.append(trade)
        await self._publish(f"trade:{m.market_id}", {"type": "update/trade", "channel": f"trade:{m.market_id}",
                                                     "liquidation_trades": None, "nonce": self._book_nonce,
                                                     "trades": [trade]})

    async def _fill_resting(self, order: _Order, lots: int) -> int:
        acct = self._account(order.account)
        if order.reduce_only:
            lots = min(lots, self._reducible(acct, order.is_ask))
        if lots > 0:
            await self._trade(order, order.price, lots, taker=False)
        if order.remaining == 0:
            await self._close(order, "filled")
        elif order.reduce_only and self._reducible(acct, order.is_ask) == 0:
            await self._close(order, "canceled-reduce-only")
        else:
            await self._order_frames(order)
        return lots

    def _book_frame(self, snapshot: bool, bids: list[dict], asks: list[dict], begin_nonce: int) -> dict:
        now = time.time()
        body = {"code": 0, "asks": asks, "bids": bids, "offset": self._book_offset, "nonce": self._book_nonce}
        frame = {"channel": f"order_book:{self.market.market_id}", "offset": self._book_offset, "order_book": body,
                 "timestamp": int(now * 1000), "type": ("subscribed" if snapshot else "update") + "/order_book"}
        if self.settings.book_format == "B":
            body["begin_nonce"] = 0 if snapshot else begin_nonce
            body["last_updated_at"] = frame["last_updated_at"] = int(now * 1e6)
        return frame

    def _levels(self, levels: dict[int, int]) -> list[dict]:
        m = self.market
        return [{"price": fixed(p, m.price_decimals), "size": fixed(s, m.size_decimals)} for p, s in levels.items()]

    async def _publish_book(self) -> None:
        bids, asks = self._displayed()
        diff_b = {p: bids.get(p, 0) for p in set(bids) | set(self._shown_bids) if bids.get(p, 0) != self._shown_bids.get(p, 0)}
        diff_a = {p: asks.get(p, 0) for p in set(asks) | set(self._shown_asks) if asks.get(p, 0) != self._shown_asks.get(p, 0)}
        self._shown_bids, self._shown_asks = bids, asks
        if not diff_b and not diff_a:
            return
        begin = self._book_nonce
        self._book_nonce += self._rng.randint(1, 4)           # nonces are never contiguous
        self._book_offset += 1 if self.settings.book_format == "A" else self._rng.randint(1, 5)
        if self._skip_next_book:
            self._skip_next_book = False                        # this update is lost on the way
            return
        frame = self._book_frame(False, self._levels(diff_b), self._levels(diff_a), begin)
        await self._publish(f"order_book:{self.market.market_id}", frame)

    # -- WebSocket -----------------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, frame: dict) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps(frame, separators=(",", ":")))
        except (ConnectionError, RuntimeError):
            pass

    async def _publish(self, channel: str, frame: dict) -> None:
        if channel.startswith("order_book") and self.faults.silent_book:
            return
        for ws, subs in list(self._subs.items()):
            if channel in subs:
                await self._send(ws, frame)

    async def _ping_task(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval_s)
            now = time.monotonic()
            for ws in list(self._subs):
                sent = self._pongs.get(ws)
                if sent is not None and now - sent > self.settings.pong_timeout_s:
                    await ws.close(code=1008, message=b"no pong")
                    continue
                self._pongs[ws] = now if sent is None else sent
                await self._send(ws, {"type": "ping"})

    async def _h_stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=2**20)
        await ws.prepare(request)
        self._subs[ws] = set()
        self._transports[ws] = request.transport
        await self._send(ws, {"session_id": str(uuid.uuid4()), "type": "connected"})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await self._send(ws, {"type": "error", "code": 30000, "message": "invalid json"})
                    continue
                await self._on_client_frame(ws, data)
        finally:
            self._subs.pop(ws, None)
            self._pongs.pop(ws, None)
            self._transports.pop(ws, None)
        return ws

    async def _on_client_frame(self, ws: web.WebSocketResponse, data: dict) -> None:
        kind = data.get("type")
        if kind == "ping":
            if not self.faults.ignore_pings:
                await self._send(ws, {"type": "pong"})
        elif kind == "pong":
            self._pongs.pop(ws, None)
        elif kind == "subscribe":
            await self._subscribe(ws, str(data.get("channel", "")), data.get("auth"))
        elif kind == "unsubscribe":
            channel = str(data.get("channel", "")).replace("/", ":")
            subs = self._subs.get(ws, set())
            if channel not in subs:
                await self._send(ws, {"type": "error", "code": 30002, "message": "Not Subscribed"})
            else:
                subs.discard(channel)
                await self._send(ws, {"type": "unsubscribed", "channel": channel})
        else:
            await self._send(ws, {"type": "error", "code": 30001, "message": "invalid type"})

    async def _subscribe(self, ws: web.WebSocketResponse, channel: str, auth: str | None) -> None:
        parts = channel.split("/")
        subs = self._subs.get(ws)
        if subs is None:
            return
        name = ":".join(parts)
        if name in subs:
            await self._send(ws, {"type": "error", "code": 30003, "message": f"Already Subscribed to {name}"})
            return
        m = self.market
        kind = parts[0]
        try:
            ids = [int(p) for p in parts[1:]]
        except ValueError:
            ids = []
        account_kinds = ("account_orders", "account_all_orders", "account_all_trades", "account_all_positions",
                         "account_all")
        if kind in ("order_book", "trade", "market_stats") and ids == [m.market_id]:
            pass
        elif kind in account_kinds and ids and ids[-1] in self.accounts and \
                (kind != "account_orders" or ids[0] == m.market_id):
            # The SDK's WsClient subscribes account_all without auth (§14): accept that one.
            if kind != "account_all" and self._check_token(auth or "", ids[-1]) is not None:
                await self._send(ws, {"type": "error", "code": 20013, "message": "invalid auth string"})
                return
        else:
            await self._send(ws, {"type": "error", "code": 30005, "message": f"invalid channel {channel}"})
            return
        subs.add(name)
        await self._send(ws, self._snapshot_frame(kind, name, ids))

    def _snapshot_frame(self, kind: str, name: str, ids: list[int]) -> dict:
        m = self.market
        if kind == "order_book":
            # The book as last published, so the next update chains onto exactly this snapshot.
            return self._book_frame(True, self._levels(self._shown_bids), self._levels(self._shown_asks), 0)
        if kind == "trade":
            recent = [t for t in self.trades if t["market_id"] == m.market_id][-50:]
            return {"type": "subscribed/trade", "channel": name, "trades": recent, "liquidation_trades": [],
                    "nonce": self._book_nonce}
        if kind == "market_stats":
            price = fixed(self._mid, m.price_decimals)
            return {"type": "subscribed/market_stats", "channel": name, "market_stats": {
                "symbol": m.symbol, "market_id": m.market_id, "index_price": price, "mark_price": price,
                "open_interest": "0.000000", "open_interest_limit": "72057594037927936.000000",
                "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000", "last_trade_price": price,
                "current_funding_rate": "0.0000", "funding_rate": "0.0000", "funding_timestamp": 0,
                "daily_base_token_volume": 0.0, "daily_quote_token_volume": 0.0, "daily_price_low": 0.0,
                "daily_price_high": 0.0, "daily_price_change": 0.0}}
        account = ids[-1]
        acct = self.accounts[account]
        mine = [self._order_json(o) for o in self.orders.values() if o.account == account]
        trades = [t for t in self.trades if account in (t["ask_account_id"], t["bid_account_id"])][-50:]
        if kind in ("account_orders", "account_all_orders"):
            frame = {"type": f"subscribed/{kind}", "channel": name, "orders": {str(m.market_id): mine}}
            if kind == "account_orders":
                frame.update(account=account, nonce=self._book_nonce)
            return frame
        if kind == "account_all_trades":
            return {"type": "subscribed/account_all_trades", "channel": name, "trades": {str(m.market_id): trades},
                    "total_volume": 0.0, "monthly_volume": 0.0, "weekly_volume": 0.0, "daily_volume": 0.0}
        if kind == "account_all_positions":
            return {"type": "subscribed/account_all_positions", "channel": name,
                    "positions": {str(m.market_id): self._position_json(acct)}}
        return {"type": "subscribed/account_all", "channel": name, "account": account,
                "orders": {str(m.market_id): mine}, "trades": {str(m.market_id): trades},
                "positions": {str(m.market_id): self._position_json(acct)}, "funding_histories": {}, "shares": []}


def run(settings: FakeSettings) -> None:
    """`lighter-bot fake-server`: serve until Ctrl-C."""
    server = FakeLighter(settings)

    async def main() -> None:
        await server.serve_forever()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
