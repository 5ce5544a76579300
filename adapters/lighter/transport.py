"""HTTP and WebSocket plumbing for the Lighter venue: one async REST client, one stream connection.

REST errors become the port's VenueError hierarchy at this boundary: HTTP 429 (or body code
23000) is RateLimited, a 5xx, a timeout or a dropped connection is `OutcomeInDoubt` (a send
may or may not have happened), a 4xx or a 200 whose body `code` is not 200 is `Refused` with
Lighter's code. Nothing from httpx or websockets leaks past this module.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from runtime.ports import AuthError, RateLimited, VenueDisconnected, VenueError

log = logging.getLogger("lighter_bot.lighter")
# httpx logs every request at INFO: at a request a second that drowns the bot's own status lines.
logging.getLogger("httpx").setLevel(logging.WARNING)

CODE_OK = 200
CODE_TOO_MANY_REQUESTS = 23000
CODE_INVALID_NONCE = 21104
AUTH_CODES = (20001, 20013)


class OutcomeInDoubt(VenueDisconnected):
    """A timeout, a 5xx or a dropped connection: the request may or may not have taken effect."""


class Refused(VenueError):
    """Lighter answered with an error `code` (HTTP 4xx, or a 200 whose body code is not 200)."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(f"HTTP {status}: {code} {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def invalid_nonce(self) -> bool:
        # Old servers answered {"code":400,"message":"invalid nonce"}: match the text too (§2, §15).
        return self.code == CODE_INVALID_NONCE or "invalid nonce" in self.message.lower()


class Rest:
    """Lighter's REST API (`/api/v1/*`) over one pooled httpx client."""

    def __init__(self, base_url: str, timeout_s: float, connect_timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers={"Accept": "application/json"})

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, path: str, params: dict[str, Any] | None = None, auth: str = "") -> dict:
        headers = {"Authorization": auth} if auth else None
        return await self._call("GET", path, params=params, headers=headers)

    async def send_tx(self, tx_types: list[int], tx_infos: list[str]) -> dict:
        """One transaction as sendTx, several as one sendTxBatch (lists double-encoded, §3.9)."""
        if len(tx_types) == 1:
            form = {"tx_type": str(tx_types[0]), "tx_info": tx_infos[0]}
            return await self._call("POST", "/api/v1/sendTx", data=form)
        form = {"tx_types": json.dumps(tx_types), "tx_infos": json.dumps(tx_infos)}
        return await self._call("POST", "/api/v1/sendTxBatch", data=form)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise OutcomeInDoubt(f"{path}: timed out") from exc
        except httpx.HTTPError as exc:
            raise OutcomeInDoubt(f"{path}: {type(exc).__name__}") from exc
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = body.get("code", status)
        message = str(body.get("message", "") or "")
        if status == 429 or code == CODE_TOO_MANY_REQUESTS:
            raise RateLimited(f"{path}: {CODE_TOO_MANY_REQUESTS} too many requests")
        if status >= 500:
            raise OutcomeInDoubt(f"{path}: HTTP {status} {code} {message}")
        if status == 401 or code in AUTH_CODES:
            raise AuthError(f"{path}: {code} {message}")
        if status != 200 or code != CODE_OK:
            raise Refused(status, int(code) if isinstance(code, int) else status, message)
        return body


class Backoff:
    """Jittered exponential backoff between reconnects (full jitter, capped)."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s, self.max_s = min_s, max_s
        self._attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * 2**self._attempt)
        self._attempt += 1
        return self._rng.uniform(self.min_s / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0


async def open_stream(url: str, timeout_s: float) -> ClientConnection:
    """A WebSocket to Lighter's /stream. Keepalive is Lighter's own ping/pong frames (the venue
    answers them); protocol pings are left to the library's defaults being off."""
    try:
        return await websockets.connect(url, open_timeout=timeout_s, ping_interval=None, max_size=16 * 2**20,
                                        close_timeout=2.0)
    except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        raise VenueDisconnected(f"cannot connect to {url}: {type(exc).__name__}: {exc}") from exc
