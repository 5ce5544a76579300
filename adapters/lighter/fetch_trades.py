"""`python scripts/fetch_trades.py`: an account's trades on one market with FIFO PnL.

Fetches the newest `--limit` trades of the account on the market from `/api/v1/trades` (newest
first, at most 100 a page, following `next_cursor`), replays them oldest first through the bot's
own FIFO code (`runtime.pnl.FifoPosition`), and reports realized PnL (fees deducted), the fees,
and the open position's unrealized PnL marked at `--mark-mid`.

The FIFO starts flat at the oldest trade fetched: if the account already held a position then,
the first closing trades realize nothing against it and the reported position is off by it.
Raise `--limit` to reach back to a flat moment.

Fees: a trade carries the fee *rates* (`maker_fee`, `taker_fee`, in 1e-6 units; zero rates are
omitted, §3.3); the fee this account paid is its role's rate times the trade's notional.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from adapters.lighter.tool_rest import ToolError, ToolRest, require
from runtime.pnl import FifoPosition

PAGE_MAX = 100          # /api/v1/trades returns at most this many a call (§3)
FEE_RATE_UNIT = 1e-6    # maker_fee / taker_fee are rates in millionths
TOKEN_ENV = "LIGHTER_API_BEARER"


@dataclass(frozen=True)
class Fill:
    """One trade seen from the account's side."""

    trade_id: int
    timestamp_ms: int
    side: str            # "buy" / "sell"
    role: str            # "maker" / "taker"
    price: float
    size: float
    fee: float           # quote paid (negative = rebate)
    realized: float = 0.0   # what FIFO realized on this fill, fee deducted


@dataclass(frozen=True)
class Report:
    account: int
    market_id: int
    mark_mid: float
    trades: int
    buy_size: float
    sell_size: float
    position: float
    avg_entry: float
    realized_before_fees: float
    fees: float
    realized: float
    unrealized: float
    total: float
    requests: int


def fetch_trades(rest: ToolRest, account: int, market_id: int, limit: int, token: str) -> list[dict]:
    """The newest `limit` trades of `account` on `market_id`, newest first, following the cursor."""
    trades: list[dict] = []
    cursor = ""
    while len(trades) < limit:
        params = {"sort_by": "trade_id", "sort_dir": "desc", "account_index": account, "market_id": market_id,
                  "limit": min(PAGE_MAX, limit - len(trades))}
        if cursor:
            params["cursor"] = cursor
        body = rest.get("/api/v1/trades", params, auth=token)
        page = body.get("trades")
        require(isinstance(page, list), "/api/v1/trades has no `trades` list")
        trades.extend(page)
        cursor = body.get("next_cursor") or ""
        if not page or not cursor:
            break
    return trades[:limit]


def to_fill(trade: object, account: int, market_id: int) -> Fill:
    """The account's side of one trade; a ToolError when a field it needs is missing or wrong."""
    require(isinstance(trade, dict), f"a trade is not an object: {trade!r:.80}")
    assert isinstance(trade, dict)
    try:
        trade_id = int(trade["trade_id"])
        price, size = float(trade["price"]), float(trade["size"])
        ask, bid = int(trade["ask_account_id"]), int(trade["bid_account_id"])
        maker_ask = bool(trade["is_maker_ask"])
        market = int(trade["market_id"])
        timestamp_ms = int(trade.get("timestamp", 0))
        maker_rate = float(trade.get("maker_fee", 0)) * FEE_RATE_UNIT
        taker_rate = float(trade.get("taker_fee", 0)) * FEE_RATE_UNIT
    except (KeyError, TypeError, ValueError) as exc:
        raise ToolError(f"malformed response: trade {trade.get('trade_id', '?')}: {type(exc).__name__} {exc}") from None
    require(price > 0 and size > 0, f"trade {trade_id}: price {price} and size {size} must be positive")
    require(market == market_id, f"trade {trade_id} is on market {market}, asked for {market_id}")
    require(account in (ask, bid), f"trade {trade_id} is not account {account}'s")
    side = "sell" if ask == account else "buy"
    maker = maker_ask == (side == "sell")
    fee = price * size * (maker_rate if maker else taker_rate)
    return Fill(trade_id, timestamp_ms, side, "maker" if maker else "taker", price, size, fee)


