"""Lighter's wire formats: the recorded mainnet session parses through the adapter's models with
no unknown field, the book rebuilt from it agrees with the recorded trades, and the gap checks of
both frame formats (reference §9.4) catch a missed update."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from adapters.lighter.book import BookResult, OrderBook
from adapters.lighter.messages import (MarketStatsFrame, OrderBookFrame, TradeFrame, WireError, fixed, parse_frame,
                                       unknown_fields, units)

FIXTURE = Path(__file__).parent / "fixtures" / "lighter_btc_ws_2025-12-10_cut.json.gz"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lighter"
RECORDING = SHARED / "BTC_lighter-perp_ws_capture_2025-12-10_raw.json.gz"
TRADES_CSV = SHARED / "BTC_lighter-perp_trades_ws_2025-12-10.csv"
BTC_PRICE_DECIMALS, BTC_SIZE_DECIMALS = 1, 5


def frames(path: Path) -> list[dict]:
    return json.load(gzip.open(path))


def replay(records: list[dict]) -> dict:
    """Parse every frame, rebuild the book, and check each print against the book it traded in:
    a print must be at a level that rested on its maker's side shortly before."""
    book = OrderBook(BTC_PRICE_DECIMALS, BTC_SIZE_DECIMALS)
    recent_levels: list[tuple[set[int], set[int]]] = []
    out = {"unknown": set(), "results": [], "prints": 0, "at_a_level": 0, "kinds": set(), "trades": {}}
    for record in records:
        frame = parse_frame(record["msg"])
        out["kinds"].add(type(frame).__name__)
        out["unknown"] |= set(unknown_fields(frame))
        if isinstance(frame, OrderBookFrame):
            recent_levels.append((set(book.bids), set(book.asks)))
            del recent_levels[:-40]
            out["results"].append(book.apply(frame))
        if isinstance(frame, TradeFrame):
            for trade in frame.trades + (frame.liquidation_trades or []):
                out["trades"][trade.trade_id] = trade       # snapshots repeat recent prints: once per id
        if isinstance(frame, TradeFrame) and not frame.type.startswith("subscribed/"):
            for trade in frame.trades:
                if trade.type != "trade":
                    continue
                out["prints"] += 1
                ticks = units(trade.price, BTC_PRICE_DECIMALS)
                side = 1 if trade.is_maker_ask else 0
                out["at_a_level"] += any(ticks in levels[side] for levels in recent_levels)
    out["book"] = book
    return out


def test_fixed_decimal_strings_are_one_level_whatever_their_trailing_zeros():
    assert units("92835.90", 1) == units("92835.9", 1) == 928359
    assert units("0.00000", 5) == 0 and fixed(928359, 1) == "92835.9" and fixed(5, 3) == "0.005"
    with pytest.raises(WireError):
        units("92835.95", 1)


def test_the_committed_cut_of_the_recording_parses_fully_and_rebuilds_a_consistent_book():
    result = replay(frames(FIXTURE))
    assert result["unknown"] == set()
    assert {"Connected", "OrderBookFrame", "TradeFrame", "MarketStatsFrame"} <= result["kinds"]
    assert result["results"].count(BookResult.APPLIED) == len(result["results"]) > 100   # no gap, never crossed
    touch = result["book"].touch()
    assert touch is not None and touch.bid_ticks < touch.ask_ticks
    assert result["prints"] > 20 and result["at_a_level"] / result["prints"] >= 0.9


@pytest.mark.skipif(not RECORDING.exists(), reason=f"the shared recording is not here ({RECORDING})")
def test_the_whole_recorded_session_parses_and_its_trades_match_the_book_and_the_csv():
    result = replay(frames(RECORDING))
    assert result["unknown"] == set()
    assert BookResult.GAP not in result["results"] and BookResult.CROSSED not in result["results"]
    assert result["at_a_level"] / result["prints"] >= 0.9      # measured: 649 of 673 prints
    with open(TRADES_CSV) as f:
        recorded = [(row["price"], row["qty"]) for row in csv.DictReader(f)]
    parsed = [(float(t.price), float(t.size)) for t in result["trades"].values()]
    assert sorted(parsed) == sorted((float(p), float(q)) for p, q in recorded)


