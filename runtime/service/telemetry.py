"""The bot's HTTP face: /metrics for Prometheus, /health for deploy checks, /control for operators.

Everything is computed when someone asks, from one `BotStatus` snapshot per request,
so the trading loop pays nothing per tick for being observed. Operator controls
only queue a command into `OperatorCommands`; the loop applies it between ticks,
so this thread never touches trading state. The server binds to 127.0.0.1 by
default because the control endpoints have no authentication: they are for
operators on the box (or behind a tunnel), not for the internet.

What /metrics contains, and how its names are chosen, is runtime/service/metrics.py.
"""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from runtime.service.metrics import StatusCollector
from runtime.service.operator import OperatorCommands
from runtime.status import BotStatus, OperatorAction

log = logging.getLogger("lighter_bot.telemetry")

DEFAULT_PORT = 8000                 # the seed's port; its deploy check curls 127.0.0.1:8000/health
DEFAULT_STALE_AFTER_S = 5.0         # a loop that has not ticked for this long is not trading
DEFAULT_OPERATOR_REASON = "operator via HTTP"
MAX_CONTROL_BODY_BYTES = 4096       # a reason is a sentence; anything bigger is not an operator
REQUEST_TIMEOUT_S = 10.0            # a client that stalls mid-request must not pin a thread forever
SHUTDOWN_POLL_S = 0.1               # how often serve_forever checks for stop(); bounds stop() latency
STOP_JOIN_TIMEOUT_S = 5.0
PORT_RANGE = range(0, 65536)        # 0 asks the OS for an ephemeral port

_ASCII_DIGITS = re.compile(r"[0-9]+")
_CONTROL_ACTIONS: dict[str, OperatorAction] = {
    "/control/halt": "halt",
    "/control/reduce": "reduce",
    "/control/resume": "resume",
}
_GET_PATHS = ("/metrics", "/health")


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
    """(HTTP status, body) for /health: 200 only when a deploy check may trust this bot."""
    if snapshot is None:
        return HTTPStatus.SERVICE_UNAVAILABLE, {
            "status": "starting", "trading_state": None, "policy_version": None,
            "policy_set_valid": None, "venue_healthy": None, "last_tick_age_s": None,
            "ticks_total": 0, "market": None, "venue": None, "problems": ["no tick yet"],
        }
    age_s = now_wall_s - snapshot.wall_ts
    problems = []
    if not age_s < stale_after_s:
        problems.append(f"last tick {age_s:.1f}s ago (stale after {stale_after_s:g}s)")
    if not snapshot.venue_healthy:
        problems.append("venue unhealthy")
    body = {
        "status": "degraded" if problems else "ok",
        "trading_state": snapshot.trading_state,
        "trading_state_reason": snapshot.trading_state_reason,
        "policy_version": snapshot.policy_version,
        "policy_set_valid": snapshot.policy_set_valid,
        "venue_healthy": snapshot.venue_healthy,
        "last_tick_age_s": round(age_s, 3),
        "ticks_total": snapshot.ticks_total,
        "market": snapshot.market,
        "venue": snapshot.venue,
        "problems": problems,
    }
    return (HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK), body


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: object, **headers: str) -> _Response:
        return cls(status, json.dumps(payload).encode() + b"\n", headers=headers)

    @classmethod
    def error(cls, status: int, message: str, **headers: str) -> _Response:
        return cls.json(status, {"error": message}, **headers)


class _ClientError(Exception):
    """A request we refuse before acting on it; carries the response to send."""

    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


