"""`python scripts/set_market.py`: a market profile derived from Lighter's metadata and a balance.

The derivation (`derive`), with P the price (`--price`, else the market's `last_trade_price`),
lot = 10^-size_decimals, and "up"/"down" rounding to a whole lot:

- notional_floor = min_quote x (1 + FLOOR_HEADROOM): 5 % above Lighter's per-order minimum
  notional, so a quote priced a few ticks below the mid still clears it;
- size_min = max(min_base, up(notional_floor / P)): never below the minimum size or the floor;
- size = up(size_min x multiplier); size_max = up(size x multiplier): the multiplier is the
  step from the smallest quote to the usual one and from that to the largest (adaptive sizing);
- guards scale with the balance B, in the seed's ratios for its $30 account: inventory at most
  B x 5/3 of notional (max_position_units = down(that / P)), one order at most B x 4/3
  (max_order_units = down(that / P)), soft cap 2/3 of the position limit, hedger trigger 1/6
  and target 1/15 of it, hedge clip 1/3 of it (at least size_min), drawdown stop 5 % of B and
  halt 10 %.

A balance too small for one largest quote within those limits is refused, not rounded into
something the exchange or the guards would reject. The profile is validated with the core
config model before it is written.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path

import yaml
from pydantic import ValidationError

from adapters.lighter.tool_rest import ToolError, ToolRest, atomic_write, require
from runtime.config import Config

FLOOR_HEADROOM = Decimal("0.05")
INVENTORY_PER_BALANCE = Decimal(5) / 3
ORDER_PER_BALANCE = Decimal(4) / 3
DRAWDOWN_FRAC, HALT_FRAC = Decimal("0.05"), Decimal("0.10")
ACTIVE_NAME = "active.yaml"


@dataclass(frozen=True)
class MarketInfo:
    market_id: int
    symbol: str
    size_decimals: int
    price_decimals: int
    min_base: Decimal
    min_quote: Decimal
    last_price: Decimal


def _lots(value: Decimal, decimals: int, rounding: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


def derive(m: MarketInfo, price: Decimal, balance: Decimal, multiplier: Decimal) -> dict:
    """The profile (a partial config.yaml) for market `m` at `price` and `balance`."""
    if price <= 0 or balance <= 0 or multiplier < 1:
        raise ToolError("price and balance must be positive and the sizing multiplier at least 1")
    d = m.size_decimals

    def up(v: Decimal) -> Decimal:
        return _lots(v, d, ROUND_CEILING)

    def down(v: Decimal) -> Decimal:
        return _lots(v, d, ROUND_FLOOR)

    floor = (m.min_quote * (1 + FLOOR_HEADROOM)).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    size_min = max(up(m.min_base), up(floor / price))
    size = up(size_min * multiplier)
    size_max = up(size * multiplier)
    inventory_notional = (balance * INVENTORY_PER_BALANCE).quantize(Decimal("0.01"))
    order_notional = (balance * ORDER_PER_BALANCE).quantize(Decimal("0.01"))
    max_position = down(inventory_notional / price)
    max_order = down(order_notional / price)
    largest = size_max * price
    if size_max > max_order:
        raise ToolError(f"balance ${balance} is too small for {m.symbol}: the largest quote, {size_max} at {price} "
                        f"(${largest:.2f}), is above the per-order limit at this balance (${order_notional}, "
                        f"{max_order} units); raise --balance-usd or lower --sizing-multiplier")
    lot = Decimal(1).scaleb(-d)
    trigger = max(lot * 2, down(max_position / 6))
    target = min(down(max_position / 15), trigger - lot)
    clip = max(size_min, down(max_position / 3))

    def f(v: Decimal) -> float:
        return float(v)

    return {
        "price_range": [f(_lots(price / 10, m.price_decimals, ROUND_FLOOR)), f(up(price * 10).to_integral_value())],
        "market": {"market_id": m.market_id, "symbol": m.symbol, "price_decimals": m.price_decimals,
                   "size_decimals": d, "min_base_units": f(m.min_base), "min_quote": f(m.min_quote)},
        "maker": {"size_units": f(size), "size_min_units": f(size_min), "size_max_units": f(size_max),
                  "notional_floor": f(floor)},
        "inventory": {"soft_cap_units": f(down(max_position * 2 / 3))},
        "hedger": {"trigger_units": f(trigger), "target_units": f(target), "max_clip_units": f(clip)},
        "risk": {"max_position_units": f(max_position), "max_inventory_notional": f(inventory_notional),
                 "max_order_units": f(max_order), "max_order_notional": f(order_notional),
                 "max_drawdown_quote": f((balance * DRAWDOWN_FRAC).quantize(Decimal("0.01"))),
                 "halt_drawdown_quote": f((balance * HALT_FRAC).quantize(Decimal("0.01")))},
        "venue": {"paper": {"start_price": f(price)}},
    }


def validate(profile: dict) -> None:
    """The profile laid over the defaults must pass the core config model."""
    sections = {k: v for k, v in profile.items() if k not in ("price_range", "venue")}
    merged = Config().model_dump()
    for key, value in sections.items():
        merged[key] = {**merged[key], **value}
    try:
        Config.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ToolError(f"the derived profile does not validate: {problems}") from None


def lookup(rest: ToolRest, symbol: str) -> MarketInfo:
    """The perp market called `symbol` from `orderBookDetails` (§3.1)."""
    body = rest.get("/api/v1/orderBookDetails", {"filter": "perp"})
    details = body.get("order_book_details")
    require(isinstance(details, list), "orderBookDetails has no `order_book_details` list")
    matches = [d for d in details if isinstance(d, dict) and str(d.get("symbol", "")).upper() == symbol.upper()]
    if not matches:
        known = ", ".join(sorted(str(d.get("symbol")) for d in details if isinstance(d, dict))[:40])
        raise ToolError(f"no perp market {symbol!r} on this venue (markets: {known})")
    d = matches[0]
    try:
        info = MarketInfo(int(d["market_id"]), str(d["symbol"]), int(d["size_decimals"]), int(d["price_decimals"]),
                          Decimal(str(d["min_base_amount"])), Decimal(str(d["min_quote_amount"])),
                          Decimal(str(d.get("last_trade_price") or 0)))
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ToolError(f"malformed response: market {symbol}: {type(exc).__name__} {exc}") from None
    require(0 <= info.size_decimals <= 8 and 0 <= info.price_decimals <= 8, f"{symbol}: decimals out of range")
    require(info.min_base > 0 and info.min_quote > 0, f"{symbol}: minimums must be positive")
    if d.get("status", "active") != "active":
        raise ToolError(f"market {symbol} is {d.get('status')!r}, not active")
    return info


def render(profile: dict, m: MarketInfo, price: Decimal, balance: Decimal, multiplier: Decimal) -> str:
    header = (f"# Market {m.market_id} ({m.symbol} perp on Lighter), written by scripts/set_market.py from\n"
              f"# orderBookDetails at price {price}, --balance-usd {balance} --sizing-multiplier {multiplier}.\n"
              "# A profile is a partial config.yaml laid over --config (lighter-bot run --profile PATH);\n"
              "# `price_range` is what the replay accepts. The derivation: README, \"Market and account commands\".\n")
    return header + yaml.safe_dump(profile, sort_keys=False, default_flow_style=None)


def decimal(text: str) -> Decimal:
    """An argparse type: a finite decimal number (Decimal's own error is not one argparse reports)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="set_market.py",
        description="Look a Lighter market up and write a profile (maker sizes from the balance and the "
                    "exchange minimums, guard limits scaled to the balance) for lighter-bot run --profile.")
    p.add_argument("--symbol", required=True, help="market symbol, e.g. SOL (perp markets)")
    p.add_argument("--balance-usd", type=decimal, required=True, help="account balance in USD the limits scale with")
    p.add_argument("--sizing-multiplier", type=decimal, default=Decimal("1.1"),
                   help="step from the smallest quote to the usual one and on to the largest (>= 1; default 1.1)")
    p.add_argument("--profile-out", default="profiles/market_<id>.yaml",
                   help="where to write the profile; <id> becomes the market id (default profiles/market_<id>.yaml)")
    p.add_argument("--activate", action="store_true",
                   help=f"also copy it to {ACTIVE_NAME} beside it, the profile `lighter-bot run --profile "
                        f"profiles/{ACTIVE_NAME}` runs")
    p.add_argument("--price", type=decimal, help="price to size at (default: the market's last trade price)")
    p.add_argument("--base-url", default="https://mainnet.zklighter.elliot.ai", help="Lighter REST base URL")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.balance_usd <= 0:
            raise ToolError("--balance-usd must be a positive amount")
        if args.sizing_multiplier < 1:
            raise ToolError("--sizing-multiplier must be at least 1")
        with ToolRest(args.base_url, timeout_s=args.timeout) as rest:
            market = lookup(rest, args.symbol)
        price = args.price if args.price is not None else market.last_price
        if not price.is_finite() or price <= 0:
            raise ToolError(f"{market.symbol} has no last trade price; pass --price")
        profile = derive(market, price, args.balance_usd, args.sizing_multiplier)
        validate(profile)
        text = render(profile, market, price, args.balance_usd, args.sizing_multiplier)
        out = Path(args.profile_out.replace("<id>", str(market.market_id)).replace("{id}", str(market.market_id)))
        atomic_write(out, text)
        print(f"wrote {out}")
        if args.activate:
            active = out.parent / ACTIVE_NAME
            atomic_write(active, f"# active profile: a copy of {out.name} (set_market.py --activate)\n" + text)
            print(f"activated: {active} (lighter-bot run --profile {active})")
        print(yaml.safe_dump({k: profile[k] for k in ("maker", "risk")}, sort_keys=False).rstrip())
        return 0
    except (ToolError, OSError) as exc:
        print(f"set_market: error: {exc}", file=sys.stderr)
        return 1
