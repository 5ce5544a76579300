"""When our orders fill, by what the data can show: the fill model's rules in one place.

The mode follows the richest input of a replay: `l2` (full depth: Binance raw, Lighter
capture), `bbo` (top of book only), `trades` (prints only) or `klines` (1-minute bars).
`assumptions()` lists, in words, everything the model takes for granted; the report prints it.
"""
from __future__ import annotations

from adapters.replay.config import ReplayConfig

_BPS = 1e-4


class FillModel:
    def __init__(self, mode: str, config: ReplayConfig, queue_name: str, latency_name: str):
        self.mode = mode
        self.config = config
        self.queue_name = queue_name
        self.latency_name = latency_name
        self.kline_margin = config.kline_margin_bps * _BPS

    # -- resting orders ------------------------------------------------------------------------
    @staticmethod
    def through(buy: bool, order_px: float, print_px: float) -> bool:
        """A print strictly past our price: the level was swept."""
        return print_px < order_px if buy else print_px > order_px

    def kline_fills(self, buy: bool, order_px: float, path_px: float) -> bool:
        """A bar's path point fills us only past our price by the margin."""
        if buy:
            return path_px <= order_px * (1.0 - self.kline_margin)
        return path_px >= order_px * (1.0 + self.kline_margin)

    def queue_ahead_trades_only(self, own_size: float) -> float:
        return own_size * self.config.trades_queue_ahead_mult

    def assumptions(self) -> dict:
        c = self.config
        rules = {
            "l2": [
                "our order joins the back of its price level: the displayed size there is ahead of it",
                "prints at our price take the queue ahead first; what is left of a print fills us (partial fills "
                "limited by the print's size)",
                f"level decreases not explained by prints are cancellations, split ahead/behind by {self.queue_name}",
                "a print through our price fills us at our price, up to the print's size",
                "an opposite touch at or through our price fills us at our price, up to that level's size (shared "
                "among our orders, best price first)",
                "bookTicker lines of a raw capture are ignored: the depth diffs give the touch",
            ],
            "bbo": [
                "only the touch is known: an order joins with the touch size at its price (or the size last seen "
                "there); behind the touch the depth is unknown (no queue ahead unless seen before)",
                "prints at our price take the queue ahead first; partial fills limited by the print's size",
                f"touch-size decreases not explained by prints are cancellations, split by {self.queue_name}",
                "a print through our price, or the opposite touch reaching it, fills us at our price, up to the print's "
                "or the touch's size (shared among our orders, best price first)",
            ],
            "trades": [
                f"no book: the touch is the last print +/- {c.synthetic_spread_bps / 2:g} bps (synthetic, sizes 0)",
                f"the depth at our price is unknown: {c.trades_queue_ahead_mult:g} x our size is assumed ahead of us",
                "prints at our price reach us only after that queue; prints through our price fill us up to their size",
                "taker orders fill whole at the synthetic touch",
            ],
            "klines": [
                "this input cannot measure queue position: fills come only from bars trading through our price",
                "intrabar path: open, low, high, close for an up bar (close >= open), open, high, low, close "
                "otherwise; one point every 15 s",
                f"a path point fills us whole (up to a quarter of the bar's volume) only {c.kline_margin_bps:g} bps "
                "or more past our price",
                f"the touch is the path point +/- {c.synthetic_spread_bps / 2:g} bps (synthetic)",
                "taker orders fill whole at the synthetic touch",
            ],
        }[self.mode]
        return {
            "mode": self.mode,
            "queue_model": self.queue_name,
            "latency": self.latency_name,
            "maker_fee_bps": c.maker_fee_bps,
            "taker_fee_bps": c.taker_fee_bps,
            "request_limit": f"{c.request_limit} per {c.request_window_s:g} s" if c.request_limit else "none",
            "rules": rules + [
                "our orders never move the replayed market (no impact: large taking orders look better than they are)",
                "post-only orders crossing the touch when they arrive are canceled (canceled-post-only)",
                "the venue minimums of the market (size, notional) are enforced (21706)",
                "no funding is paid (the data has none)",
            ],
        }
