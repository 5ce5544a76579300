"""Readers of every recorded format (on small fixtures cut from the real files), the columnar
cache, and located errors for bad input. The full files in /work/shared/data are read when
present (the `shared` tests skip, saying so, when they are not)."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from adapters.replay.cache import load
from adapters.replay.columns import BBO, CLEAR, DEPTH, GAP, KLINE, TRADE
from lighter_bot import cli

FIXTURES = Path(__file__).parent / "fixtures" / "replay"
SHARED = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", "/work/shared/data"))

CASES = {
    "btcusdt_binance-usdm_raw_head.ndjson.gz": ("binance-depth", {CLEAR, DEPTH, TRADE}),
    "btcusdt_binance-usdm_raw_continuation.ndjson.gz": ("binance-depth", {DEPTH, TRADE}),
    "btc_lighter-perp_ws_capture_head.json.gz": ("lighter-ws", {CLEAR, DEPTH, TRADE}),
    "btcusdt_binance-usdm_bbo_head.csv": ("bbo-csv", {BBO}),
    "btcusdt_binance-usdm_trades_head.csv": ("trades-csv", {TRADE}),
    "solusd_gemini-spot_trades_head.csv": ("trades-csv", {TRADE, 6, 7}),
    "btc_lighter-perp_trades_ws_head.csv": ("trades-csv", {TRADE, 6, 7}),
    "solusd_gemini-spot_tardis_layout_head.csv": ("tardis-trades", {TRADE}),
    "btcusdt_binance-dump_layout_head.csv": ("binance-trades", {TRADE}),
    "solusdt_binance-usdm-perp_1m_head.csv": ("klines-csv", {KLINE}),
    "sol_lighter-candles_1m_pages.json": ("lighter-candles", {KLINE}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_format_is_detected_by_content_and_read(name, tmp_path):
    fmt, kinds = CASES[name]
    renamed = tmp_path / "data.bin"                   # the name says nothing: detection is by content
    renamed.write_bytes((FIXTURES / name).read_bytes())
    dataset, hit = load(renamed, cache_dir=tmp_path / "cache")
    assert (dataset.format, hit) == (fmt, False)
    ev = dataset.events
    assert set(np.unique(ev.kind).tolist()) == kinds
    assert bool(np.all(np.diff(ev.ts) >= 0)) and bool(np.all(ev.px[ev.kind == TRADE] > 0))
    again, hit = load(renamed, cache_dir=tmp_path / "cache")
    assert hit and again.format == fmt and np.array_equal(again.events.px, ev.px) and again.gaps == dataset.gaps


def test_the_binance_capture_starts_at_its_snapshot_and_keeps_the_sequence():
    dataset, _ = load(FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz", cache_dir=None)
    ev = dataset.events
    first_clear = int(np.argmax(ev.kind == CLEAR))
    assert not np.any(ev.kind[:first_clear] == DEPTH)          # diffs before the snapshot are dropped
    assert dataset.gaps == []


def test_the_same_prints_read_the_same_in_every_trade_layout(tmp_path):
    normal, _ = load(FIXTURES / "solusd_gemini-spot_trades_head.csv", cache_dir=tmp_path)
    tardis, _ = load(FIXTURES / "solusd_gemini-spot_tardis_layout_head.csv", cache_dir=tmp_path)
    n = len(tardis.events)
    trades = normal.events.kind == TRADE
    assert np.array_equal(normal.events.px[trades][:n], tardis.events.px)
    assert np.array_equal(normal.events.aux[trades][:n], tardis.events.aux)


def test_lighter_candles_read_as_the_same_bars_as_a_kline_file(tmp_path):
    # The fixture holds the kline fixture's first 120 bars in Lighter's candles envelope: two
    # pages, newest first, overlapping by 10 bars, zero-valued fields omitted.
    klines, _ = load(FIXTURES / "solusdt_binance-usdm-perp_1m_head.csv", cache_dir=None)
    candles, _ = load(FIXTURES / "sol_lighter-candles_1m_pages.json", cache_dir=None)
    n = len(candles.events)
    assert n == 120 * 4 and candles.gaps == []
    for column in ("ts", "kind", "px", "qty", "aux"):
        assert np.array_equal(getattr(klines.events, column)[:n], getattr(candles.events, column)), column


def _candles(tmp_path, pages) -> Path:
    path = tmp_path / "candles.json"
    path.write_text(json.dumps(pages))
    return path


@pytest.mark.parametrize("pages,message", [
    ({"code": 200, "r": "5m", "c": [{"t": 60000, "o": 1, "h": 1, "l": 1, "c": 1}]},
     "resolution '5m': only 1-minute candles"),
    ([{"code": 200, "r": "1m", "c": []}, {"code": 429, "r": "1m", "c": []}], "page 1: the response has code 429"),
    ([{"code": 200, "r": "1m", "c": [{"t": 60000, "o": 2, "h": 2, "l": 2, "c": 2}]},
      {"code": 200, "r": "1m", "c": [{"t": 60000, "o": 2, "h": 3, "l": 2, "c": 2}]}],
     "page 1: candle 0 (t=60000): differs from the bar with the same open time"),
    ({"code": 200, "r": "1m", "c": [{"t": 60000, "h": 2, "l": 1, "c": 2}]}, "candle 0 (t=60000): a price is missing"),
    ({"code": 200, "r": "1m", "c": [{"t": 60000, "o": 2, "h": 1.5, "l": 1, "c": 2}]}, "bad bar"),
    ({"code": 200, "r": "1m", "c": [{"t": "soon", "o": 2}]}, "Expected `int`"),
])
def test_bad_lighter_candles_are_refused_with_the_page_and_candle(tmp_path, capsys, pages, message):
    code, err = _convert(capsys, _candles(tmp_path, pages), "--cache", tmp_path / "cache")
    assert code == 1 and str(tmp_path / "candles.json") in err and message in err, err


def test_gaps_are_found_and_located():
    dataset, _ = load(FIXTURES / "solusd_gemini-spot_trades_head.csv", cache_dir=None)
    assert dataset.gaps and all(":" in g.where and g.seconds > 60 for g in dataset.gaps)
    assert np.count_nonzero(dataset.events.kind == GAP) == len(dataset.gaps)


def _convert(capsys, *args):
    code = cli(["data", "convert", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("content,where", [
    (b"ts_ms,price,qty,side\n1,100.0,1.0,buy\n2,abc,1.0,sell\n", "data.csv:3: price: expected a number"),
    (b"ts_ms,price,qty,side\n1,100.0,1.0,buy\n2,100.0,1.0,hold\n", "data.csv:3: side: expected buy or sell"),
    (b"ts_ms,price,qty,side\n5,100.0,1.0,buy\n2,100.0,1.0,sell\n", "data.csv:3: time goes backwards"),
    (b"ts_ms,price,qty,side\n1,100.0,1.0,buy\n2,100.0\n", "data.csv:3: expected 4 columns"),
    (b"ts_ms,open,high,low,close,volume\n0,10,9,8,9,1\n", "data.csv:2: bad bar"),
    (b"ts_ms,local_ts_ms,bid_price,bid_qty,ask_price,ask_qty\n1,1,101,1,100,1\n", "data.csv:2: crossed book"),
    (b"hello,world\n1,2\n", "data.csv:1: unknown data format"),
    (b'1721347020984480942 {"stream":"btcusdt@trade","data":{"T":1,"p":"1.0","q":"x","m":true}}\n',
     "data.csv:1: "),
])
def test_bad_files_give_a_located_message_and_exit_1(tmp_path, capsys, content, where):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    code, err = _convert(capsys, path, "--cache", tmp_path / "cache")
    assert code == 1 and f"{path.parent}/{where}" in err, err


def test_a_truncated_gzip_is_located_by_byte_offset(tmp_path, capsys):
    raw = (FIXTURES / "btcusdt_binance-usdm_raw_head.ndjson.gz").read_bytes()
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(raw[: len(raw) // 2])
    code, err = _convert(capsys, path, "--cache", tmp_path / "cache")
    assert code == 1 and "gzip stream broken after" in err and "decompressed bytes (line" in err and "truncated" in err


def test_a_broken_lighter_capture_is_located(tmp_path, capsys):
    text = gzip.decompress((FIXTURES / "btc_lighter-perp_ws_capture_head.json.gz").read_bytes())
    path = tmp_path / "capture.json"
    path.write_bytes(text[:5000])
    code, err = _convert(capsys, path, "--cache", tmp_path / "cache")
    assert code == 1 and str(path) in err and "byte" in err


def test_a_capture_frame_lighter_would_not_send_is_located_by_the_live_wire_model(tmp_path, capsys):
    # The replay reads captures with the live adapter's own models: a trade without its
    # `is_maker_ask` is refused here exactly as the live feed would refuse it.
    frames = json.loads(gzip.decompress((FIXTURES / "btc_lighter-perp_ws_capture_head.json.gz").read_bytes()))
    index = next(i for i, f in enumerate(frames) if json.loads(f["msg"])["type"] == "update/trade")
    msg = json.loads(frames[index]["msg"])
    del msg["trades"][0]["is_maker_ask"]
    frames[index]["msg"] = json.dumps(msg)
    path = tmp_path / "capture.json"
    path.write_text(json.dumps(frames))
    code, err = _convert(capsys, path, "--cache", tmp_path / "cache")
    assert code == 1 and f"{path}: frame {index} (`$[{index}].msg`)" in err and "is_maker_ask" in err
    assert "Traceback" not in err


def test_convert_says_what_it_did_and_then_reads_the_cache(tmp_path, capsys):
    fixture = FIXTURES / "btcusdt_binance-usdm_bbo_head.csv"
    assert cli(["data", "convert", str(fixture), "--cache", str(tmp_path)]) == 0
    assert "bbo-csv, 600 events (600 price-level), 0 gaps, converted" in capsys.readouterr().out
    assert cli(["data", "convert", str(fixture), "--cache", str(tmp_path)]) == 0
    assert "already cached" in capsys.readouterr().out


SHARED_FILES = sorted(p for p in SHARED.glob("*/*") if p.suffix != ".md") if SHARED.is_dir() else []


@pytest.mark.skipif(not SHARED_FILES, reason=f"{SHARED} is absent: the full recorded files are not on this machine")
@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda p: p.name)
def test_every_shared_file_converts_with_its_gaps(path, tmp_path):
    dataset, _ = load(path, cache_dir=tmp_path)
    assert len(dataset.events) > 500
    if "klines_1m/SOLUSDT_binance-spot" in str(path):
        assert [round(g.seconds) for g in dataset.gaps] == [81 * 60]      # the 80 missing bars of 2023-03-24
