"""A seeded, regime-switching SOL market for the paper exchange.

The guards the bot runs (trend filter, volatility pause, inventory limits) only do
something when the market moves in a particular way. A plain random walk rarely
trends long enough or bursts hard enough to trip them, so the mid follows one of
four regimes (`calm`, `trend_up`, `trend_down`, `volatile`) that switch as a Markov
chain, or follow a fixed script when a test needs one guard's scenario on cue.

Everything random comes from one `random.Random(seed)` and is drawn in simulated
time order, never in call order, so the market is the same however often the venue
drains it and whatever our orders do: a run is reproducible from its seed alone.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from adapters.paper.config import PaperConfig, RegimeName, RegimeParams
from runtime.events import BookTop, MarketTrade
from runtime.market import MarketSpec

# How much more often the aggressor trades with the trend than against it: in a trend
# 70 % of prints lift the ask (or hit the bid), the order-flow imbalance a trend has.
TREND_AGGRESSOR_BIAS = 0.2

# Mean size quoted at each side of the simulated touch: the queue ahead of an order joining
# there, and how much a book crossing our price can fill (our orders never deplete it); a
# few tens of SOL is what a mid-sized perp book shows at the top.
TOUCH_SIZE_MEAN_UNITS = 20.0

_BPS = 1e-4
# start_ts + k * tick_s carries float noise; a regime ending "at" a step ends at that step.
_TIME_EPS_S = 1e-9
# Event times are rounded to the microsecond so logs read 0.3, not 0.30000000000000004.
_TS_DECIMALS = 6
_SECONDS_PER_MIN = 60.0
_REGIMES: tuple[RegimeName, ...] = ("calm", "trend_up", "trend_down", "volatile")


@dataclass(frozen=True, slots=True)
class _StepParams:
    """A regime's parameters converted to one `tick_s` step, computed once per regime."""

    drift_log: float        # mean log-return per step
    sigma_log: float        # sigma of the log-return per step
    buy_aggressor_prob: float


def _step_params(regime: RegimeParams, tick_s: float) -> _StepParams:
    drift = regime.drift_bps_per_min * _BPS * tick_s / _SECONDS_PER_MIN
    sigma = regime.vol_bps_per_min * _BPS * math.sqrt(tick_s / _SECONDS_PER_MIN)
    trend_sign = (regime.drift_bps_per_min > 0) - (regime.drift_bps_per_min < 0)
    return _StepParams(drift, sigma, 0.5 + TREND_AGGRESSOR_BIAS * trend_sign)


