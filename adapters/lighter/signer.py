"""Lighter's official signer (the Go library bundled with lighter-sdk), driven through ctypes.

Only the shared library is used, never the SDK's network helpers: every call passes an
explicit nonce and API key index, so nothing here touches the network (reference §6.3), and
no call can block on Go's own HTTP. All calls run on one dedicated worker thread: on the
main thread every cgo call re-reads /proc/self/maps and signing is 2-5x slower (§6.5), and
one thread also keeps signatures in nonce order.

The library keeps a process-wide registry per (api key, account); one `Signer` per process.
"""
from __future__ import annotations

import ctypes
import importlib.util
import json
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "pip install -e '.[lighter]'"

TX_CREATE_ORDER, TX_CANCEL_ORDER, TX_CANCEL_ALL, TX_MODIFY_ORDER = 14, 15, 16, 17
ORDER_LIMIT = 0
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2
CANCEL_ALL_IMMEDIATE, CANCEL_ALL_SCHEDULED, CANCEL_ALL_ABORT = 0, 1, 2
ALL_MARKETS = 255


class SignerUnavailable(Exception):
    """The signer library cannot be loaded (the `[lighter]` extra is missing, or an unsupported platform)."""


class SignError(Exception):
    """The signer refused to sign (bad amounts, unknown key); the message is the library's."""


@dataclass(frozen=True, slots=True)
class SignedTx:
    tx_type: int
    tx_info: str          # JSON text, sent as is
    tx_hash: str
    nonce: int


class _SignedTxResponse(ctypes.Structure):
    _fields_ = [("txType", ctypes.c_uint8), ("txInfo", ctypes.c_void_p), ("txHash", ctypes.c_void_p),
                ("messageToSign", ctypes.c_void_p), ("err", ctypes.c_void_p)]


class _StrOrErr(ctypes.Structure):
    _fields_ = [("str", ctypes.c_void_p), ("err", ctypes.c_void_p)]


class _ApiKeyResponse(ctypes.Structure):
    _fields_ = [("privateKey", ctypes.c_void_p), ("publicKey", ctypes.c_void_p), ("err", ctypes.c_void_p)]


def _sdk_spec():
    return importlib.util.find_spec("lighter")


def library_path(explicit: str = "") -> Path:
    """The signer .so/.dylib/.dll shipped in lighter-sdk (found without importing the SDK)."""
    if explicit:
        return Path(explicit)
    spec = _sdk_spec()
    if spec is None or not spec.submodule_search_locations:
        raise SignerUnavailable(f"the Lighter signer needs lighter-sdk: {INSTALL_HINT}")
    system, machine = platform.system().lower(), platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "arm64": "arm64", "aarch64": "arm64"}.get(machine)
    ext = {"linux": "so", "darwin": "dylib", "windows": "dll"}.get(system)
    if arch is None or ext is None:
        raise SignerUnavailable(f"lighter-sdk ships no signer for {system}/{machine}")
    path = Path(spec.submodule_search_locations[0]) / "signers" / f"lighter-signer-{system}-{arch}.{ext}"
    if not path.is_file():
        raise SignerUnavailable(f"signer library not found at {path}; reinstall with {INSTALL_HINT}")
    return path


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    i64, i32, u8, vp = ctypes.c_longlong, ctypes.c_int, ctypes.c_uint8, ctypes.c_void_p
    lib.GenerateAPIKey.argtypes, lib.GenerateAPIKey.restype = [], _ApiKeyResponse
    lib.CreateClient.argtypes, lib.CreateClient.restype = [ctypes.c_char_p, ctypes.c_char_p, i32, i32, i64], vp
    lib.CreateAuthToken.argtypes, lib.CreateAuthToken.restype = [i64, i32, i64], _StrOrErr
    tail = [u8, i64, i32, i64]      # skipNonce, nonce, apiKeyIndex, accountIndex
    lib.SignCreateOrder.argtypes = [i64, i64, i64, i32, i32, i32, i32, i32, i32, i64, i64, i32, i32, u8, u8] + tail
    lib.SignCancelOrder.argtypes = [i64, i64] + tail
    lib.SignCancelAllOrders.argtypes = [i32, i64, i64] + tail
    lib.SignModifyOrder.argtypes = [i64, i64, i64, i64, i64, i64, i32, i32, u8, u8, u8, i64, i64, i32, i64]
    for name in ("SignCreateOrder", "SignCancelOrder", "SignCancelAllOrders", "SignModifyOrder"):
        getattr(lib, name).restype = _SignedTxResponse
    lib.Free.argtypes, lib.Free.restype = [vp], None
    return lib