class _HttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its TelemetryServer and stays quiet on stderr."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], telemetry: TelemetryServer) -> None:
        self.telemetry = telemetry
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves our own FQDN, a reverse-DNS lookup that can stall
        # start-up for seconds on a box without DNS; we never use the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-response is routine; the default prints a traceback to stderr.
        log.debug("telemetry request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "lighter-bot-telemetry"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            response = self.server.telemetry._respond(method, path, self._read_body)
        except _ClientError as refused:
            response = refused.response
        except Exception as error:
            # Usually status() raising. Answer and keep serving: the next scrape may succeed.
            log.exception("telemetry %s %s failed", method, path)
            response = _Response.error(HTTPStatus.INTERNAL_SERVER_ERROR,
                                       f"internal error: {type(error).__name__}")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not _ASCII_DIGITS.fullmatch(raw_length):
            raise _ClientError(_Response.error(HTTPStatus.BAD_REQUEST, "bad Content-Length"))
        length = int(raw_length)
        if length > MAX_CONTROL_BODY_BYTES:
            raise _ClientError(_Response.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                               f"body over {MAX_CONTROL_BODY_BYTES} bytes"))
        return self.rfile.read(length)


def _operator_reason(body: bytes) -> str:
    """The reason from an optional `{"reason": "..."}` body; anything else malformed is a 400."""
    if not body.strip():
        return DEFAULT_OPERATOR_REASON
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _ClientError(_Response.error(HTTPStatus.BAD_REQUEST, "body must be JSON")) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("reason", ""), str):
        raise _ClientError(_Response.error(HTTPStatus.BAD_REQUEST, 'body must be {"reason": "<text>"}'))
    return payload.get("reason", "").strip() or DEFAULT_OPERATOR_REASON


class TelemetryServer:
    """Serves /metrics, /health and /control/* from a daemon thread until stop().

    `status` is called once per request from server threads and must be safe to call
    from them; returning None means "no tick yet". `commands` None disables the
    control endpoints (they answer 404, as if absent), for read-only deployments.
    """

    def __init__(self, status: Callable[[], BotStatus | None], commands: OperatorCommands | None,
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        if port not in PORT_RANGE:
            raise ValueError(f"port must be 0..65535, got {port}")
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        self._status = status
        self._commands = commands
        self._host = host
        self._port = port
        self._stale_after_s = stale_after_s
        # A private registry: several servers (bots, tests) in one process never clash.
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(StatusCollector(status))
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port once started (resolves port 0), else the configured one."""
        return self._httpd.server_port if self._httpd is not None else self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> TelemetryServer:
        if self._httpd is not None:
            raise RuntimeError(f"telemetry server already running on {self.url}")
        try:
            httpd = _HttpServer((self._host, self._port), self)
        except OSError as error:
            raise OSError(error.errno, f"telemetry server cannot bind {self._host}:{self._port}: "
                                       f"{error.strerror or error}") from error
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                                        name=f"telemetry:{self.port}", daemon=True)
        self._thread.start()
        log.info("telemetry serving on %s (controls %s)", self.url,
                 "enabled" if self._commands is not None else "disabled")
        return self

    def stop(self) -> None:
        """Stop accepting requests and release the port; safe to call twice or before start()."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.server_close()
        thread.join(STOP_JOIN_TIMEOUT_S)
        self._httpd = self._thread = None

    def __enter__(self) -> TelemetryServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _respond(self, method: str, path: str, read_body: Callable[[], bytes]) -> _Response:
        """Route one request; raising means a 500 (the handler turns it into one)."""
        action = _CONTROL_ACTIONS.get(path) if self._commands is not None else None
        if path not in _GET_PATHS and action is None:
            return _Response.error(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
        allowed = ("POST",) if action is not None else ("GET", "HEAD")
        if method not in allowed:
            allow = ", ".join(allowed)
            return _Response.error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} accepts {allow}", Allow=allow)
        if action is not None:
            assert self._commands is not None
            reason = _operator_reason(read_body())
            self._commands.send(action, reason)
            log.warning("operator %s queued via HTTP: %s", action, reason)
            return _Response.json(HTTPStatus.ACCEPTED, {"queued": action})
        if path == "/metrics":
            return _Response(HTTPStatus.OK, generate_latest(self._registry), CONTENT_TYPE_PLAIN_0_0_4)
        status_code, body = health(self._status(), time.time(), self._stale_after_s)
        return _Response.json(status_code, body)