def fifo_report(raw: list[dict], account: int, market_id: int, mark_mid: float, requests: int = 0
                ) -> tuple[list[Fill], Report]:
    """Replay the trades oldest first through FifoPosition; the fills with what each realized, and totals."""
    fills = sorted((to_fill(t, account, market_id) for t in raw), key=lambda f: f.trade_id)
    fifo = FifoPosition()
    booked: list[Fill] = []
    for f in fills:
        realized = fifo.apply(f.side, f.price, f.size, f.fee)   # type: ignore[arg-type]
        booked.append(Fill(**{**asdict(f), "realized": realized}))
    fees = sum(f.fee for f in fills)
    unrealized = fifo.unrealized(mark_mid) if fifo.lot_count else 0.0
    report = Report(account=account, market_id=market_id, mark_mid=mark_mid, trades=len(fills),
                    buy_size=sum(f.size for f in fills if f.side == "buy"),
                    sell_size=sum(f.size for f in fills if f.side == "sell"),
                    position=fifo.units, avg_entry=fifo.avg_entry, realized_before_fees=fifo.realized_total + fees,
                    fees=fees, realized=fifo.realized_total, unrealized=unrealized,
                    total=fifo.realized_total + unrealized, requests=requests)
    return booked, report


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def table(fills: list[Fill], report: Report) -> str:
    lines = [f"{'time (UTC)':19}  {'trade id':>12}  {'side':4}  {'role':5}  {'size':>12}  {'price':>12}  "
             f"{'fee':>10}  {'realized':>11}"]
    for f in fills:
        lines.append(f"{_when(f.timestamp_ms):19}  {f.trade_id:>12}  {f.side:4}  {f.role:5}  {f.size:>12.6g}  "
                     f"{f.price:>12.6g}  {f.fee:>10.6f}  {f.realized:>+11.6f}")
    r = report
    lines += ["",
              f"account {r.account}, market {r.market_id}: {r.trades} trades ({r.requests} requests), "
              f"bought {r.buy_size:.6g}, sold {r.sell_size:.6g}",
              f"position        {r.position:+.6g} at avg entry {r.avg_entry:.6g}",
              f"realized (FIFO) {r.realized:+.6f}  = {r.realized_before_fees:+.6f} before fees - {r.fees:.6f} fees",
              f"unrealized      {r.unrealized:+.6f}  marked at mid {r.mark_mid:.6g}",
              f"total           {r.total:+.6f}"]
    return "\n".join(lines)


def to_csv(fills: list[Fill]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(Fill.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for f in fills:
        writer.writerow(asdict(f))
    return out.getvalue()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fetch_trades.py",
        description="Fetch an account's trades on one Lighter market and report FIFO realized PnL, fees and "
                    "unrealized PnL at a mark price (the bot's own FIFO code). The FIFO starts flat at the "
                    "oldest trade fetched.")
    p.add_argument("--base-url", required=True, help="Lighter REST base URL, e.g. https://mainnet.zklighter.elliot.ai")
    p.add_argument("--account", type=int, required=True, help="account index whose trades to fetch")
    p.add_argument("--market-id", type=int, required=True, help="market id (e.g. 2 for SOL)")
    p.add_argument("--limit", type=int, default=200,
                   help="how many of the newest trades to fetch (pages of 100; default 200)")
    p.add_argument("--mark-mid", type=float, required=True, help="mid price to mark the open position at")
    p.add_argument("--token", default="",
                   help=f"auth token for the account (sent as the Authorization header); default: ${TOKEN_ENV}")
    p.add_argument("--csv", metavar="PATH", help="also write every fill to this CSV file")
    p.add_argument("--json", metavar="PATH", help="also write the report and fills as JSON ('-' = stdout only)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    p.add_argument("--retries", type=int, default=3,
                   help="retries after a rate limit, each after the server's Retry-After hint (default 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.limit < 1:
            raise ToolError("--limit must be at least 1")
        if not args.mark_mid > 0:
            raise ToolError("--mark-mid must be a positive price")
        token = (args.token or os.environ.get(TOKEN_ENV, "")).strip()
        if token.lower().startswith("bearer "):   # Lighter wants the bare token (§3)
            token = token[7:].strip()
        if not token:
            raise ToolError(f"no auth token: pass --token or export {TOKEN_ENV}")
        with ToolRest(args.base_url, timeout_s=args.timeout, retries=args.retries) as rest:
            raw = fetch_trades(rest, args.account, args.market_id, args.limit, token)
            fills, report = fifo_report(raw, args.account, args.market_id, args.mark_mid, rest.requests)
        document = {"report": asdict(report), "fills": [asdict(f) for f in fills]}
        if args.json == "-":
            print(json.dumps(document, indent=2))
            return 0
        print(table(fills, report))
        if args.csv:
            with open(args.csv, "w", encoding="utf-8") as fh:
                fh.write(to_csv(fills))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(document, fh, indent=2)
        return 0
    except ToolError as exc:
        print(f"fetch_trades: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"fetch_trades: error: {exc}", file=sys.stderr)
        return 1