class Signer:
    """Signs our transactions for one (account, API key) on a dedicated thread.

    The sign methods are synchronous and must be called on that thread: use `submit(fn, ...)`
    (returns a concurrent Future) or `run(fn, ...)` from an asyncio loop via
    `loop.run_in_executor(signer.executor, ...)`.
    """

    def __init__(self, private_key: str, account_index: int, api_key_index: int, chain_id: int,
                 library: str = "") -> None:
        path = library_path(library)
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lighter-signer")
        self._lib = self.executor.submit(_load, path).result()
        key = private_key[2:] if private_key.startswith("0x") else private_key
        err = self.executor.submit(self._take_raw, self._lib.CreateClient(
            b"", key.encode(), chain_id, api_key_index, account_index)).result()
        if err:
            raise SignError(f"signer refused the API key: {err}")

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    # -- calls (on the signer thread) -----------------------------------------------------------

    def create_order(self, market: int, client_id: int, base: int, price: int, is_ask: bool, tif: int,
                     reduce_only: bool, order_expiry_ms: int, nonce: int) -> SignedTx:
        return self._signed(self._lib.SignCreateOrder(
            market, client_id, base, price, int(is_ask), ORDER_LIMIT, tif, int(reduce_only), 0, order_expiry_ms,
            0, 0, 0, 0, 0, 0, nonce, self.api_key_index, self.account_index), nonce)

    def cancel_order(self, market: int, index: int, nonce: int) -> SignedTx:
        return self._signed(self._lib.SignCancelOrder(market, index, 0, nonce, self.api_key_index,
                                                      self.account_index), nonce)

    def modify_order(self, market: int, index: int, base: int, price: int, nonce: int) -> SignedTx:
        return self._signed(self._lib.SignModifyOrder(market, index, base, price, 0, 0, 0, 0, 0, 0, 0, nonce, 0,
                                                      self.api_key_index, self.account_index), nonce)

    def cancel_all(self, tif: int, time_ms: int, nonce: int, market: int = ALL_MARKETS) -> SignedTx:
        return self._signed(self._lib.SignCancelAllOrders(tif, time_ms, market, 0, nonce, self.api_key_index,
                                                          self.account_index), nonce)

    def auth_token(self, deadline_unix_s: int) -> str:
        """An auth token valid until the absolute `deadline_unix_s` (the raw call is absolute, §7)."""
        result = self._lib.CreateAuthToken(deadline_unix_s, self.api_key_index, self.account_index)
        token, err = self._take_raw(result.str), self._take_raw(result.err)
        if err or not token:
            raise SignError(f"auth token: {err or 'no token returned'}")
        return token

    # -- helpers --------------------------------------------------------------------------------

    def _take_raw(self, pointer: int | None) -> str:
        if not pointer:
            return ""
        text = ctypes.cast(pointer, ctypes.c_char_p).value.decode()
        self._lib.Free(pointer)
        return text

    def _signed(self, response: _SignedTxResponse, nonce: int) -> SignedTx:
        info, tx_hash = self._take_raw(response.txInfo), self._take_raw(response.txHash)
        self._take_raw(response.messageToSign)
        err = self._take_raw(response.err)
        if err or not info:
            # An empty error with no tx is still a failure (reference §6.3).
            raise SignError(err or "signer returned no transaction")
        return SignedTx(response.txType, info, tx_hash, nonce)


def generate_api_key(library: str = "") -> tuple[str, str]:
    """(private key, public key) as lowercase hex without 0x (for tests and the fake server)."""
    lib = _load(library_path(library))

    def take(pointer):
        text = ctypes.cast(pointer, ctypes.c_char_p).value.decode() if pointer else ""
        if pointer:
            lib.Free(pointer)
        return text

    def call():
        result = lib.GenerateAPIKey()
        priv, pub, err = take(result.privateKey), take(result.publicKey), take(result.err)
        if err:
            raise SignError(err)
        return priv.removeprefix("0x"), pub.removeprefix("0x").lower()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def tx_info_fields(tx_info: str) -> dict:
    return json.loads(tx_info)
