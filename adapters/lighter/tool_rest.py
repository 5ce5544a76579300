"""Lighter's REST API for the one-shot commands a trader runs around the bot (scripts/*.py).

Blocking httpx, one request at a time, and every failure a `ToolError` with a sentence a trader
can act on: the scripts print it and exit non-zero, never with a traceback. A rate limit (HTTP
429 or body code 23000) waits for the server's `Retry-After` hint (or a short backoff without
one) and tries again, up to `retries` times, so a command stays within a standard account's
request budget (§11) instead of hammering it.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx

CODE_OK = 200
CODE_TOO_MANY_REQUESTS = 23000
DEFAULT_RETRY_S = 2.0
MAX_RETRY_WAIT_S = 60.0


class ToolError(Exception):
    """Why a command failed, worded for the terminal."""


def retry_after_s(response: httpx.Response, fallback_s: float) -> float:
    """The server's hint (`Retry-After` seconds) or `fallback_s`; capped so a bad hint cannot hang us."""
    hint = response.headers.get("Retry-After", "")
    try:
        wait = float(hint)
    except ValueError:
        wait = fallback_s
    return min(max(wait, 0.0), MAX_RETRY_WAIT_S)


class ToolRest:
    """GETs against `base_url` (`/api/v1/...`), the body checked for Lighter's `code` 200."""

    def __init__(self, base_url: str, timeout_s: float = 10.0, retries: int = 3,
                 sleep: Callable[[float], None] = time.sleep, transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ToolError(f"--base-url must start with http:// or https:// (got {base_url!r})")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.requests = 0
        self._sleep = sleep
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport,
                                    headers={"Accept": "application/json"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ToolRest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | None = None, auth: str = "") -> dict:
        headers = {"Authorization": auth} if auth else None
        for attempt in range(self.retries + 1):
            self.requests += 1
            try:
                response = self._client.get(path, params=params, headers=headers)
            except httpx.TimeoutException:
                raise ToolError(f"{self.base_url}{path}: timed out") from None
            except httpx.HTTPError as exc:
                raise ToolError(f"cannot reach {self.base_url} ({type(exc).__name__}: {exc})") from None
            try:
                body = response.json()
            except ValueError:
                body = None
            code = body.get("code") if isinstance(body, dict) else None
            if response.status_code == 429 or code == CODE_TOO_MANY_REQUESTS:
                if attempt < self.retries:
                    self._sleep(retry_after_s(response, DEFAULT_RETRY_S * 2**attempt))
                    continue
                raise ToolError(f"{path}: rate limited (HTTP {response.status_code}) after {self.retries} retries; "
                                "wait a minute and run it again")
            if not isinstance(body, dict):
                raise ToolError(f"{path}: HTTP {response.status_code}, the answer is not a JSON object "
                                f"({response.text[:120]!r})")
            if response.status_code != 200 or code != CODE_OK:
                message = body.get("message", "")
                raise ToolError(f"{path}: HTTP {response.status_code}, Lighter code {code}: {message}")
            return body
        raise AssertionError("unreachable")   # the loop returns or raises


def require(condition: bool, what: str) -> None:
    """A malformed response: say what was missing instead of failing on a KeyError later."""
    if not condition:
        raise ToolError(f"malformed response: {what}")


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write `text` to `path` so a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
