"""Readers for every recorded format, detected by content (`--format` forces one).

Each reader turns a file into the columnar events of `columns.py` and the gaps it found.
A file that cannot be read is a `DataError` naming the file and the line (text formats) or
the byte offset (JSON documents, gzip streams); the CLI prints it, never a traceback.

Formats (the names `--format` takes):
    binance-depth   Binance raw capture, one `<recv_ns> <json>` per line (ndjson, gzip or not):
                    REST depth snapshot, `@depth` diffs synchronised by `U/u/pu`, `@trade`.
                    `@bookTicker` lines are skipped: the depth diffs already give the touch.
    lighter-ws      Lighter websocket capture: a JSON array of {"ts", "msg"} (gzip or not):
                    `order_book` snapshot and deltas (checked by `offset`), `trade` messages,
                    parsed by the live adapter's own wire models (one parser for live and replay).
    bbo-csv         ts_ms,local_ts_ms,bid_price,bid_qty,ask_price,ask_qty
    trades-csv      ts_ms,price,qty,side   (side: taker side, buy/sell)
    binance-trades  Binance trade dump: id,price,qty,quote_qty,time,is_buyer_maker (header optional)
    tardis-trades   Tardis/Gemini: exchange,symbol,timestamp(us),local_timestamp,id,side,price,amount
    klines-csv      ts_ms,open,high,low,close,volume  (bar open time)
    lighter-candles Lighter `/api/v1/candles` JSON (reference §3.4): one response
                    `{"code", "r": "1m", "c": [{"t", "o", "h", "l", "c", "v", ...}]}` or a JSON array
                    of such pages; zero-valued fields omitted (read as 0); overlapping pages
                    allowed (one bar per `t`). Only 1-minute candles: the kline fill model's
                    intrabar path is stated for 1-minute bars.
"""
from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Callable, Iterator

import msgspec

from adapters.lighter.messages import OrderBookFrame, TradeFrame, WireError, parse_frame
from adapters.replay.columns import (ASK, BBO, BID, CLEAR, DEPTH, GAP, KLINE, RESUME, TRADE, Columns, Gap)

# A stretch without any event this long is reported as a gap (seconds), per kind of input.
TRADE_GAP_S = 60.0
BBO_GAP_S = 10.0
KLINE_S = 60.0
# Intrabar path of a 1-minute bar: four points, 15 s apart (see fills.py for how they fill).
KLINE_POINTS_S = (0.0, 15.0, 30.0, 45.0)


class DataError(Exception):
    """A data file cannot be used; `str()` is the located message."""


FORMATS = ("binance-depth", "lighter-ws", "bbo-csv", "trades-csv", "binance-trades", "tardis-trades",
           "klines-csv", "lighter-candles")


