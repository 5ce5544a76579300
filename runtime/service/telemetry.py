"""The bot's HTTP face: /metrics for Prometheus, /health for deploy checks, /control for operators.

Served by aiohttp on its own event loop in its own thread, so a slow scrape never delays a
tick and a long tick never times out a health check. Every answer is computed from the
latest published `BotStatus` (runtime/service/status_board.py); operator controls only
queue a command into `OperatorCommands`, applied by the trading loop between ticks. This
thread never touches trading state.

Exposure, stated once:
- `/metrics` and `/health` answer on the configured address (`runtime.http.bind`; a platform
  health check such as Railway's needs `0.0.0.0`).
- `/control/halt|reduce|resume` (POST) are refused unless `runtime.http.controls` is on; then
  they are accepted from a loopback peer, or from anywhere with `Authorization: Bearer <token>`
  where the token is in the environment (`runtime.http.control_token_env`, default
  `LIGHTER_BOT_CONTROL_TOKEN`). Without a token in the environment, controls are loopback-only
  whatever the bind address. A control request whose Host is not this server's, or that carries
  a browser's Origin from elsewhere, is refused (a web page in a local browser cannot reach them),
  and so is a body that is not JSON.
- Connections are bounded: at most MAX_CONNECTIONS at once (more get a 503 and are closed),
  each lives at most CONNECTION_MAX_S (a client that trickles its headers is cut off), bodies
  over MAX_CONTROL_BODY_BYTES get a 413, and malformed requests a 400.

What /metrics contains, and how its names are chosen, is runtime/service/metrics.py.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from runtime.service.metrics import StatusCollector
from runtime.service.operator import OperatorCommands
from runtime.status import BotStatus, OperatorAction

log = logging.getLogger("lighter_bot.telemetry")

DEFAULT_PORT = 8000                 # the seed's port; its deploy check curls 127.0.0.1:8000/health
DEFAULT_STALE_AFTER_S = 5.0         # a loop that has not ticked for this long is not trading
DEFAULT_OPERATOR_REASON = "operator via HTTP"
DEFAULT_TOKEN_ENV = "LIGHTER_BOT_CONTROL_TOKEN"
MAX_CONTROL_BODY_BYTES = 4096       # a reason is a sentence; anything bigger is not an operator
MAX_REASON_CHARS = 200
MAX_CONNECTIONS = 512               # an open connection costs a coroutine; bounded all the same
CONNECTION_MAX_S = 15.0             # no request needs longer; a slow or idle client is cut off
LISTEN_BACKLOG = 512
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
PORT_RANGE = range(0, 65536)        # 0 asks the OS for an ephemeral port

_ASCII_DIGITS = re.compile(r"[0-9]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_ACTIONS: dict[str, OperatorAction] = {"halt": "halt", "reduce": "reduce", "resume": "resume"}


def port_from_env(default: int = DEFAULT_PORT) -> int:
    """The port to serve on: `$PORT` when set (Railway sets it), else `default`.

    A malformed PORT fails loudly at start-up rather than quietly serving somewhere
    the platform's health check will never look.
    """
    raw = os.environ.get("PORT")
    if raw is None:
        return default
    text = raw.strip()
    if not _ASCII_DIGITS.fullmatch(text) or int(text) not in PORT_RANGE:
        raise ValueError(f"PORT must be an integer 0..65535, got {raw!r}")
    return int(text)


def health(snapshot: BotStatus | None, now_wall_s: float, stale_after_s: float) -> tuple[int, dict]:
    """(HTTP status, body) for /health: 200 only when a deploy check may trust this bot to trade as
    configured: ticks fresh, venue healthy, the policy files on disk are the live set, reload is
    running and no rule is failing. Otherwise 503 with every failing check named.

    HALTED is not a failure: a bot halted on purpose (kill switch, operator, a policy's halt) is
    doing its job and must not be restarted by a probe, so it answers 200 with
    `"status": "halted"` and the reason; alerting on it is the metrics' job.
    """
    if snapshot is None:
        return HTTPStatus.SERVICE_UNAVAILABLE, {
            "status": "starting", "trading_state": None, "policy_version": None,
            "policy_set_valid": None, "venue_healthy": None, "last_tick_age_s": None,
            "ticks_total": 0, "market": None, "venue": None, "ledger": None, "problems": ["no tick yet"],
        }
    age_s = now_wall_s - snapshot.wall_ts
    problems = []
    if not age_s < stale_after_s:
        problems.append(f"last tick {age_s:.1f}s ago (stale after {stale_after_s:g}s)")
    if not snapshot.venue_healthy:
        problems.append(f"venue unhealthy: {snapshot.venue_reason or 'no reason given'}")
    if not snapshot.policy_set_valid:
        problems.append("the policy files on disk do not compile; the last good set is trading")
    if not snapshot.reload_alive:
        problems.append("policy reload is not running (restarting)")
    if snapshot.rules_failing:
        problems.append(f"rules cannot be evaluated: {', '.join(snapshot.rules_failing)}")
    ledger = snapshot.ledger
    if ledger is not None and ledger.failure:
        problems.append(f"{ledger.failure} ({ledger.backlog} records held in memory; trading reduce-only)")
    status = "degraded" if problems else "halted" if snapshot.trading_state == "halted" else "ok"
    body = {
        "status": status,
        "trading_state": snapshot.trading_state,
        "trading_state_reason": snapshot.trading_state_reason,
        "policy_version": snapshot.policy_version,
        "policy_set_valid": snapshot.policy_set_valid,
        "venue_healthy": snapshot.venue_healthy,
        "last_tick_age_s": round(age_s, 3),
        "last_reload_check_age_s": (round(now_wall_s - snapshot.reload_last_check_wall_ts, 3)
                                    if snapshot.reload_last_check_wall_ts else None),
        "ticks_total": snapshot.ticks_total,
        "market": snapshot.market,
        "venue": snapshot.venue,
        "ledger": None if ledger is None else {"path": ledger.path, "writable": not ledger.failure,
                                                "backlog": ledger.backlog, "written_total": ledger.written_total},
        "problems": problems,
    }
    return (HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK), body


def sanitize(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Text from a request made safe for one log line: control characters (newlines included,
    which would forge log lines) shown as escapes, and cut to `limit` characters."""
    cleaned = _CONTROL_CHARS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers={"Cache-Control": "no-store", **headers})