class MarketSim:
    """The simulated public market: a mid, a quantized book top and trade prints.

    Two clocks run side by side: the mid moves every `tick_s` (a log-normal step in the
    current regime), and trade prints arrive as a Poisson process between steps at the
    book of the last step. `advance()` produces whichever comes first.
    """

    def __init__(self, market: MarketSpec, paper: PaperConfig, start_ts: float) -> None:
        self._rng = random.Random(paper.seed)
        self._paper = paper
        self._price_scale = 10**market.price_decimals
        self._size_scale = 10**market.size_decimals
        self._bid_factor = 1.0 - paper.half_spread_bps * _BPS
        self._ask_factor = 1.0 + paper.half_spread_bps * _BPS
        self._tick_s = paper.tick_s
        self._trades_per_s = paper.trades_per_s
        self._trade_size_rate = 1.0 / paper.trade_size_mean_units
        self._sweep_prob = paper.sweep_prob
        self._sweep_depth_rate = 1.0 / (paper.sweep_depth_bps_mean * _BPS)
        self._sweep_impact = paper.sweep_impact_frac
        self._touch_mean_lots = TOUCH_SIZE_MEAN_UNITS * self._size_scale
        self._step = {name: _step_params(paper.regimes.get(name), paper.tick_s) for name in _REGIMES}
        self._start_ts = start_ts
        self._steps_done = 0
        self._log_mid = math.log(paper.start_price)
        self.mid = paper.start_price
        self.bid_ticks = 0
        self.ask_ticks = 0
        self.bid_px = 0.0
        self.ask_px = 0.0
        self.bid_lots = 0
        self.ask_lots = 0
        # The first step (k = 0, at start_ts) publishes the opening book without moving.
        self.next_step_ts = start_ts
        self.next_trade_ts = round(start_ts + self._rng.expovariate(self._trades_per_s), _TS_DECIMALS)
        self._script_index = 0
        self.regime: RegimeName = paper.script[0].regime if paper.script else paper.start_regime
        self._regime_end_ts = start_ts + self._regime_duration_s()
        self._params = self._step[self.regime]

    @property
    def next_ts(self) -> float:
        """When the next market event (step or print) happens."""
        return self.next_trade_ts if self.next_trade_ts < self.next_step_ts else self.next_step_ts

    def advance(self) -> BookTop | MarketTrade | None:
        """Produce the next market event: a print, a changed book top, or None (the step
        moved the mid but not the quantized book)."""
        if self.next_trade_ts < self.next_step_ts:
            return self._print()
        return self._move()

    def run_until(self, limit_ts: float, out: list[BookTop | MarketTrade]) -> None:
        """Append every market event at or before `limit_ts` to `out`, in time order.

        The fast path for when nothing of ours rests on the book: no per-event hand-off.
        """
        while True:
            if self.next_trade_ts < self.next_step_ts:
                if self.next_trade_ts > limit_ts:
                    return
                out.append(self._print())
            else:
                if self.next_step_ts > limit_ts:
                    return
                book = self._move()
                if book is not None:
                    out.append(book)

    # -- regimes ---------------------------------------------------------------------

    def _regime_duration_s(self) -> float:
        script = self._paper.script
        if script:
            if self._script_index < len(script):
                return script[self._script_index].duration_s
            return math.inf  # script over: the last step's regime holds
        return self._rng.expovariate(1.0 / self._paper.regimes.get(self.regime).mean_duration_s)

    def _next_regime(self) -> RegimeName:
        if self._paper.script:
            self._script_index += 1
            return self._paper.script[min(self._script_index, len(self._paper.script) - 1)].regime
        regimes = self._paper.regimes
        others = [name for name in _REGIMES if name != self.regime]
        weights = [regimes.get(name).entry_weight for name in others]
        if sum(weights) <= 0:
            return self.regime  # nothing else may be entered: the regime renews itself
        return self._rng.choices(others, weights)[0]

    def _switch_regimes_until(self, ts: float) -> None:
        while ts >= self._regime_end_ts:
            self.regime = self._next_regime()
            self._regime_end_ts += self._regime_duration_s()
        self._params = self._step[self.regime]

    # -- events ----------------------------------------------------------------------

    def _move(self) -> BookTop | None:
        ts = self.next_step_ts
        rng = self._rng
        params = self._params
        if self._steps_done:
            self._log_mid += params.drift_log + params.sigma_log * rng.gauss(0.0, 1.0)
            self.mid = math.exp(self._log_mid)
        self._steps_done += 1
        self.next_step_ts = round(self._start_ts + self._steps_done * self._tick_s, _TS_DECIMALS)
        if ts + _TIME_EPS_S >= self._regime_end_ts:
            # The regime in force from this step on drives the next step's move.
            self._switch_regimes_until(ts + _TIME_EPS_S)
        scaled = self.mid * self._price_scale
        bid_ticks = math.floor(scaled * self._bid_factor)
        ask_ticks = math.ceil(scaled * self._ask_factor)
        if bid_ticks < 1:
            bid_ticks = 1   # a price must stay positive, however far a wild run falls
        if ask_ticks <= bid_ticks:
            ask_ticks = bid_ticks + 1
        if bid_ticks == self.bid_ticks and ask_ticks == self.ask_ticks:
            return None
        self.bid_ticks, self.ask_ticks = bid_ticks, ask_ticks
        self.bid_px = bid_ticks / self._price_scale
        self.ask_px = ask_ticks / self._price_scale
        # Touch sizes are uniform in [0.5, 1.5) x the mean: informative only, and one
        # uniform draw each keeps a book change cheap (it happens on most steps).
        touch_lots = self._touch_mean_lots
        self.bid_lots = int((0.5 + rng.random()) * touch_lots)
        self.ask_lots = int((0.5 + rng.random()) * touch_lots)
        return BookTop(ts, self.bid_px, self.bid_lots / self._size_scale, self.ask_px, self.ask_lots / self._size_scale)

    def book_top(self, ts: float) -> BookTop:
        """The current top, for a feed that resumes after a gap."""
        return BookTop(ts, self.bid_px, self.bid_lots / self._size_scale, self.ask_px, self.ask_lots / self._size_scale)

    def _print(self) -> MarketTrade:
        ts = self.next_trade_ts
        rng = self._rng
        self.next_trade_ts = round(ts + rng.expovariate(self._trades_per_s), _TS_DECIMALS)
        lots = max(1, round(rng.expovariate(self._trade_size_rate) * self._size_scale))
        # Most prints trade at the touch; a few are sweeps that walk the book several bps
        # deep. Those are what fill a maker quoting outside the touch, as on a real venue.
        depth = rng.expovariate(self._sweep_depth_rate) if rng.random() < self._sweep_prob else 0.0
        buy = rng.random() < self._params.buy_aggressor_prob
        if depth:
            # The sweep was informed: the mid keeps part of the move (seen from the next step on).
            self._log_mid += self._sweep_impact * depth if buy else -self._sweep_impact * depth
        if buy:
            ticks = math.ceil(self.ask_ticks * (1.0 + depth))
            return MarketTrade(ts, ticks / self._price_scale, lots / self._size_scale, "buy")
        ticks = max(1, math.floor(self.bid_ticks * (1.0 - depth)))
        return MarketTrade(ts, ticks / self._price_scale, lots / self._size_scale, "sell")