def open_bytes(path: Path) -> bytes:
    """The file's bytes, un-gzipped; a truncated or corrupt gzip stream is located."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        data = out.getvalue()
        line = data.count(b"\n") + 1
        raise DataError(f"{path}: gzip stream broken after {len(data)} decompressed bytes (line {line}): "
                        f"{exc}; the file is truncated or corrupt") from None
    return out.getvalue()


def detect(path: Path, data: bytes) -> str:
    """The format of `data`, from its first line (never from the file name)."""
    head = data[:4096].lstrip()
    first = head.split(b"\n", 1)[0].strip().lower()
    if head.startswith(b"["):
        if b'"msg"' in head and b'"ts"' in head:
            return "lighter-ws"
    if head.startswith((b"{", b"[")) and b'"r"' in head and b'"c"' in head:
        return "lighter-candles"
    if first[:1].isdigit() and b" {" in first[:40]:
        return "binance-depth"
    cols = first.replace(b" ", b"").split(b",")
    if cols == [b"ts_ms", b"local_ts_ms", b"bid_price", b"bid_qty", b"ask_price", b"ask_qty"]:
        return "bbo-csv"
    if cols == [b"ts_ms", b"price", b"qty", b"side"]:
        return "trades-csv"
    if cols == [b"ts_ms", b"open", b"high", b"low", b"close", b"volume"]:
        return "klines-csv"
    if cols[:4] == [b"exchange", b"symbol", b"timestamp", b"local_timestamp"]:
        return "tardis-trades"
    if cols == [b"id", b"price", b"qty", b"quote_qty", b"time", b"is_buyer_maker"] or (
            len(cols) in (6, 7) and cols[0].isdigit() and cols[5] in (b"true", b"false")):
        return "binance-trades"
    raise DataError(f"{path}:1: unknown data format (first line {first[:80].decode(errors='replace')!r}); "
                    f"use --format, one of: {', '.join(FORMATS)}")


def read(path: Path, data: bytes, fmt: str) -> tuple[Columns, list[Gap]]:
    reader = _READERS.get(fmt)
    if reader is None:
        raise DataError(f"{path}: unknown --format {fmt!r}; known: {', '.join(FORMATS)}")
    return reader(path, data)


# -- CSV -------------------------------------------------------------------------------------

def _rows(path: Path, data: bytes, width: int, header: bool) -> Iterator[tuple[int, list[str]]]:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines and text and not text.endswith("\n") and len(lines[-1].split(",")) != width:
        raise DataError(f"{path}:{len(lines)}: truncated last line {lines[-1][:80]!r}")
    for number, line in enumerate(lines[1:] if header else lines, start=2 if header else 1):
        line = line.strip()
        if not line:
            continue
        cells = line.split(",")
        if len(cells) != width:
            raise DataError(f"{path}:{number}: expected {width} columns, got {len(cells)}: {line[:80]!r}")
        yield number, cells


def _number(path: Path, number: int, cell: str, what: str, positive: bool = False) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}:{number}: {what}: expected a number, got {cell[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or (positive and value <= 0):
        raise DataError(f"{path}:{number}: {what}: expected a {'positive ' if positive else ''}number, "
                        f"got {cell[:40]!r}")
    return value


class _Clock:
    """Checks time order and records gaps longer than `gap_s` between consecutive rows."""

    def __init__(self, path: Path, gap_s: float, why: str):
        self.path, self.gap_s, self.why = path, gap_s, why
        self.last: float | None = None
        self.gaps: list[Gap] = []

    def see(self, ts: float, number: int, cols: Columns) -> None:
        last = self.last
        if last is not None:
            if ts < last:
                raise DataError(f"{self.path}:{number}: time goes backwards ({ts * 1000:.0f} ms after "
                                f"{last * 1000:.0f} ms)")
            if ts - last > self.gap_s:
                self.gaps.append(Gap(last, ts - last, f"{self.path}:{number}", self.why))
                cols.add(last, GAP, ts - last, 0.0, 0.0)
                cols.add(ts, RESUME, 0.0, 0.0, 0.0)
        self.last = ts


def _side(path: Path, number: int, cell: str) -> float:
    cell = cell.strip().lower()
    if cell == "buy":
        return 1.0
    if cell == "sell":
        return -1.0
    raise DataError(f"{path}:{number}: side: expected buy or sell, got {cell[:20]!r}")


def _trades_csv(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    cols, clock = Columns(), _Clock(path, TRADE_GAP_S, f"no trade for over {TRADE_GAP_S:g} s")
    for number, (ts, px, qty, side) in _rows(path, data, 4, header=True):
        t = _number(path, number, ts, "ts_ms") / 1000.0
        clock.see(t, number, cols)
        cols.add(t, TRADE, _number(path, number, px, "price", True), _number(path, number, qty, "qty", True),
                 _side(path, number, side))
    return cols, clock.gaps


def _binance_trades(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    header = data[:1].isalpha()
    width = len(data.split(b"\n", 1)[0].split(b","))
    cols, clock = Columns(), _Clock(path, TRADE_GAP_S, f"no trade for over {TRADE_GAP_S:g} s")
    for number, cells in _rows(path, data, width, header=header):
        t = _number(path, number, cells[4], "time") / 1000.0
        clock.see(t, number, cols)
        maker = cells[5].strip().lower()
        if maker not in ("true", "false"):
            raise DataError(f"{path}:{number}: is_buyer_maker: expected true or false, got {cells[5][:20]!r}")
        cols.add(t, TRADE, _number(path, number, cells[1], "price", True),
                 _number(path, number, cells[2], "qty", True), -1.0 if maker == "true" else 1.0)
    return cols, clock.gaps


def _tardis_trades(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    cols, clock = Columns(), _Clock(path, TRADE_GAP_S, f"no trade for over {TRADE_GAP_S:g} s")
    rows = sorted(_rows(path, data, 8, header=True), key=lambda r: float(r[1][2]) if _isnum(r[1][2]) else 0.0)
    for number, cells in rows:
        t = _number(path, number, cells[2], "timestamp") / 1e6
        clock.see(t, number, cols)
        cols.add(t, TRADE, _number(path, number, cells[6], "price", True),
                 _number(path, number, cells[7], "amount", True), _side(path, number, cells[5]))
    return cols, clock.gaps


def _isnum(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _bbo_csv(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    cols, clock = Columns(), _Clock(path, BBO_GAP_S, f"no book update for over {BBO_GAP_S:g} s")
    for number, (ts, _local, bp, bq, ap, aq) in _rows(path, data, 6, header=True):
        t = _number(path, number, ts, "ts_ms") / 1000.0
        clock.see(t, number, cols)
        bid, ask = _number(path, number, bp, "bid_price", True), _number(path, number, ap, "ask_price", True)
        if bid >= ask:
            raise DataError(f"{path}:{number}: crossed book: bid {bp} >= ask {ap}")
        cols.add(t, BBO, bid, _number(path, number, bq, "bid_qty"), BID)
        cols.add(t, BBO, ask, _number(path, number, aq, "ask_qty"), ASK)
    return cols, clock.gaps


def _klines_csv(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    """Each bar becomes four path points (open, then the extreme nearer the open's direction of
    travel ... see fills.py): O-L-H-C for an up bar (close >= open), O-H-L-C for a down bar."""
    cols, clock = Columns(), _Clock(path, KLINE_S * 1.5, "missing 1-minute bars")
    for number, (ts, o, h, low, c, v) in _rows(path, data, 6, header=True):
        t = _number(path, number, ts, "ts_ms") / 1000.0
        clock.see(t, number, cols)
        op, hi, lo, cl = (_number(path, number, cell, name, True)
                          for cell, name in ((o, "open"), (h, "high"), (low, "low"), (c, "close")))
        vol = _number(path, number, v, "volume")
        if hi < max(op, cl) or lo > min(op, cl):
            raise DataError(f"{path}:{number}: bad bar: high {h} / low {low} do not contain open {o} and close {c}")
        _kline_points(cols, t, op, hi, lo, cl, vol)
    return cols, clock.gaps


def _kline_points(cols: Columns, t: float, op: float, hi: float, lo: float, cl: float, vol: float) -> None:
    path_px = (op, lo, hi, cl) if cl >= op else (op, hi, lo, cl)
    for offset, px, prev in zip(KLINE_POINTS_S, path_px, (op,) + path_px[:-1]):
        cols.add(t + offset, KLINE, px, vol / 4.0, 1.0 if px >= prev else -1.0)


class _Candle(msgspec.Struct):
    t: int
    o: float = 0.0
    h: float = 0.0
    l: float = 0.0          # noqa: E741 (Lighter's field name)
    c: float = 0.0
    v: float = 0.0


class _CandlePage(msgspec.Struct):
    r: str = ""
    c: list[_Candle] = []
    code: int = 200


def _lighter_candles(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    """Pages are merged by open time `t` (ms); the same `t` in two pages must be the same bar."""
    try:
        doc = msgspec.json.decode(data, type=_CandlePage | list[_CandlePage], strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DataError(f"{path}: {exc} (expected Lighter's candles response, `{{\"code\", \"r\", \"c\": [...]}}`, "
                        f"or a JSON array of them; offsets are bytes of the decompressed JSON)") from None
    pages = doc if isinstance(doc, list) else [doc]
    bars: dict[int, tuple[float, float, float, float, float]] = {}
    for index, page in enumerate(pages):
        where = f"{path}: page {index}" if isinstance(doc, list) else f"{path}"
        if page.code != 200:
            raise DataError(f"{where}: the response has code {page.code}, not 200 (an error response was saved)")
        if page.r != "1m":
            raise DataError(f"{where}: resolution {page.r!r}: only 1-minute candles (`\"r\": \"1m\"`) can be "
                            f"replayed; fetch them with resolution=1m")
        for number, bar in enumerate(page.c):
            row = (bar.o, bar.h, bar.l, bar.c, bar.v)
            if min(bar.o, bar.h, bar.l, bar.c) <= 0:
                raise DataError(f"{where}: candle {number} (t={bar.t}): a price is missing or not positive")
            if bar.h < max(bar.o, bar.c) or bar.l > min(bar.o, bar.c):
                raise DataError(f"{where}: candle {number} (t={bar.t}): bad bar: high {bar.h} / low {bar.l} do not "
                                f"contain open {bar.o} and close {bar.c}")
            if bars.setdefault(bar.t, row) != row:
                raise DataError(f"{where}: candle {number} (t={bar.t}): differs from the bar with the same open "
                                f"time in an earlier page")
    cols, clock = Columns(), _Clock(path, KLINE_S * 1.5, "missing 1-minute candles")
    for number, t_ms in enumerate(sorted(bars)):
        clock.see(t_ms / 1000.0, number, cols)
        _kline_points(cols, t_ms / 1000.0, *bars[t_ms])
    return cols, clock.gaps


# -- Binance raw depth capture --------------------------------------------------------------------

class _Depth(msgspec.Struct):
    T: int
    U: int
    u: int
    pu: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


class _DepthMsg(msgspec.Struct):
    data: _Depth


class _Trade(msgspec.Struct):
    T: int
    p: float
    q: float
    m: bool


class _TradeMsg(msgspec.Struct):
    data: _Trade


class _Snapshot(msgspec.Struct):
    lastUpdateId: int
    T: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]


def _binance_depth(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    """Standard futures sync: diffs before the snapshot are dropped; the first kept diff spans
    the snapshot's `lastUpdateId`; each next diff's `pu` is the previous `u`, else a gap (the
    book is then marked stale until the end of the file: the capture has no second snapshot).
    A file without a snapshot (the continuation of a capture) applies its diffs as they come."""
    depth_dec = msgspec.json.Decoder(_DepthMsg, strict=False)
    trade_dec = msgspec.json.Decoder(_TradeMsg, strict=False)
    snap_dec = msgspec.json.Decoder(_Snapshot, strict=False)
    has_snapshot = b'"lastUpdateId"' in data
    cols, gaps = Columns(), []
    synced_to: int | None = None          # last applied `u`
    snapshot_id: int | None = None
    broken = False
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    last_ts = 0.0
    for number, line in enumerate(lines, start=1):
        space = line.find(b" ")
        if space <= 0 or not line[:space].isdigit():
            raise DataError(f"{path}:{number}: expected `<recv_time_ns> <json>`, got {line[:60]!r}")
        body = line[space + 1:]
        try:
            if b'@depth' in body[:40]:
                msg = depth_dec.decode(body).data
                ts = msg.T / 1000.0
                if has_snapshot and snapshot_id is None:
                    continue                        # before the snapshot: discarded
                if synced_to is None:
                    if snapshot_id is not None and msg.u < snapshot_id:
                        continue                    # older than the snapshot
                elif msg.pu != synced_to and not broken:
                    broken = True
                    gaps.append(Gap(last_ts, 0.0, f"{path}:{number}",
                                    f"depth sequence broken (pu {msg.pu} != previous u {synced_to}); the book "
                                    "is stale until the next snapshot"))
                    cols.add(ts, GAP, 0.0, 0.0, 0.0)
                synced_to = msg.u
                for px, qty in msg.b:
                    cols.add(ts, DEPTH, px, qty, BID)
                for px, qty in msg.a:
                    cols.add(ts, DEPTH, px, qty, ASK)
            elif b'@trade' in body[:40]:
                msg = trade_dec.decode(body).data
                ts = msg.T / 1000.0
                cols.add(ts, TRADE, msg.p, msg.q, -1.0 if msg.m else 1.0)
            elif b'@bookTicker' in body[:40]:
                continue
            elif b'"lastUpdateId"' in body[:40]:
                snap = snap_dec.decode(body)
                snapshot_id, synced_to, ts = snap.lastUpdateId, None, snap.T / 1000.0
                cols.add(ts, CLEAR, 0.0, 0.0, 0.0)
                for px, qty in snap.bids:
                    cols.add(ts, DEPTH, px, qty, BID)
                for px, qty in snap.asks:
                    cols.add(ts, DEPTH, px, qty, ASK)
            else:
                raise DataError(f"{path}:{number}: not a depth, trade, bookTicker or snapshot message: "
                                f"{body[:60]!r}")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
        last_ts = max(last_ts, ts)
    return cols, gaps


# -- Lighter websocket capture --------------------------------------------------------------------

class _Frame(msgspec.Struct):
    ts: float
    msg: str


def _lighter_ws(path: Path, data: bytes) -> tuple[Columns, list[Gap]]:
    """The order book starts at the `subscribed/order_book` snapshot; deltas must continue its
    `offset` one by one (a jump is a gap). Trades of the subscription snapshot and of updates are
    kept once per `trade_id`. Times: book messages carry the exchange `timestamp` (ms); frames
    without one use the recorder's `ts`."""
    try:
        frames = msgspec.json.decode(data, type=list[_Frame])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DataError(f"{path}: {exc} (offsets are bytes of the decompressed JSON)") from None
    cols, gaps = Columns(), []
    offset: int | None = None
    seen: set[int] = set()
    trades: list[tuple[float, float, float, float]] = []
    for index, frame in enumerate(frames):
        try:
            msg = parse_frame(frame.msg)
        except WireError as exc:
            raise DataError(f"{path}: frame {index} (`$[{index}].msg`): {exc}") from None
        if isinstance(msg, OrderBookFrame):
            ts = msg.timestamp / 1000.0 if msg.timestamp else frame.ts
            if msg.is_snapshot:
                cols.add(ts, CLEAR, 0.0, 0.0, 0.0)
            elif offset is None:
                continue                            # a delta before any snapshot
            elif msg.offset != offset + 1:
                gaps.append(Gap(ts, 0.0, f"{path}: frame {index}",
                                f"order book offset jumps from {offset} to {msg.offset}"))
                cols.add(ts, GAP, 0.0, 0.0, 0.0)
            offset = msg.offset
            try:
                for side, levels in ((BID, msg.order_book.bids), (ASK, msg.order_book.asks)):
                    for level in levels:
                        cols.add(ts, DEPTH, float(level.price), float(level.size), side)
            except ValueError as exc:
                raise DataError(f"{path}: frame {index} (`$[{index}].msg`): a level is not a number: {exc}") from None
        elif isinstance(msg, TradeFrame):
            for trade in msg.trades + (msg.liquidation_trades or []):
                if trade.trade_id in seen:
                    continue
                seen.add(trade.trade_id)
                try:
                    px, qty = float(trade.price), float(trade.size)
                except ValueError as exc:
                    raise DataError(f"{path}: frame {index} (`$[{index}].msg`): trade {trade.trade_id}: "
                                    f"not a number: {exc}") from None
                trades.append((trade.timestamp / 1000.0, px, qty, 1.0 if trade.is_maker_ask else -1.0))
    for ts, px, qty, side in sorted(trades, key=lambda t: t[0]):
        cols.add(ts, TRADE, px, qty, side)
    return cols, gaps


_READERS: dict[str, Callable[[Path, bytes], tuple[Columns, list[Gap]]]] = {
    "binance-depth": _binance_depth, "lighter-ws": _lighter_ws, "bbo-csv": _bbo_csv,
    "trades-csv": _trades_csv, "binance-trades": _binance_trades, "tardis-trades": _tardis_trades,
    "klines-csv": _klines_csv, "lighter-candles": _lighter_candles,
}
