"""The bot's HTTP face: /metrics for Prometheus, /health for deploy checks, /control for operators.

Everything is computed when someone asks, from one `BotStatus` snapshot per request,
so the trading loop pays nothing per tick for being observed. Operator controls
only queue a command into `OperatorCommands`; the loop applies it between ticks,
so this thread never touches trading state. The server binds to 127.0.0.1 by
default because the control endpoints have no authentication: they are for
operators on the box (or behind a tunnel), not for the internet.

Metric names follow two conventions on purpose. Runtime metrics carry the
`lighter_bot_` prefix. Policy telemetry gauges and the `policy_*` / `shadow_*`
family keep the exact names the seed exported, because traders' dashboards and
alerts already query those names.
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.status import BotStatus, OperatorAction, OperatorCommands

log = logging.getLogger("lighter_bot.telemetry")

DEFAULT_PORT = 8000                 # the seed's port; its deploy check curls 127.0.0.1:8000/health
DEFAULT_STALE_AFTER_S = 5.0         # a loop that has not ticked for this long is not trading
DEFAULT_OPERATOR_REASON = "operator via HTTP"
TRADING_STATES = ("active", "reducing", "halted")   # always exported, so a one-hot query never sees gaps
MAX_CONTROL_BODY_BYTES = 4096       # a reason is a sentence; anything bigger is not an operator
REQUEST_TIMEOUT_S = 10.0            # a client that stalls mid-request must not pin a thread forever
SHUTDOWN_POLL_S = 0.1               # how often serve_forever checks for stop(); bounds stop() latency
STOP_JOIN_TIMEOUT_S = 5.0
PORT_RANGE = range(0, 65536)        # 0 asks the OS for an ephemeral port

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
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


def metric_name(raw: str) -> str:
    """`raw` made a legal Prometheus metric name, so one odd name cannot break a whole scrape."""
    name = _INVALID_METRIC_CHARS.sub("_", raw)
    if not name or name[0].isdigit():
        name = "_" + name
    return name



def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value))


def _labelled(family: GaugeMetricFamily | CounterMetricFamily,
              rows: Iterable[tuple[Iterable[str], float]]) -> Metric:
    for labels, value in rows:
        family.add_metric(list(labels), float(value))
    return family


def _runtime_families(s: BotStatus) -> list[Metric]:
    """The fixed metrics: names are ours, so they are exported first and win any collision."""
    feature = s.features.get
    quotes = [(side, quote) for side, quote in (("bid", s.bid), ("ask", s.ask)) if quote is not None]
    states = TRADING_STATES if s.trading_state in TRADING_STATES else (*TRADING_STATES, s.trading_state)
    families: list[Metric] = [
        _labelled(GaugeMetricFamily("policy_set_version", "Hash of the live policy set (always 1)",
                                    labels=["version"]), [([s.policy_version], 1)]),
        _gauge("policy_set_valid", "1 when the policy files on disk are the live set", s.policy_set_valid),
        _counter("policy_reload_total", "Policy set reloads applied", s.policy_reload_total),
        _counter("policy_reload_errors_total", "Policy reloads rejected; the old set kept running",
                 s.policy_reload_errors_total),
        _counter("policy_rule_errors_total", "Rule evaluations that raised", s.policy_rule_errors_total),
        _gauge("shadow_disagreement_ratio", "Share of ticks where shadow and live effects differ",
               s.shadow_disagreement_ratio),
        _counter("shadow_disagreements_total", "Ticks where shadow and live effects differed",
                 s.shadow_disagreements_total),
        _labelled(GaugeMetricFamily("lighter_bot_trading_state", "1 on the current trading state",
                                    labels=["state"]),
                  [([state], state == s.trading_state) for state in states]),
        _labelled(GaugeMetricFamily("lighter_bot_quote_price", "Resting quote price", labels=["side"]),
                  [([side], quote.price) for side, quote in quotes]),
        _labelled(GaugeMetricFamily("lighter_bot_quote_size", "Resting quote size, base units",
                                    labels=["side"]),
                  [([side], quote.size) for side, quote in quotes]),
        _gauge("lighter_bot_inventory_units", "Signed position, base units", feature("inventory_units", 0.0)),
        _gauge("lighter_bot_inventory_notional", "Position marked at mid, quote currency",
               feature("inventory_notional", 0.0)),
        _gauge("lighter_bot_mid", "Mid price", feature("mid", 0.0)),
        # A gauge despite the suffix: realized PnL goes down as well as up.
        _gauge("lighter_bot_realized_pnl_total", "FIFO realized PnL, quote currency",
               feature("realized_pnl_total", 0.0)),
        _gauge("maker_fifo_realized_quote", "FIFO realized maker PnL, quote currency (the seed's name)",
               feature("realized_pnl_total", 0.0)),
        _labelled(GaugeMetricFamily("lighter_bot_feature", "Every feature policies can read",
                                    labels=["name"]),
                  [([name], value) for name, value in sorted(s.features.items())]),
        _counter("lighter_bot_ticks_total", "Ticks evaluated", s.ticks_total),
        _counter("lighter_bot_fills_total", "Fills received", s.fills_total),
        _counter("lighter_bot_orders_placed_total", "Orders placed", s.orders_placed_total),
        _counter("lighter_bot_orders_canceled_total", "Orders canceled", s.orders_canceled_total),
        _counter("lighter_bot_orders_rejected_total", "Orders the venue rejected", s.orders_rejected_total),
        _labelled(CounterMetricFamily("lighter_bot_intents_denied_total", "Intents the risk gate denied",
                                      labels=["reason"]),
                  [([reason], count) for reason, count in sorted(s.intents_denied_total.items())]),
        _gauge("lighter_bot_tick_seconds_last", "Duration of the last tick, seconds", s.tick_seconds_last),
        # Prometheus cannot see a frozen loop from frozen values; this lets an alert compute the age.
        _gauge("lighter_bot_last_tick_timestamp_seconds", "Wall-clock time of the last tick, epoch seconds",
               s.wall_ts),
        _gauge("lighter_bot_venue_healthy", "1 when the venue connection is healthy", s.venue_healthy),
        _labelled(GaugeMetricFamily("lighter_bot_rule_firing", "1 for each firing rule (policy.rule)",
                                    labels=["rule"]),
                  [([rule], 1) for rule in sorted(set(s.firing_rules))]),
        _labelled(GaugeMetricFamily("lighter_bot_state", "Current state of each policy state machine",
                                    labels=["machine", "state"]),
                  [([machine, state], 1) for machine, state in sorted(s.states.items())]),
    ]
    if s.shadow_version is not None:
        families.append(_labelled(
            GaugeMetricFamily("shadow_policy_set_info", "Hash of the shadow policy set (always 1)",
                              labels=["version"]), [([s.shadow_version], 1)]))
    return families


def _exposed_names(family: Metric) -> tuple[str, ...]:
    """Every name a family occupies in the text format (a counter `x` is exposed as `x_total`)."""
    return (family.name, family.name + "_total") if family.type == "counter" else (family.name,)


class _StatusCollector(Collector):
    """Turns one fresh `BotStatus` into metric families per scrape; no state of its own.

    Policy gauge names come from YAML, so one may collide with a fixed name or with
    another after sanitizing. Two families with one name are invalid exposition and
    Prometheus would drop the whole scrape, so the first wins and the rest are
    logged once each.
    """

    def __init__(self, status: Callable[[], BotStatus | None]) -> None:
        self._status = status
        self._reported_collisions: set[str] = set()

    def collect(self) -> Iterator[Metric]:
        snapshot = self._status()
        if snapshot is None:        # before the first tick there is nothing true to say
            return iter(())
        families = _runtime_families(snapshot)
        taken = {name for family in families for name in _exposed_names(family)}
        dynamic = [("", name, value, "Policy telemetry gauge") for name, value in snapshot.gauges.items()]
        dynamic += [("shadow_", name, value, "Shadow policy telemetry gauge")
                    for name, value in snapshot.shadow_gauges.items()]
        for prefix, raw, value, doc in dynamic:
            name = metric_name(prefix + raw)
            if name in taken:
                self._report_collision(prefix + raw, name)
                continue
            taken.add(name)
            families.append(_gauge(name, doc, value))
        return iter(families)

    def _report_collision(self, raw: str, name: str) -> None:
        if raw not in self._reported_collisions:
            self._reported_collisions.add(raw)
            log.warning("telemetry gauge %r is exported as %r, which is already taken; dropped", raw, name)



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
        self._registry.register(_StatusCollector(status))
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