def _book_frame(kind: str, offset: int, nonce: int, begin_nonce: int | None, bids, asks) -> str:
    body = {"code": 0, "asks": [{"price": p, "size": s} for p, s in asks],
            "bids": [{"price": p, "size": s} for p, s in bids], "offset": offset, "nonce": nonce}
    if begin_nonce is not None:
        body["begin_nonce"] = begin_nonce
    return json.dumps({"channel": "order_book:2", "offset": offset, "order_book": body, "timestamp": 1,
                       "type": f"{kind}/order_book"})


@pytest.mark.parametrize("fmt", ["A", "B"])
def test_a_missed_update_is_a_gap_in_either_format_and_only_a_snapshot_resyncs(fmt):
    b = (lambda n: n) if fmt == "B" else (lambda n: None)
    book = OrderBook(3, 3)
    early = parse_frame(_book_frame("update", 9, 90, b(80), [("185.000", "1.000")], []))
    assert book.apply(early) is BookResult.IGNORED                     # before any snapshot
    snap = parse_frame(_book_frame("subscribed", 10, 100, b(0), [("185.000", "1.000")], [("185.010", "2.000")]))
    assert book.apply(snap) is BookResult.APPLIED
    # Nonces jump (never contiguous); format A chains offsets, format B chains begin_nonce to nonce.
    ok = parse_frame(_book_frame("update", 11 if fmt == "A" else 17, 103, b(100), [("185.0", "0.000")],
                                 [("185.005", "1.500")]))
    assert book.apply(ok) is BookResult.APPLIED
    assert book.touch() is None or book.touch().ask_ticks == 185005     # "185.0" deleted the "185.000" level
    assert 185000 not in book.bids
    missed = parse_frame(_book_frame("update", 13 if fmt == "A" else 30, 110, b(106), [("184.990", "1.000")], []))
    assert book.apply(missed) is BookResult.GAP and not book.synced
    later = parse_frame(_book_frame("update", 14 if fmt == "A" else 31, 112, b(110), [("184.980", "1.000")], []))
    assert book.apply(later) is BookResult.IGNORED
    again = parse_frame(_book_frame("subscribed", 20, 120, b(0), [("184.990", "1.000")], [("185.010", "1.000")]))
    assert book.apply(again) is BookResult.APPLIED and book.touch().bid_ticks == 184990


def test_a_crossed_book_is_treated_as_a_gap():
    book = OrderBook(3, 3)
    book.apply(parse_frame(_book_frame("subscribed", 1, 10, 0, [("185.000", "1.000")], [("185.010", "1.000")])))
    crossed = parse_frame(_book_frame("update", 2, 12, 10, [("185.020", "1.000")], []))
    assert book.apply(crossed) is BookResult.CROSSED and not book.synced


def test_market_stats_and_unknown_fields_are_visible():
    frame = parse_frame(json.dumps({"type": "update/market_stats", "channel": "market_stats:2", "market_stats": {
        "symbol": "SOL", "market_id": 2, "index_price": "185.31", "mark_price": "185.32", "open_interest": "1",
        "open_interest_limit": "2", "funding_clamp_small": "0.0500", "funding_clamp_big": "4.0000",
        "last_trade_price": "185.33", "current_funding_rate": "0.0004", "funding_rate": "0.0003",
        "funding_timestamp": 1, "daily_base_token_volume": 1.0, "daily_quote_token_volume": 1.0,
        "daily_price_low": 1.0, "daily_price_high": 2.0, "daily_price_change": 0.1, "brand_new": 1}}))
    assert isinstance(frame, MarketStatsFrame) and unknown_fields(frame) == ["market_stats.brand_new"]
    with pytest.raises(WireError):
        parse_frame('{"type":"update/order_book","channel":"order_book:2"}')
