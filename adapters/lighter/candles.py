"""Lighter's 1-minute candles (`GET /api/v1/candles`, reference §3.4) through the tools' REST client.

The endpoint answers `{code, r, c: [{t, o, h, l, c, v, V, i}]}` with `t` the bar's open time in
ms and zero-valued fields omitted (a missing field reads as 0). It returns at most 500 candles a
call, and a wider window silently keeps only the most recent 500, so the range is walked
backwards: ask for [start, end], take what came, ask again up to just before the oldest bar
received, until the start is reached or a call brings nothing older. Query timestamps go as ms
(what the reference prefers; the server also takes seconds).
"""
from __future__ import annotations

from adapters.lighter.tool_rest import ToolError, ToolRest, require

PAGE_MAX = 500
MINUTE_MS = 60_000
MAX_PAGES = 1000          # 500,000 minutes (~347 days): a bound, so a misbehaving server cannot loop us


def _field(candle: dict, key: str) -> float:
    value = candle.get(key) or 0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ToolError(f"malformed response: candle {candle.get('t')}: {key} is not a number: {value!r}") from None


def parse_candle(candle: object) -> tuple[float, float, float, float, float, float]:
    """(open time s, open, high, low, close, base volume); `t` in ms, or in s when below 10^12."""
    require(isinstance(candle, dict) and isinstance(candle.get("t"), (int, float)),
            f"a candle without a numeric t: {candle!r:.80}")
    assert isinstance(candle, dict)
    t = float(candle["t"])
    ts = t / 1000.0 if t >= 1e12 else t
    return (ts, _field(candle, "o"), _field(candle, "h"), _field(candle, "l"), _field(candle, "c"), _field(candle, "v"))


def fetch_candles(rest: ToolRest, market_id: int, start_s: float, end_s: float, resolution: str = "1m"
                  ) -> list[tuple[float, float, float, float, float, float]]:
    """Every 1-minute bar of `market_id` opening in [start_s, end_s], oldest first."""
    start_ms, end_ms = int(start_s * 1000), int(end_s * 1000)
    bars: dict[float, tuple] = {}
    upper = end_ms
    for _ in range(MAX_PAGES):
        count = min(PAGE_MAX, max(1, (upper - start_ms) // MINUTE_MS + 1))
        body = rest.get("/api/v1/candles", {"market_id": market_id, "resolution": resolution,
                                            "start_timestamp": start_ms, "end_timestamp": upper, "count_back": count})
        page = body.get("c")
        require(page is None or isinstance(page, list), "/api/v1/candles: `c` is not a list")
        rows = [parse_candle(c) for c in page or []]
        rows = [r for r in rows if start_s <= r[0] <= end_s]
        if not rows:
            break
        for row in rows:
            bars[row[0]] = row
        oldest_ms = int(min(r[0] for r in rows) * 1000)
        if oldest_ms <= start_ms or oldest_ms - 1 >= upper:
            break
        upper = oldest_ms - 1
    return [bars[t] for t in sorted(bars)]
