"""The HTTP surface as an attacker or a confused client meets it: controls that stay shut, logs that
cannot be forged, connections that cannot be held, malformed requests answered with a 4xx."""
from __future__ import annotations

import logging
import socket
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from runtime.service.operator import OperatorCommands
from runtime.service.telemetry import TelemetryServer, sanitize
from test_telemetry import StatusSource, make_status

TOKEN = "s3cret-token"


@pytest.fixture
def commands() -> OperatorCommands:
    return OperatorCommands()


@pytest.fixture
def server(commands):
    with TelemetryServer(StatusSource(make_status()), commands, port=0, connection_max_s=0.5) as running:
        yield running


def test_a_request_with_a_foreign_host_header_cannot_use_the_controls(server, commands):
    """DNS rebinding: a page served as evil.example that resolves to 127.0.0.1."""
    response = httpx.post(f"{server.url}/control/resume", headers={"Host": f"evil.example:{server.port}"})
    assert response.status_code == 403 and "Host" in response.json()["error"]
    assert commands.drain() == []


def test_a_browser_page_from_another_origin_cannot_use_the_controls(server, commands):
    response = httpx.post(f"{server.url}/control/resume", headers={"Origin": "http://evil.example"},
                          content=b'{"reason": "x"}')
    assert response.status_code == 403
    # The "simple request" a page can send without a CORS preflight: text/plain.
    response = httpx.post(f"{server.url}/control/resume", content=b'{"reason": "x"}',
                          headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert commands.drain() == []


def test_a_newline_in_the_reason_cannot_forge_a_log_line(server, commands, caplog):
    with caplog.at_level(logging.WARNING, logger="lighter_bot.telemetry"):
        response = httpx.post(f"{server.url}/control/halt",
                              json={"reason": "oops\n2026-12-02 INFO lighter_bot: operator resume"})
    assert response.status_code == 202
    [(_, reason)] = commands.drain()
    assert "\n" not in reason and "\\n2026" in reason
    assert all("\n" not in record.getMessage() for record in caplog.records)


def test_sanitize_escapes_controls_and_bounds_length():
    assert sanitize("a\r\nb\x1b[31m") == "a\\r\\nb\\x1b[31m"
    assert len(sanitize("x" * 1000)) == 203


def request(remote: str, headers: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(remote=remote, headers=headers)


def test_controls_off_loopback_need_the_bearer_token(commands):
    local = TelemetryServer(StatusSource(make_status()), commands, port=8000)
    tokened = TelemetryServer(StatusSource(make_status()), commands, host="0.0.0.0", port=8000, control_token=TOKEN)
    host = {"Host": "127.0.0.1:8000"}
    assert local._refuse(request("127.0.0.1", host)) == ""
    assert local._refuse(request("::1", {"Host": "[::1]:8000"})) == ""
    assert "loopback only" in local._refuse(request("10.1.2.3", host))          # no token configured
    assert "bearer token" in tokened._refuse(request("10.1.2.3", host))        # token configured, not sent
    assert tokened._refuse(request("10.1.2.3", {"Host": "bot.internal", "Authorization": f"Bearer {TOKEN}"})) == ""
    assert tokened._refuse(request("10.1.2.3", {"Authorization": "Bearer wrong"})) == "bad bearer token"
    assert local._refuse(request("127.0.0.1", {**host, "Authorization": f"Bearer {TOKEN}"})) == "bad bearer token"


def test_the_bearer_token_works_over_a_real_connection(commands):
    with TelemetryServer(StatusSource(make_status()), commands, port=0, control_token=TOKEN) as running:
        assert httpx.post(f"{running.url}/control/halt", headers={"Authorization": "Bearer nope"}).status_code == 403
        ok = httpx.post(f"{running.url}/control/halt", headers={"Authorization": f"Bearer {TOKEN}",
                                                                "Host": "bot.example"})
        assert ok.status_code == 202
    assert commands.drain() == [("halt", "operator via HTTP")]


def test_a_slow_header_client_is_cut_off_and_others_are_served(server):
    clients = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")        # never finishes its headers
        clients.append(sock)
    assert httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200
    time.sleep(0.8)
    for sock in clients:
        sock.settimeout(2.0)
        assert sock.recv(100) == b""                                    # closed by the server
        sock.close()


def test_a_body_shorter_than_its_length_runs_nothing(server, commands):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /control/halt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"reason\": " % server.port)
        sock.settimeout(2.0)
        assert sock.recv(100) == b""                                    # cut off at the deadline
    assert commands.drain() == []


def test_malformed_requests_get_a_4xx(server, commands):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        sock.settimeout(2.0)
        assert b" 400 Bad Request" in sock.recv(100)
    huge = httpx.post(f"{server.url}/control/halt", json={"reason": "x" * 10_000})
    assert huge.status_code == 413
    chunked = httpx.post(f"{server.url}/control/reduce", content=iter([b'{"reason": ', b'"chunked"}']),
                         headers={"Content-Type": "application/json"})
    assert chunked.status_code == 202                                   # a chunked body is read, not ignored
    assert commands.drain() == [("reduce", "chunked")]


def test_200_concurrent_scrapes_all_succeed(commands):
    results: list[int] = []
    with TelemetryServer(StatusSource(make_status()), commands, port=0) as server:

        def scrape() -> None:
            try:
                results.append(httpx.get(f"{server.url}/metrics", timeout=10.0).status_code)
            except httpx.HTTPError as exc:
                results.append(repr(exc))

        threads = [threading.Thread(target=scrape) for _ in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert results.count(200) == 200, [r for r in results if r != 200][:3]
