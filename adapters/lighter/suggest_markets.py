"""`python scripts/suggest_market_targets.py`: Lighter's perp markets ranked for market making.

Requests, within a standard account's 60 a minute: one `orderBookDetails` (24 h volume, price
range, minimums), one `funding-rates`, then one `orderBookOrders` for each of the best
`--top` x 2 candidates by the cheap criteria (spread and depth need the book), so 2 + 2 x top
requests (22 for `--top 10`), paced by `--pace` seconds.

Each market gets a score from 0 to 100, the weighted sum of six parts in [0, 1], each shown:

- volume (25): log10 of the 24 h quote volume, $100k -> 0, $1bn -> 1: flow to trade against;
- spread (20): the touch spread in bps, 1 bps -> 0, 10 bps or more -> 1: what a quote earns;
- depth (15): quote resting within 10 bps of the mid, against our clip (the market's minimum
  order): 1 / (1 + depth / (20 x clip)); a thin book is a short queue to the touch;
- volatility (20): the 24 h range in bps, 1 - range / 1500: inventory risk per unit held;
- size fit (15): the minimum order (x 1.05, the notional floor) against the balance,
  1 - clip / (balance / 2); a market whose minimum order is above half the balance scores 0
  there and is marked "too big" (two clips would breach a position limit scaled to the balance);
- funding (5): 1 - |hourly rate| / 0.01 %: carry paid while holding inventory.

Markets that are not active, or whose book is empty, are not ranked.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from adapters.lighter.tool_rest import ToolError, ToolRest, require

WEIGHTS = {"volume": 25, "spread": 20, "depth": 15, "volatility": 20, "size_fit": 15, "funding": 5}
DEPTH_BAND_BPS = 10.0
FLOOR_HEADROOM = 1.05


@dataclass
class Market:
    market_id: int
    symbol: str
    last_price: float
    volume_usd: float
    range_bps: float
    clip_usd: float              # the smallest order a quote can be: max(min_quote, min_base x price) x 1.05
    funding_rate: float | None = None    # hourly, percent, as Lighter's funding-rates gives it
    spread_bps: float | None = None
    depth_usd: float | None = None       # quote within DEPTH_BAND_BPS of the mid, both sides
    parts: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    notes: list[str] = field(default_factory=list)


def _clip01(x: float) -> float:
    return max(0.0, min(1.0, x))


def cheap_parts(m: Market, balance: float) -> dict[str, float]:
    parts = {
        "volume": _clip01((math.log10(m.volume_usd) - 5) / 4) if m.volume_usd > 0 else 0.0,
        "volatility": _clip01(1 - m.range_bps / 1500),
        "size_fit": _clip01(1 - m.clip_usd / (balance / 2)),
        "funding": 1.0 if m.funding_rate is None else _clip01(1 - abs(m.funding_rate) / 0.01),
    }
    return parts


def book_parts(m: Market) -> dict[str, float]:
    assert m.spread_bps is not None and m.depth_usd is not None
    return {"spread": _clip01((m.spread_bps - 1) / 9),
            "depth": 1 / (1 + m.depth_usd / (20 * m.clip_usd))}


def total(parts: dict[str, float]) -> float:
    return sum(WEIGHTS[k] * parts.get(k, 0.0) for k in WEIGHTS)


def _num(d: dict, key: str, what: str) -> float:
    try:
        value = float(d[key])
    except (KeyError, TypeError, ValueError):
        raise ToolError(f"malformed response: {what}: `{key}` missing or not a number") from None
    if not math.isfinite(value):
        raise ToolError(f"malformed response: {what}: `{key}` is {value}")
    return value


def markets_from_details(body: dict) -> list[Market]:
    details = body.get("order_book_details")
    require(isinstance(details, list), "orderBookDetails has no `order_book_details` list")
    out = []
    for d in details:
        require(isinstance(d, dict), "a market in orderBookDetails is not an object")
        what = f"market {d.get('market_id', '?')}"
        if d.get("status") != "active" or d.get("market_type", "perp") != "perp":
            continue
        price = _num(d, "last_trade_price", what)
        if price <= 0:
            continue
        high, low = _num(d, "daily_price_high", what), _num(d, "daily_price_low", what)
        clip = max(_num(d, "min_quote_amount", what), _num(d, "min_base_amount", what) * price) * FLOOR_HEADROOM
        out.append(Market(int(_num(d, "market_id", what)), str(d.get("symbol", "?")), price,
                          _num(d, "daily_quote_token_volume", what),
                          (high - low) / price * 1e4 if high > 0 and low > 0 else 0.0, clip))
    return out


def apply_funding(markets: list[Market], body: dict) -> None:
    rates = body.get("funding_rates")
    require(isinstance(rates, list), "funding-rates has no `funding_rates` list")
    by_id = {m.market_id: m for m in markets}
    for r in rates:
        if isinstance(r, dict) and r.get("exchange") == "lighter" and r.get("market_id") in by_id:
            by_id[r["market_id"]].funding_rate = _num(r, "rate", f"funding rate of market {r['market_id']}")


def apply_book(m: Market, body: dict) -> bool:
    """Spread and depth near the mid from an `orderBookOrders` snapshot; False when a side is empty."""
    asks, bids = body.get("asks"), body.get("bids")
    require(isinstance(asks, list) and isinstance(bids, list), f"orderBookOrders of {m.symbol} lacks asks/bids")
    what = f"book of {m.symbol}"
    levels = {"ask": [(_num(o, "price", what), _num(o, "remaining_base_amount", what)) for o in asks],
              "bid": [(_num(o, "price", what), _num(o, "remaining_base_amount", what)) for o in bids]}
    if not levels["ask"] or not levels["bid"]:
        return False
    best_ask, best_bid = min(p for p, _ in levels["ask"]), max(p for p, _ in levels["bid"])
    mid = (best_ask + best_bid) / 2
    m.spread_bps = (best_ask - best_bid) / mid * 1e4
    band = mid * DEPTH_BAND_BPS / 1e4
    m.depth_usd = sum(p * s for side in levels.values() for p, s in side if abs(p - mid) <= band)
    return True


def rank(rest: ToolRest, balance: float, top: int, pace_s: float,
         sleep: Callable[[float], None] = time.sleep) -> list[Market]:
    markets = markets_from_details(rest.get("/api/v1/orderBookDetails", {"filter": "perp"}))
    apply_funding(markets, rest.get("/api/v1/funding-rates"))
    for m in markets:
        m.parts = cheap_parts(m, balance)
        if m.clip_usd > balance / 2:
            m.notes.append(f"too big: minimum order ${m.clip_usd:.2f} is over half the balance")
    cheap = sum(WEIGHTS[k] for k in ("volume", "volatility", "size_fit", "funding"))
    markets.sort(key=lambda m: -sum(WEIGHTS[k] * m.parts[k] for k in m.parts) / cheap)
    ranked = []
    for m in markets[:2 * top]:
        sleep(pace_s)
        if not apply_book(m, rest.get("/api/v1/orderBookOrders", {"market_id": m.market_id, "limit": 100})):
            continue
        m.parts.update(book_parts(m))
        m.score = total(m.parts)
        ranked.append(m)
    ranked.sort(key=lambda m: -m.score)
    return ranked


def explain(m: Market) -> str:
    f = "n/a" if m.funding_rate is None else f"{m.funding_rate:+.4f} %/h"
    lines = [f"{m.symbol} (market {m.market_id}): score {m.score:.1f} / 100 at price {m.last_price:g}"]
    facts = {"volume": f"24 h volume ${m.volume_usd:,.0f}", "spread": f"spread {m.spread_bps:.2f} bps",
             "depth": f"${m.depth_usd:,.0f} within {DEPTH_BAND_BPS:g} bps of mid",
             "volatility": f"24 h range {m.range_bps:.0f} bps", "size_fit": f"minimum order ${m.clip_usd:.2f}",
             "funding": f"funding {f}"}
    for k, w in WEIGHTS.items():
        lines.append(f"  {k:10} {w * m.parts.get(k, 0.0):5.1f} / {w:<3} {facts[k]}")
    lines += [f"  note: {n}" for n in m.notes]
    return "\n".join(lines)


def table(ranked: list[Market], top: int) -> str:
    head = (f"{'#':>2}  {'symbol':8} {'id':>4} {'score':>6} {'volume 24h $':>14} {'spread bps':>10} "
            f"{'depth $':>10} {'range bps':>9} {'min order $':>11} {'funding %/h':>11}")
    rows = [head]
    for i, m in enumerate(ranked[:top], 1):
        f = "-" if m.funding_rate is None else f"{m.funding_rate:+.4f}"
        rows.append(f"{i:>2}  {m.symbol:8} {m.market_id:>4} {m.score:>6.1f} {m.volume_usd:>14,.0f} "
                    f"{m.spread_bps:>10.2f} {m.depth_usd:>10,.0f} {m.range_bps:>9.0f} {m.clip_usd:>11.2f} {f:>11}"
                    + ("  too big" if m.notes else ""))
    return "\n".join(rows)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="suggest_market_targets.py",
        description="Rank Lighter's perp markets for market making (24 h volume, spread, depth near the mid, "
                    "volatility, minimum order against the balance, funding) and explain each score.")
    p.add_argument("--top", type=int, default=10, help="how many markets to show (default 10; 1..25)")
    p.add_argument("--target-symbol", help="show this market's score in detail (it is ranked even if outside --top)")
    p.add_argument("--balance-usd", type=float, default=30.0, help="account balance the minimum order is weighed "
                                                                  "against (default 30)")
    p.add_argument("--base-url", default="https://mainnet.zklighter.elliot.ai", help="Lighter REST base URL")
    p.add_argument("--pace", type=float, default=1.0,
                   help="seconds between book requests (default 1: within 60 requests a minute)")
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not 1 <= args.top <= 25:
            raise ToolError("--top must be between 1 and 25 (each candidate costs a request)")
        if not args.balance_usd > 0 or args.pace < 0:
            raise ToolError("--balance-usd must be positive and --pace not negative")
        with ToolRest(args.base_url, timeout_s=args.timeout) as rest:
            ranked = rank(rest, args.balance_usd, args.top, args.pace)
            target = None
            if args.target_symbol:
                target = next((m for m in ranked if m.symbol.upper() == args.target_symbol.upper()), None)
                if target is None:
                    target = target_detail(rest, args.target_symbol, args.balance_usd)
        if args.json:
            print(json.dumps([asdict(m) for m in ranked[:args.top]] if target is None else asdict(target), indent=2))
            return 0
        if target is not None:
            position = next((i for i, m in enumerate(ranked, 1) if m is target), None)
            print(explain(target) + (f"\n  rank {position} of {len(ranked)} scored" if position else ""))
            return 0
        print(table(ranked, args.top))
        if ranked:
            print("\nwhy the first one:\n" + explain(ranked[0]))
        return 0
    except ToolError as exc:
        print(f"suggest_market_targets: error: {exc}", file=sys.stderr)
        return 1


def target_detail(rest: ToolRest, symbol: str, balance: float) -> Market:
    markets = markets_from_details(rest.get("/api/v1/orderBookDetails", {"filter": "perp"}))
    m = next((m for m in markets if m.symbol.upper() == symbol.upper()), None)
    if m is None:
        raise ToolError(f"no active perp market {symbol!r}")
    apply_funding([m], rest.get("/api/v1/funding-rates"))
    m.parts = cheap_parts(m, balance)
    if not apply_book(m, rest.get("/api/v1/orderBookOrders", {"market_id": m.market_id, "limit": 100})):
        raise ToolError(f"{m.symbol}: the book has an empty side; nothing to score")
    m.parts.update(book_parts(m))
    m.score = total(m.parts)
    return m