class _Bounded(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: counts it against MAX_CONNECTIONS and cuts it
    off after CONNECTION_MAX_S, however slowly the client sends."""

    def __init__(self, inner: asyncio.Protocol, server: TelemetryServer):
        self._inner, self._server = inner, server
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        server = self._server
        if server._connections >= MAX_CONNECTIONS:
            server.refused_connections_total += 1
            transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            transport.close()
            self._inner = None
            return
        server._connections += 1
        self._deadline = asyncio.get_running_loop().call_later(server.connection_max_s, transport.abort)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        self._server._connections -= 1
        if self._deadline is not None:
            self._deadline.cancel()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class TelemetryServer:
    """Serves /metrics, /health and /control/* from a daemon thread until stop().

    `status` is called once per request from the server's thread and must be safe to call
    from it (the StatusBoard's `latest`); None means "no tick yet". `commands` None disables
    the control endpoints (they answer 404, as if absent).
    """

    def __init__(self, status: Callable[[], BotStatus | None], commands: OperatorCommands | None,
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT, stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 control_token: str | None = None, connection_max_s: float = CONNECTION_MAX_S) -> None:
        if port not in PORT_RANGE:
            raise ValueError(f"port must be 0..65535, got {port}")
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        self._status = status
        self._commands = commands
        self._host = host
        self._port = port
        self._bound_port: int | None = None
        self._stale_after_s = stale_after_s
        self._token = control_token or None
        # A private registry: several servers (bots, tests) in one process never clash.
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(StatusCollector(status))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._connections = 0
        self.connection_max_s = connection_max_s
        self.refused_connections_total = 0

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port once started (resolves port 0), else the configured one."""
        return self._bound_port if self._bound_port is not None else self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> TelemetryServer:
        if self._thread is not None:
            raise RuntimeError(f"telemetry server already running on {self.url}")
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, args=(started, failure), name="telemetry", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S):
            raise OSError(f"telemetry server did not start within {START_TIMEOUT_S:g}s")
        if failure:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
            error = failure[0]
            if isinstance(error, OSError):
                raise OSError(error.errno, f"telemetry server cannot bind {self._host}:{self._port}: "
                                           f"{error.strerror or error}") from error
            raise error
        controls = "disabled" if self._commands is None else \
            "loopback" + (" or bearer token" if self._token else " only")
        log.info("telemetry serving on %s (controls %s)", self.url, controls)
        return self

    def stop(self) -> None:
        """Stop accepting requests and release the port; safe to call twice or before start()."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and loop.is_running():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT_S)
        self._thread = self._loop = self._stopping = None
        self._bound_port = None

    def __enter__(self) -> TelemetryServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _serve(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(started, failure))
        finally:
            loop.close()

    async def _main(self, started: threading.Event, failure: list[BaseException]) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=MAX_CONTROL_BODY_BYTES)
        app.router.add_route("*", "/metrics", self._metrics)
        app.router.add_route("*", "/health", self._health)
        app.router.add_route("*", "/control/{action}", self._control)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(lambda: _Bounded(runner.server(), self), self._host, self._port,
                                              backlog=LISTEN_BACKLOG, reuse_address=True)
        except BaseException as exc:   # noqa: BLE001 - handed to start() to raise in the caller's thread
            failure.append(exc)
            await runner.cleanup()
            started.set()
            return
        self._bound_port = server.sockets[0].getsockname()[1]
        started.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            await runner.shutdown()
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------------------
    def _snapshot(self) -> BotStatus | None:
        return self._status()

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "/metrics accepts GET, HEAD", Allow="GET, HEAD")
        try:
            body = generate_latest(self._registry)
        except Exception as error:   # noqa: BLE001 - answer and keep serving; the next scrape may succeed
            log.exception("telemetry /metrics failed")
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(error).__name__}")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"})

    async def _health(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, "/health accepts GET, HEAD", Allow="GET, HEAD")
        try:
            status_code, body = health(self._snapshot(), time.time(), self._stale_after_s)
        except Exception as error:   # noqa: BLE001
            log.exception("telemetry /health failed")
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(error).__name__}")
        return web.json_response(body, status=status_code, headers={"Cache-Control": "no-store"})

    async def _control(self, request: web.Request) -> web.StreamResponse:
        action = _CONTROL_ACTIONS.get(request.match_info["action"]) if self._commands is not None else None
        if action is None:
            return _error(HTTPStatus.NOT_FOUND, f"no such endpoint: {request.path}")
        if request.method != "POST":
            return _error(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.path} accepts POST", Allow="POST")
        refusal = self._refuse(request)
        if refusal:
            log.warning("operator %s refused from %s: %s", action, sanitize(request.remote or "?"), refusal)
            return _error(HTTPStatus.FORBIDDEN, refusal)
        body = await request.read()
        try:
            reason = _operator_reason(body, request.content_type)
        except ValueError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        self._commands.send(action, reason)
        log.warning("operator %s queued via HTTP from %s: %s", action, sanitize(request.remote or "?"), reason)
        return web.json_response({"queued": action}, status=HTTPStatus.ACCEPTED, headers={"Cache-Control": "no-store"})

    def _refuse(self, request: web.Request) -> str:
        """Why this control request may not act ("" if it may)."""
        authorization = request.headers.get("Authorization", "")
        token_ok = bool(self._token) and authorization.startswith("Bearer ") and \
            hmac.compare_digest(authorization[len("Bearer "):].encode(), self._token.encode())
        if authorization and not token_ok:
            return "bad bearer token"
        if not token_ok and not _is_loopback(request.remote):
            return ("controls answer loopback only" if not self._token else
                    "controls from off this machine need the bearer token")
        if not token_ok:
            ours = {f"{host}:{self.port}" for host in ("127.0.0.1", "localhost", "[::1]", self._host)}
            if request.headers.get("Host", "") not in ours:
                return "Host is not this server (a forwarded or rebound request)"
        origin = request.headers.get("Origin")
        if origin is not None and origin not in {f"http://{host}" for host in
                                                 (f"127.0.0.1:{self.port}", f"localhost:{self.port}")}:
            return "a browser page from another origin may not use the controls"
        return ""


def _operator_reason(body: bytes, content_type: str) -> str:
    """The reason from an optional `{"reason": "..."}` JSON body; anything else is a ValueError."""
    if not body.strip():
        return DEFAULT_OPERATOR_REASON
    if content_type != "application/json":
        raise ValueError("body must be JSON (Content-Type: application/json)")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("body must be JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("reason", ""), str):
        raise ValueError('body must be {"reason": "<text>"}')
    return sanitize(payload.get("reason", "").strip()) or DEFAULT_OPERATOR_REASON
