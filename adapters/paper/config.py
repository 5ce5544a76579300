"""The paper venue's configuration (`venue.paper` in config.yaml), owned by the adapter.

The core never names this class: the composition root (`lighter_bot.py`) assembles the
`venue:` section from the config model of every adapter (runtime/service/config.py).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runtime.config import (Bps, PositiveBps, PositiveQuote, PositiveSeconds, PositiveUnits, Rate,
                            Seconds, StrictModel)

RegimeName = Literal["calm", "trend_up", "trend_down", "volatile"]


class RegimeParams(StrictModel):
    """How the paper market moves in one regime. Every field is required, so overriding a
    regime in YAML restates it whole instead of silently mixing in another regime's numbers."""

    drift_bps_per_min: Annotated[float, Field(ge=-10_000, le=10_000)]                  # mean log-return per minute, signed
    vol_bps_per_min: Bps          # sigma of one-minute log-returns (scales with sqrt of time)
    mean_duration_s: PositiveSeconds             # a regime lasts an exponential time with this mean
    entry_weight: Annotated[float, Field(ge=0, le=100)]             # relative chance of being the next regime when one ends


class PaperRegimes(StrictModel):
    """The four regimes the paper market switches between. Each is sized to trip the guard
    it exists to exercise within a few simulated minutes."""

    # Median |1m return| of SOL is about 5 bps in the shared klines, i.e. sigma near 4-7 bps;
    # 3 bps of diffusion plus the sweeps' price impact (below) lands there.
    calm: RegimeParams = RegimeParams(
        drift_bps_per_min=0.0, vol_bps_per_min=3.0, mean_duration_s=180.0, entry_weight=4.0)
    # 20 bps/min crosses the seed's +12 bps / 45 s up-trend trigger (15 bps expected) over noise of ~5 bps.
    trend_up: RegimeParams = RegimeParams(
        drift_bps_per_min=20.0, vol_bps_per_min=6.0, mean_duration_s=90.0, entry_weight=1.0)
    # Mirror of trend_up; the seed's down-trend trigger (-6 bps) is reached even sooner.
    trend_down: RegimeParams = RegimeParams(
        drift_bps_per_min=-20.0, vol_bps_per_min=6.0, mean_duration_s=90.0, entry_weight=1.0)
    # 50 bps sigma takes the 45 s half-life EWMA vol from calm past the seed's 30 bps pause in under a minute.
    volatile: RegimeParams = RegimeParams(
        drift_bps_per_min=0.0, vol_bps_per_min=50.0, mean_duration_s=60.0, entry_weight=1.0)

    def get(self, name: RegimeName) -> RegimeParams:
        return getattr(self, name)


class ScriptStep(StrictModel):
    """One step of a scripted paper market: hold `regime` for `duration_s`."""

    regime: RegimeName
    duration_s: PositiveSeconds


class FaultWindow(StrictModel):
    """A scripted outage: from `at_s` after the start, for `duration_s`.

    `feed_stall`: market data stops (silently, as a stuck socket does; the bot sees its book
    age grow) and resumes with a fresh book top; orders and fills go on. `disconnect`: the
    venue reports VenueStatus down, sends fail with an unknown outcome, market data is lost,
    and account events wait for the reconnect, which is followed by account snapshots.
    """

    kind: Literal["feed_stall", "disconnect"]
    at_s: Seconds
    duration_s: PositiveSeconds


class PaperFaults(StrictModel):
    """Ways the paper venue misbehaves on purpose, as a real venue does now and then, so the
    runtime's bookkeeping runs against them (venue contract tests, rehearsals). All off by default."""

    seed: int = 11                             # its own random stream: faults never change the market
    fill_report_delay_s: Seconds = 0.0   # fills reach us this late (snapshots do not wait)
    duplicate_fill_prob: Annotated[float, Field(ge=0, le=1)] = 0.0  # a fill delivered again (reconnect replay)
    duplicate_after_s: Seconds = 1.0  # ... this long after the first delivery
    lost_ack_prob: Annotated[float, Field(ge=0, le=1)] = 0.0  # an order's acknowledgements never arrive
    cancel_reject_prob: Annotated[float, Field(ge=0, le=1)] = 0.0  # a cancel is refused; the order stays
    script: tuple[FaultWindow, ...] = ()       # scripted outages (feed stalls, disconnects)


class PaperConfig(StrictModel):
    """The embedded simulated venue (no keys, no network)."""

    seed: int = 7
    start_price: PositiveQuote = 185.0
    tick_s: PositiveSeconds = 0.1                # simulated market step
    half_spread_bps: PositiveBps = 1.0       # the simulated book's own half spread
    taker_fee_bps: Bps = 0.0      # seed: standard account, fees zero
    maker_fee_bps: Bps = 0.0
    # Both legs of a round trip, so a cancel can cross a fill in flight as it does on a real venue:
    latency_s: Seconds = 0.05                    # our request reaching the matching engine
    response_latency_s: Seconds = 0.05           # the venue's answer (acks, fills, snapshots) reaching us
    # Queue position (adapters/matching.py): we join behind what is displayed at our price.
    queue_position: bool = True
    queue_behind_touch_units: Annotated[float, Field(ge=0)] = 2.0  # depth resting at a level behind the touch
    # Lighter's standard account: 60 requests per rolling minute, every send counted (0 = no limit).
    request_limit: Annotated[int, Field(ge=0, le=1_000_000)] = 60
    request_window_s: PositiveSeconds = 60.0
    snapshot_interval_s: PositiveSeconds = 5.0   # account snapshots (orders, position) pushed this often
    poll_interval_s: PositiveSeconds = 0.05      # the driver drains this often between ticks, to react to fills
    funding_rate_per_hour: Annotated[float, Field(ge=-0.1, le=0.1)] = 0.0         # paid by longs when positive, once an hour on the position
    faults: PaperFaults = PaperFaults()
    trades_per_s: Rate = 2.0          # public trade prints
    trade_size_mean_units: PositiveUnits = 0.5  # public print sizes are exponential with this mean
    sweep_prob: Annotated[float, Field(ge=0, le=1)] = 0.05  # share of prints that sweep past the touch
    sweep_depth_bps_mean: PositiveBps = 5.0  # how far past the touch a sweep reaches (exponential mean)
    sweep_impact_frac: Annotated[float, Field(ge=0, le=1)] = 0.3  # share of a sweep's depth the mid keeps
                                               # (informed flow: what makes a maker's fills adverse)
    regimes: PaperRegimes = PaperRegimes()
    start_regime: RegimeName = "calm"          # where the Markov chain starts (ignored with a script)
    script: tuple[ScriptStep, ...] = ()        # fixed regime sequence, last regime held; empty = Markov chain
