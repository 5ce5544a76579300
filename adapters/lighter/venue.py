"""The live Lighter venue: `runtime.ports.Venue` over Lighter's REST API and WebSocket stream.

Threads: the adapter runs its own asyncio loop on one I/O thread (the stream, the send task,
reconciliation) and signs on the signer's own thread (reference §6.5). The port's calls cross
over without blocking: `submit` hands a batch to the send task, `drain` takes what the I/O
thread has buffered, and `wake` is called on the driver's loop when something urgent arrived
(our fill, our order's end, a disconnect, a gap). So the same adapter runs under the live
driver and under a synchronous test harness.

Order lifecycle (the port's contract, shaped after Lighter): a send the API accepted
(sendTx 200, body code 200) is OrderAccepted, never "open"; the account stream's `open` makes it
OrderOpen, its `canceled-*` statuses OrderCanceled with Lighter's reason, and our fills come
from the account trade stream (each once per trade_id; `seq` is the trade id, which Lighter
numbers in the order it applies them). Refusals map by code (§10): 21104 re-fetches the nonce
and re-signs; any other 4xx, or a 200 whose body code is not 200, is OrderRejected /
CancelRejected / ModifyRejected; a 429, a 5xx or a timeout is OutcomeUnknown and the nonce is
re-fetched before the next send. Snapshots (RequestSnapshot, and every (re)connect) read the
open orders, the position and our newest trade id, twice-checked so `as_of_seq` is exact.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

from adapters.lighter import messages as wire
from adapters.lighter.book import BookResult, OrderBook
from adapters.lighter.budget import RequestBudget
from adapters.lighter.config import LighterConfig, LighterSecrets, MissingSecret
from adapters.lighter.nonces import NonceCounter
from adapters.lighter.signer import (CANCEL_ALL_IMMEDIATE, TIF_GTT, TIF_IOC, TIF_POST_ONLY, TX_CANCEL_ALL,
                                     TX_CANCEL_ORDER, TX_CREATE_ORDER, TX_MODIFY_ORDER, SignedTx, SignError, Signer,
                                     SignerUnavailable)
from adapters.lighter.transport import Backoff, OutcomeInDoubt, Refused, Rest, open_stream
from runtime.events import (BookTop, BudgetUpdate, CancelRejected, Event, Fill, MarketTrade, ModifyRejected,
                            OpenOrderReport, OrderAccepted, OrderCanceled, OrderModified, OrderOpen, OrderRejected,
                            OrdersSnapshot, OutcomeUnknown, PositionSnapshot, VenueStatus)
from runtime.intents import CancelAll, CancelOrder, Intent, ModifyOrder, PlaceOrder, RequestSnapshot
from runtime.market import MarketSpec
from runtime.ports import AuthError, RateLimited, VenueDisconnected, VenueError

log = logging.getLogger("lighter_bot.lighter")

CODE_INVALID_AMOUNT = 21706
CODE_INVALID_TX = 21501
CODE_ORDER_NOT_LIVE = 21600
NONCE_RETRIES = 2
SNAPSHOT_ATTEMPTS = 3


class VenueConfigError(VenueError):
    """The venue cannot start as configured (missing secret or extra, wrong market); the message says why."""


@dataclass
class _Ours:
    """What the adapter knows of one of our orders."""

    client_id: int
    side: str
    price_ticks: int = 0
    remaining_lots: int = 0
    order_index: int | None = None
    accepted: bool = False        # OrderAccepted emitted
    open: bool = False            # OrderOpen emitted
    modify_pending: bool = False
    version: int = 0              # Lighter's order_version as last seen (a modify bumps it)
    cancel_requested: bool = False
    tx_hash: str = ""


@dataclass
class _Tx:
    """One intent turned into a transaction of a batch."""

    intent: Intent
    tx_type: int
    client_id: int
    signed: SignedTx | None = None
    extra: dict = field(default_factory=dict)


class LighterVenue:
    """Trades one Lighter market with one (account, API key)."""

    supports_modify = True
    can_simulate = False
    poll_interval_s: float | None = None          # pushes: calls the waker

    def __init__(self, market: MarketSpec, config: LighterConfig, secrets: LighterSecrets | None = None,
                 signer: Signer | None = None) -> None:
        self.market = market                       # replaced by the exchange's at start()
        self.config = config
        if secrets is None:
            try:
                secrets = LighterSecrets.from_env(config)
            except MissingSecret as exc:
                raise VenueConfigError(f"lighter venue: {exc}") from None
        self.secrets = secrets
        if signer is None:
            try:
                signer = Signer(secrets.private_key, secrets.account_index, secrets.api_key_index, config.chain_id,
                                config.signer_library)
            except (SignerUnavailable, SignError) as exc:
                raise VenueConfigError(f"lighter venue: {exc}") from None
        self._signer = signer
        self.account = secrets.account_index
        self._events: deque[Event] = deque()
        self._wake: Callable[[], None] | None = None
        self._wake_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = False
        self._stopped = False
        budget = config.budget
        self.budget = RequestBudget(budget.requests_per_window, budget.window_s, budget.reserve_for_reads,
                                    budget.guard_s)
        self.nonces = NonceCounter()
        self.book = OrderBook(market.price_decimals, market.size_decimals)
        self._ours: dict[int, _Ours] = {}
        self._seen_trades: set[int] = set()
        self._trade_baseline: int | None = None   # trade ids up to this are from before we started
        self._touch = None
        self._connected = False
        self._status: tuple[bool, bool] | None = None
        self._budget_reported = -1
        self._sends: asyncio.Queue | None = None
        self._token = ""
        self._token_deadline = 0.0
        self._rest: Rest | None = None
        self._ws = None
        self._last_book_ts = 0.0
        self.reconnects_total = 0
        self.sends_total = 0
        self._tasks: list[asyncio.Task] = []
        self._first_account = threading.Event()
        self._stable = False                       # the current connection is reconciled
        self._pong_due: float | None = None

    # -- the Venue port ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        started: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._io_thread, args=(started,), name="lighter-io", daemon=True)
        self._thread.start()
        ready = asyncio.wrap_future(started)
        try:
            await asyncio.wait_for(ready, self.config.start_timeout_s)
        except asyncio.TimeoutError:
            await self.stop()
            raise VenueDisconnected(f"lighter venue: not ready within {self.config.start_timeout_s:g}s") from None
        except VenueError:
            await self.stop()
            raise

    def set_waker(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        try:
            self._wake_loop = asyncio.get_running_loop()
        except RuntimeError:
            self._wake_loop = None

    def drain(self, now: float) -> list[Event]:
        if not self._started:
            raise VenueDisconnected("lighter venue: drain() before start()")
        out = []
        events = self._events
        while events:
            out.append(events.popleft())
        return out

    def submit(self, intents: Sequence[Intent], now: float) -> None:
        if not self._started or self._stopped or self._loop is None:
            raise VenueDisconnected("lighter venue: submit() while not running")
        batch = [i for i in intents if not isinstance(i, RequestSnapshot)]
        for intent in intents:
            if isinstance(intent, RequestSnapshot):
                # Reads never wait behind a send in doubt (a hung sendTx is exactly when one is needed).
                asyncio.run_coroutine_threadsafe(self._snapshot_quietly(intent.reason), self._loop)
        if batch:
            self._loop.call_soon_threadsafe(self._sends.put_nowait, batch)

    async def stop(self) -> None:
        """Cancel every order of ours, confirm on the exchange, then disconnect."""
        if self._stopped or self._loop is None:
            self._stopped = True
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self.config.shutdown_timeout_s + 5.0)
        except (asyncio.TimeoutError, VenueError) as exc:
            log.warning("lighter venue: shutdown incomplete: %s", exc)
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)
        self._signer.close()

    # -- helpers for tests and the end-of-run check ----------------------------------------------------

    def open_orders(self) -> dict[int, float]:
        scale = 10**self.market.size_decimals
        return {o.client_id: o.remaining_lots / scale for o in list(self._ours.values()) if o.open}

    # -- the I/O thread ------------------------------------------------------------------------------

    def _io_thread(self, started) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._sends = asyncio.Queue()

        async def boot():
            try:
                await self._boot()
            except BaseException as exc:   # handed to start(), which raises it in the caller
                if not started.done():
                    started.set_exception(exc if isinstance(exc, VenueError) else
                                          VenueDisconnected(f"lighter venue: {type(exc).__name__}: {exc}"))
                return
            if not started.done():
                started.set_result(None)
        loop.create_task(boot())
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _boot(self) -> None:
        cfg = self.config
        self._rest = Rest(cfg.base_url, cfg.request_timeout_s, cfg.connect_timeout_s)
        await self._load_market()
        await self._fetch_nonce()
        self._tasks = [asyncio.create_task(self._stream_task()), asyncio.create_task(self._send_task())]
        deadline = time.monotonic() + cfg.start_timeout_s
        while not self._first_account.is_set():
            if time.monotonic() > deadline:
                raise VenueDisconnected("lighter venue: no account snapshot")
            await asyncio.sleep(0.02)

    async def _read(self, path: str, params: dict | None = None, auth: bool = False,
                    max_wait_s: float = float("inf")) -> dict:
        """A REST read through the budget (waits up to `max_wait_s` for room; reads are idempotent)."""
        give_up = time.monotonic() + max_wait_s
        while True:
            wait = self.budget.read_wait_s(time.time())
            if wait <= 0:
                break
            if time.monotonic() + wait > give_up:
                raise RateLimited(f"{path}: no request budget left within {max_wait_s:.1f}s")
            await asyncio.sleep(min(wait, 1.0))
        self.budget.spend_read(time.time())
        self._report_budget()
        # A read-only bearer token (LIGHTER_API_BEARER), when given, serves reads; else our own.
        token = (self.secrets.bearer or await self._auth_token()) if auth else ""
        return await self._rest.get(path, params, auth=token)

    async def _load_market(self) -> None:
        cfg = self.config
        body = await self._read("/api/v1/orderBookDetails", {"market_id": cfg.market_id})
        details = wire.parse_response(wire.OrderBookDetails, body)
        found = [d for d in details.order_book_details if d.market_id == cfg.market_id]
        if not found:
            raise VenueConfigError(f"lighter venue: market {cfg.market_id} not listed by {cfg.base_url}")
        d = found[0]
        if cfg.expect_symbol and d.symbol != cfg.expect_symbol:
            raise VenueConfigError(f"lighter venue: market {cfg.market_id} is {d.symbol}, expected {cfg.expect_symbol}")
        if (d.size_decimals, d.price_decimals) != (d.supported_size_decimals, d.supported_price_decimals):
            # One of the two conventions would sign wrong amounts (reference §5.1, §12).
            raise VenueConfigError(f"lighter venue: market {d.symbol} decimals {d.size_decimals}/{d.price_decimals} "
                                   f"differ from supported {d.supported_size_decimals}/{d.supported_price_decimals}")
        if d.status != "active":
            raise VenueConfigError(f"lighter venue: market {d.symbol} is {d.status}")
        self.market = MarketSpec(market_id=d.market_id, symbol=d.symbol, price_decimals=d.price_decimals,
                                 size_decimals=d.size_decimals, min_base_units=float(Decimal(d.min_base_amount)),
                                 min_quote=float(Decimal(d.min_quote_amount)))
        self.book = OrderBook(d.price_decimals, d.size_decimals)
        self._min_base_lots = wire.units(d.min_base_amount, d.size_decimals)
        self._min_quote_units = wire.units(d.min_quote_amount, d.size_decimals + d.price_decimals)
        log.info("lighter venue: market %d %s, price/size decimals %d/%d, min %s base / %s quote",
                 d.market_id, d.symbol, d.price_decimals, d.size_decimals, d.min_base_amount, d.min_quote_amount)

    async def _fetch_nonce(self) -> None:
        body = await self._read("/api/v1/nextNonce", {"account_index": self.account,
                                                      "api_key_index": self.secrets.api_key_index})
        self.nonces.reset(wire.parse_response(wire.NextNonce, body).nonce)

    async def _auth_token(self) -> str:
        cfg = self.config
        now = time.time()
        if self._token and now < self._token_deadline - cfg.auth_refresh_before_s:
            return self._token
        seeded = self.secrets.ws_token
        if seeded and not self._token:
            try:
                deadline = float(seeded.split(":", 1)[0])
            except ValueError:
                deadline = 0.0
            if deadline - cfg.auth_refresh_before_s > now:
                self._token, self._token_deadline = seeded, deadline
                return seeded
        deadline = int(now + cfg.auth_token_ttl_s)
        loop = asyncio.get_running_loop()
        self._token = await loop.run_in_executor(self._signer.executor, self._signer.auth_token, deadline)
        self._token_deadline = deadline
        return self._token

    # -- events out -----------------------------------------------------------------------------------

    def _emit(self, event: Event, urgent: bool = False) -> None:
        self._events.append(event)
        if urgent and self._wake is not None and self._wake_loop is not None:
            try:
                self._wake_loop.call_soon_threadsafe(self._wake)
            except RuntimeError:      # the driver's loop has closed
                pass

    def _set_status(self, connected: bool, synced: bool, reason: str) -> None:
        if self._status == (connected, synced):
            return
        self._status = (connected, synced)
        log.info("lighter venue: connected=%s book_synced=%s (%s)", connected, synced, reason)
        self._emit(VenueStatus(time.time(), connected, synced, reason), urgent=True)

    def _report_budget(self) -> None:
        now = time.time()
        used = self.budget.used(now)
        if used != self._budget_reported:
            self._budget_reported = used
            self._emit(BudgetUpdate(now, used, self.budget.limit, self.budget.window_s))

    # -- the stream -----------------------------------------------------------------------------------

    def _channels(self) -> list[tuple[str, bool]]:
        m, a = self.market.market_id, self.account
        return [(f"order_book/{m}", False), (f"trade/{m}", False), (f"account_orders/{m}/{a}", True),
                (f"account_all_trades/{a}", True), (f"account_all_positions/{a}", True)]

    async def _stream_task(self) -> None:
        cfg = self.config
        backoff = Backoff(cfg.reconnect_min_s, cfg.reconnect_max_s)
        while True:
            try:
                await self._run_stream()
            except (VenueError, OSError, asyncio.TimeoutError, wire.WireError) as exc:
                log.warning("lighter venue: stream lost: %s", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:      # websockets' ConnectionClosed and friends: reconnect
                log.warning("lighter venue: stream closed: %s: %s", type(exc).__name__, exc)
            self._connected = False
            self.book.desync()
            self._touch = None
            self._set_status(False, False, "stream disconnected")
            if self._stopped:
                return
            if self._stable:
                backoff.reset()       # the last connection worked: start the backoff over
            await asyncio.sleep(backoff.next_delay())
            self.reconnects_total += 1

    async def _run_stream(self) -> None:
        cfg = self.config
        ws = await open_stream(cfg.stream_url(), cfg.connect_timeout_s)
        self._ws = ws
        self._stable = False
        try:
            hello = wire.parse_frame(await asyncio.wait_for(ws.recv(), cfg.connect_timeout_s))
            if not isinstance(hello, wire.Connected):
                raise VenueDisconnected(f"expected a 'connected' frame, got {type(hello).__name__}")
            token = await self._auth_token()
            for channel, auth in self._channels():
                frame = {"type": "subscribe", "channel": channel}
                if auth:
                    frame["auth"] = token
                await ws.send(json.dumps(frame))
            self._connected = True
            self._last_book_ts = time.monotonic()
            self._pong_due = None
            keepalive = asyncio.create_task(self._keepalive(ws))
            reconcile = asyncio.create_task(self._reconcile_after_connect())
            try:
                while True:
                    text = await asyncio.wait_for(ws.recv(), cfg.book_stale_s)
                    await self._on_frame(ws, text)
            finally:
                keepalive.cancel()
                reconcile.cancel()
        finally:
            self._ws = None
            await ws.close()

    async def _keepalive(self, ws) -> None:
        """Our pings (the server closes sockets silent for 2 min), a pong deadline, and the book's liveness."""
        cfg = self.config
        next_ping = time.monotonic() + cfg.ping_interval_s
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if self._pong_due is not None and now > self._pong_due:
                await ws.close(code=1008, reason="no pong from the server")
                return
            if now >= next_ping:
                next_ping = now + cfg.ping_interval_s
                self._pong_due = now + min(cfg.ping_interval_s, 10.0)
                await ws.send('{"type":"ping"}')
            silent_s = now - self._last_book_ts
            if silent_s > cfg.channel_silent_s:
                log.warning("lighter venue: order book silent for %.0fs: the connection is dead", silent_s)
                await ws.close(code=1000, reason="silent subscription")
                return
            if silent_s > cfg.book_stale_s and self.book.synced:
                self.book.desync()
                self._set_status(True, False, f"order book stale for {silent_s:.1f}s")
                await self._resubscribe_book(ws)
            self._report_budget()

    async def _resubscribe_book(self, ws) -> None:
        channel = f"order_book/{self.market.market_id}"
        await ws.send(json.dumps({"type": "unsubscribe", "channel": channel}))
        await ws.send(json.dumps({"type": "subscribe", "channel": channel}))

    async def _reconcile_after_connect(self) -> None:
        """Every (re)connect: the account's truth by REST once the streams are subscribed."""
        await asyncio.sleep(0.05)
        while True:
            try:
                await self._snapshot("connected")
                break
            except (VenueError, wire.WireError) as exc:
                log.warning("lighter venue: reconciliation failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
        self._first_account.set()
        self._stable = True
        if self.book.synced:
            self._set_status(True, True, "connected and reconciled")

    async def _on_frame(self, ws, text) -> None:
        frame = wire.parse_frame(text)
        if frame is None:
            return
        if isinstance(frame, wire.OrderBookFrame):
            self._on_book(ws, frame)
        elif isinstance(frame, wire.TradeFrame):
            if not frame.type.startswith("subscribed/"):       # the snapshot's prints are history
                for trade in frame.trades:
                    self._emit(MarketTrade(time.time(), float(trade.price), float(trade.size),
                                           "buy" if trade.is_maker_ask else "sell"))
        elif isinstance(frame, wire.AccountOrdersFrame):
            for orders in frame.orders.values():
                for order in orders:
                    if order.market_index == self.market.market_id:
                        self._on_order(order)
        elif isinstance(frame, wire.AccountTradesFrame):
            self._on_account_trades(frame)
        elif isinstance(frame, wire.Control):
            if frame.type == "ping":
                await ws.send('{"type":"pong"}')
            elif frame.type == "pong":
                self._pong_due = None
            elif frame.type == "shutdown":
                log.info("lighter venue: server shutdown in %s ms: reconnecting", frame.close_in_ms)
                raise VenueDisconnected("server sent shutdown")
            elif frame.type == "error":
                log.warning("lighter venue: stream error %s %s", frame.code, frame.message)
                if frame.code in (20013, 20001):
                    self._token = ""
                    raise AuthError(f"stream refused our auth token: {frame.code}")

    def _on_book(self, ws, frame: wire.OrderBookFrame) -> None:
        result = self.book.apply(frame)
        if result is BookResult.IGNORED:
            return
        self._last_book_ts = time.monotonic()
        if result in (BookResult.GAP, BookResult.CROSSED):
            log.warning("lighter venue: order book %s at offset %d: resubscribing", result.value, frame.offset)
            self._set_status(self._connected, False, f"order book {result.value}")
            asyncio.ensure_future(self._resubscribe_book(ws))
            return
        if frame.is_snapshot and self._first_account.is_set():
            self._set_status(True, True, "order book resynced")
        touch = self.book.touch()
        if touch is not None and touch != self._touch:
            self._touch = touch
            p, s = 10**self.market.price_decimals, 10**self.market.size_decimals
            # Not urgent: the touch moves every few ms and the loop reads it every tick.
            self._emit(BookTop(time.time(), touch.bid_ticks / p, touch.bid_lots / s, touch.ask_ticks / p,
                               touch.ask_lots / s))

    def _on_order(self, order: wire.Order) -> None:
        cid = order.client_order_index
        m = self.market
        ours = self._ours.get(cid)
        if ours is None:
            ours = self._ours[cid] = _Ours(cid, "sell" if order.is_ask else "buy")
        price_ticks = wire.units(order.price, m.price_decimals)
        remaining = wire.units(order.remaining_base_amount, m.size_decimals)
        ours.order_index = order.order_index
        version_before = ours.version
        ours.version = max(ours.version, order.order_version or 0)
        now = time.time()
        p, s = 10**m.price_decimals, 10**m.size_decimals
        if not ours.accepted:
            ours.accepted = True
            self._emit(OrderAccepted(now, cid, ours.tx_hash or str(order.order_index)))
        if order.status in ("open", "pending", "in-progress"):
            if not ours.open:
                ours.open = True
                ours.price_ticks, ours.remaining_lots = price_ticks, remaining
                self._emit(OrderOpen(now, cid, ours.side, price_ticks / p, remaining / s, str(order.order_index)),
                           urgent=True)
            elif ours.modify_pending and (ours.version > version_before or (
                    order.order_version is None and price_ticks != ours.price_ticks)):
                # Lighter bumps order_version on each modify; a fill's update keeps it.
                ours.modify_pending = False
                ours.price_ticks, ours.remaining_lots = price_ticks, remaining
                self._emit(OrderModified(now, cid, price_ticks / p, remaining / s), urgent=True)
            else:
                ours.price_ticks, ours.remaining_lots = price_ticks, remaining
            return
        self._ours.pop(cid, None)
        if order.status == "filled":
            return                        # its fills are its end
        reason = "requested" if order.status == "canceled" and ours.cancel_requested else order.status
        filled = wire.units(order.filled_base_amount, m.size_decimals) / s
        self._emit(OrderCanceled(now, cid, reason, filled), urgent=True)

    def _on_account_trades(self, frame: wire.AccountTradesFrame) -> None:
        trades = sorted(frame.all_trades(), key=lambda t: t.trade_id)
        if frame.type.startswith("subscribed/"):
            if self._trade_baseline is None:
                # History from before this process: the position snapshot already holds it.
                self._trade_baseline = max((t.trade_id for t in trades), default=0)
                return
            trades = [t for t in trades if t.trade_id > self._trade_baseline]   # missed while disconnected
        m = self.market
        for trade in trades:
            if trade.market_id != m.market_id:
                continue
            we_sell = trade.ask_account_id == self.account
            we_buy = trade.bid_account_id == self.account
            for side in (("sell",) if we_sell else ()) + (("buy",) if we_buy else ()):
                cid = trade.ask_client_id if side == "sell" else trade.bid_client_id
                maker = trade.is_maker_ask == (side == "sell")
                rate = (trade.maker_fee if maker else trade.taker_fee) or 0
                price, size = float(trade.price), float(trade.size)
                self._emit(Fill(time.time(), cid, side, price, size, "maker" if maker else "taker",
                                fee=price * size * rate / 1e6, trade_id=str(trade.trade_id), seq=trade.trade_id),
                           urgent=True)

    # -- snapshots ------------------------------------------------------------------------------------

    async def _snapshot(self, reason: str) -> None:
        """OrdersSnapshot + PositionSnapshot, complete up to our newest trade id (read before and after)."""
        m, a = self.market, self.account
        trades_query = {"account_index": a, "market_id": m.market_id, "sort_by": "trade_id", "sort_dir": "desc",
                        "limit": 1}
        for _ in range(SNAPSHOT_ATTEMPTS):
            ts = time.time()
            before = wire.parse_response(wire.TradesResponse, await self._read("/api/v1/trades", trades_query, True))
            orders = wire.parse_response(wire.OrdersResponse, await self._read(
                "/api/v1/accountActiveOrders", {"account_index": a, "market_id": m.market_id}, True))
            accounts = wire.parse_response(wire.Accounts, await self._read(
                "/api/v1/account", {"by": "index", "value": a}))
            after = wire.parse_response(wire.TradesResponse, await self._read("/api/v1/trades", trades_query, True))
            newest = [t.trade_id for t in before.trades[:1]], [t.trade_id for t in after.trades[:1]]
            if newest[0] == newest[1]:
                break
        else:
            log.warning("lighter venue: the account kept trading during %d snapshot attempts", SNAPSHOT_ATTEMPTS)
        as_of = newest[1][0] if newest[1] else 0
        p, s = 10**m.price_decimals, 10**m.size_decimals
        reports = []
        for order in orders.orders:
            if order.market_index != m.market_id:
                continue
            cid = order.client_order_index
            ours = self._ours.get(cid) or _Ours(cid, "sell" if order.is_ask else "buy")
            ours.order_index = order.order_index
            ours.price_ticks = wire.units(order.price, m.price_decimals)
            ours.remaining_lots = wire.units(order.remaining_base_amount, m.size_decimals)
            ours.accepted = ours.open = True
            ours.version = max(ours.version, order.order_version or 0)
            self._ours[cid] = ours
            reports.append(OpenOrderReport(cid, ours.side, ours.price_ticks / p, ours.remaining_lots / s,
                                           str(order.order_index)))
        listed = {r.client_id for r in reports}
        for cid, ours in list(self._ours.items()):
            if ours.open and cid not in listed:
                del self._ours[cid]       # gone while we were not looking; the snapshot says so
        units, entry, collateral = 0.0, 0.0, None
        account = accounts.accounts[0] if accounts.accounts else None
        if account is not None:
            collateral = float(account.collateral)
            for pos in account.positions:
                if pos.market_id == m.market_id:
                    units = pos.sign * float(pos.position)
                    entry = float(pos.avg_entry_price)
        if self._trade_baseline is None:
            self._trade_baseline = as_of
        log.info("lighter venue: snapshot (%s): %d open orders, position %+g, as of trade %d", reason, len(reports),
                 units, as_of)
        self._emit(OrdersSnapshot(ts, tuple(reports), as_of))
        self._emit(PositionSnapshot(ts, units, entry, collateral, as_of), urgent=True)

    # -- sending ----------------------------------------------------------------------------------------

    async def _send_task(self) -> None:
        while True:
            batch = await self._sends.get()
            try:
                await self._send_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:       # a bug here must not silently stop all sending: report it loudly
                log.exception("lighter venue: sending a batch failed")
                for intent in batch:
                    self._unknown(intent, f"adapter error: {type(exc).__name__}")

    async def _send_batch(self, batch: list[Intent]) -> None:
        txs: list[_Tx] = []
        for intent in batch:
            tx = self._to_tx(intent)
            if tx is not None:
                txs.append(tx)
        if not txs:
            return
        if self.config.dry_run:
            for tx in txs:
                log.info("dry run: not sending %s", tx.intent)
                if isinstance(tx.intent, PlaceOrder):
                    self._emit(OrderRejected(time.time(), tx.client_id, 0, "dry run: not sent"))
            return
        await self._send_txs(txs, allow_split=True)

    async def _snapshot_quietly(self, reason: str) -> None:
        try:
            await self._snapshot(reason)
        except (VenueError, wire.WireError) as exc:
            log.warning("lighter venue: snapshot failed: %s", exc)

    def _to_tx(self, intent: Intent) -> _Tx | None:
        m = self.market
        if isinstance(intent, PlaceOrder):
            lots, ticks = _exact(intent.size, m.size_decimals), _exact(intent.price, m.price_decimals)
            if lots is None or ticks is None or lots < self._min_base_lots or lots * ticks < self._min_quote_units:
                # Lighter refuses these with 21706 before the book; asking it would spend a request.
                self._emit(OrderRejected(time.time(), intent.client_id, CODE_INVALID_AMOUNT,
                                         "invalid order base or quote amount"))
                return None
            self._ours[intent.client_id] = _Ours(intent.client_id, intent.side)
            return _Tx(intent, TX_CREATE_ORDER, intent.client_id, extra={"lots": lots, "ticks": ticks})
        if isinstance(intent, ModifyOrder):
            lots, ticks = _exact(intent.size, m.size_decimals), _exact(intent.price, m.price_decimals)
            if lots is None or ticks is None or lots < self._min_base_lots or lots * ticks < self._min_quote_units:
                self._emit(ModifyRejected(time.time(), intent.client_id, CODE_INVALID_AMOUNT,
                                          "invalid order base or quote amount"))
                return None
            return _Tx(intent, TX_MODIFY_ORDER, intent.client_id, extra={"lots": lots, "ticks": ticks})
        if isinstance(intent, CancelOrder):
            return _Tx(intent, TX_CANCEL_ORDER, intent.client_id)
        if isinstance(intent, CancelAll):
            return _Tx(intent, TX_CANCEL_ALL, -1)
        raise TypeError(f"lighter venue: unknown intent {intent!r}")

    def _index(self, client_id: int) -> int:
        """Cancel and modify name the venue's order index when we know it, else our client index (§5.3)."""
        ours = self._ours.get(client_id)
        return ours.order_index if ours is not None and ours.order_index is not None else client_id

    async def _sign(self, txs: list[_Tx]) -> list[_Tx]:
        """Sign `txs` with consecutive nonces; a tx the signer refuses is answered and left out."""
        nonces = self.nonces.take(len(txs))
        loop = asyncio.get_running_loop()
        signer, m = self._signer, self.market
        signed: list[_Tx] = []
        expiry_ms = int((time.time() + self.config.post_only_expiry_s) * 1000)
        for tx in txs:
            intent = tx.intent
            nonce = nonces[len(signed)]
            try:
                if isinstance(intent, PlaceOrder):
                    tif = {"post_only": TIF_POST_ONLY, "ioc": TIF_IOC, "gtc": TIF_GTT}[intent.tif]
                    call = (signer.create_order, m.market_id, intent.client_id, tx.extra["lots"], tx.extra["ticks"],
                            intent.side == "sell", tif, intent.reduce_only, 0 if tif == TIF_IOC else expiry_ms, nonce)
                elif isinstance(intent, ModifyOrder):
                    call = (signer.modify_order, m.market_id, self._index(intent.client_id), tx.extra["lots"],
                            tx.extra["ticks"], nonce)
                elif isinstance(intent, CancelOrder):
                    call = (signer.cancel_order, m.market_id, self._index(intent.client_id), nonce)
                else:
                    # Scoped to our market (attribute 5): never the account's orders on other markets.
                    call = (signer.cancel_all, CANCEL_ALL_IMMEDIATE, 0, nonce, m.market_id)
                tx.signed = await loop.run_in_executor(signer.executor, *call)
                signed.append(tx)
            except SignError as exc:
                self.nonces.give_back(nonces[len(signed):])
                self._refused(tx, Refused(0, CODE_INVALID_TX, f"signer: {exc}"))
                rest = txs[txs.index(tx) + 1:]
                return signed + (await self._sign(rest) if rest else [])
        return signed

    async def _send_txs(self, txs: list[_Tx], allow_split: bool) -> None:
        protective = all(isinstance(tx.intent, (CancelOrder, CancelAll)) for tx in txs)
        for attempt in range(NONCE_RETRIES + 1):
            if not self.budget.try_send(time.time(), protective):
                self._report_budget()
                for tx in txs:
                    self._unknown(tx.intent, "23000 request budget exhausted", rate_limited=True)
                return
            self._report_budget()
            try:
                if self.nonces.stale:
                    await self._fetch_nonce()
                signed = await self._sign(txs)
                if not signed:
                    return
                for tx in signed:
                    if isinstance(tx.intent, PlaceOrder):
                        self._ours[tx.client_id].tx_hash = tx.signed.tx_hash
                    elif isinstance(tx.intent, ModifyOrder) and tx.client_id in self._ours:
                        self._ours[tx.client_id].modify_pending = True
                    elif isinstance(tx.intent, CancelOrder) and tx.client_id in self._ours:
                        self._ours[tx.client_id].cancel_requested = True
                    elif isinstance(tx.intent, CancelAll):
                        for ours in self._ours.values():
                            ours.cancel_requested = True
                self.sends_total += 1
                await self._rest.send_tx([tx.signed.tx_type for tx in signed],
                                         [tx.signed.tx_info for tx in signed])
            except RateLimited as exc:
                self.nonces.invalidate()
                for tx in txs:
                    self._unknown(tx.intent, str(exc), rate_limited=True)
                return
            except (OutcomeInDoubt, VenueDisconnected) as exc:
                self.nonces.invalidate()
                for tx in txs:
                    self._unknown(tx.intent, str(exc))
                return
            except Refused as exc:
                if exc.invalid_nonce and attempt < NONCE_RETRIES:
                    log.warning("lighter venue: invalid nonce: re-fetching and re-signing")
                    self.nonces.invalidate()
                    continue
                self.nonces.give_back([tx.signed.nonce for tx in signed])
                if len(signed) > 1 and allow_split:
                    # Lighter names no culprit in a batch: send one by one to answer each.
                    for tx in signed:
                        await self._send_txs([tx], allow_split=False)
                    return
                for tx in signed:
                    self._refused(tx, exc)
                return
            except (VenueError, wire.WireError) as exc:
                self.nonces.invalidate()
                for tx in txs:
                    self._unknown(tx.intent, str(exc))
                return
            now = time.time()
            for tx in signed:
                if isinstance(tx.intent, PlaceOrder):
                    ours = self._ours.get(tx.client_id)
                    if ours is not None and not ours.accepted:
                        ours.accepted = True
                        self._emit(OrderAccepted(now, tx.client_id, tx.signed.tx_hash))
            return

    def _refused(self, tx: _Tx, exc: Refused) -> None:
        now, intent = time.time(), tx.intent
        if isinstance(intent, PlaceOrder):
            self._ours.pop(intent.client_id, None)
            self._emit(OrderRejected(now, intent.client_id, exc.code, exc.message), urgent=True)
        elif isinstance(intent, ModifyOrder):
            if intent.client_id in self._ours:
                self._ours[intent.client_id].modify_pending = False
            self._emit(ModifyRejected(now, intent.client_id, exc.code, exc.message))
        elif isinstance(intent, CancelOrder):
            self._emit(CancelRejected(now, intent.client_id, exc.code, exc.message))
        else:
            log.warning("lighter venue: cancel-all refused: %s", exc)
            for ours in list(self._ours.values()):
                self._emit(CancelRejected(now, ours.client_id, exc.code, exc.message))

    def _unknown(self, intent: Intent, reason: str, rate_limited: bool = False) -> None:
        now = time.time()
        if isinstance(intent, PlaceOrder):
            self._emit(OutcomeUnknown(now, intent.client_id, "place", reason, rate_limited), urgent=True)
        elif isinstance(intent, ModifyOrder):
            self._emit(OutcomeUnknown(now, intent.client_id, "modify", reason, rate_limited))
        elif isinstance(intent, CancelOrder):
            self._emit(OutcomeUnknown(now, intent.client_id, "cancel", reason, rate_limited))
        elif isinstance(intent, CancelAll):
            for ours in list(self._ours.values()):
                self._emit(OutcomeUnknown(now, ours.client_id, "cancel", reason, rate_limited))

    # -- shutdown -----------------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        """Wait for queued sends, cancel-all if anything of ours may be open, confirm by REST, disconnect."""
        cfg = self.config
        deadline = time.monotonic() + cfg.shutdown_timeout_s
        while not self._sends.empty() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # The driver's own cancel-all is usually on its way: let the account stream confirm it first.
        settle = time.monotonic() + min(1.0, cfg.shutdown_timeout_s / 4)
        while self._connected and any(o.open for o in self._ours.values()) and time.monotonic() < settle:
            await asyncio.sleep(0.02)
        # A venue that never reconciled (start failed) sent nothing: what is on the account is not ours to touch.
        confirmed = cfg.dry_run or not self._first_account.is_set()
        for _ in range(3):
            if confirmed or time.monotonic() > deadline:
                break
            try:
                orders = wire.parse_response(wire.OrdersResponse, await self._read(
                    "/api/v1/accountActiveOrders", {"account_index": self.account,
                                                    "market_id": self.market.market_id}, True,
                    max_wait_s=max(0.0, deadline - time.monotonic())))
            except (VenueError, wire.WireError) as exc:
                log.warning("lighter venue: cannot list open orders at shutdown (%s): cancel-all regardless", exc)
                await self._send_txs([_Tx(CancelAll("shutdown"), TX_CANCEL_ALL, -1)], allow_split=False)
                await asyncio.sleep(0.5)
                continue
            if not orders.orders:
                confirmed = True
                break
            log.info("lighter venue: %d orders open at shutdown: cancel-all", len(orders.orders))
            await self._send_txs([_Tx(CancelAll("shutdown"), TX_CANCEL_ALL, -1)], allow_split=False)
            await asyncio.sleep(0.3)
        if confirmed and self._first_account.is_set():
            log.info("lighter venue: no order of ours left on %s", self.market.symbol)
        else:
            log.error("lighter venue: could not confirm that every order is canceled; check the account")
        await asyncio.sleep(0.05)        # the last account frames
        for task in self._tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._rest is not None:
            await self._rest.close()
        self._set_status(False, False, "venue stopped")


def _exact(value: float, decimals: int) -> int | None:
    """`value` in whole 10^-decimals steps, or None if it is not a whole number of them."""
    steps = value * 10**decimals
    whole = round(steps)
    return whole if abs(steps - whole) <= 1e-6 else None
