"""`config.yaml`, parsed once into frozen, typed models.

Defaults are the seed bot's numbers for market 2 (SOL); the packet is quoted in
the comments. Unknown keys are errors with the full key path and a suggestion,
so a misspelt key never silently falls back to a default.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rules.errors import ConfigError, Problem
from rules.source import YamlSyntaxError, load_yaml, validation_problems

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    # inf/nan would silently disable a limit (`max_position_units: .inf`); refuse them.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class MarketConfig(_Model):
    """The market traded. Live, these are checked against Lighter's `orderBookDetails`."""

    market_id: int = 2
    symbol: str = "SOL"
    price_decimals: Annotated[int, Field(ge=0, le=8)] = 3
    size_decimals: Annotated[int, Field(ge=0, le=8)] = 3
    min_base_units: PositiveFloat = 0.061      # seed: exchange min size 0.061
    min_quote: NonNegativeFloat = 10.0         # Lighter's per-order minimum notional


class VolatilityConfig(_Model):
    """EWMA volatility, and the band mapping it to the quoted spread: calm markets get
    `min_spread_bps`, wild ones `max_spread_bps` (linear in between)."""

    halflife_s: PositiveFloat = 45.0           # seed: maker.volatility halflife 45 s
    min_spread_bps: PositiveFloat = 7.0        # seed: volatility-aware band 7 -> 13 bps
    max_spread_bps: PositiveFloat = 13.0
    calm_vol_bps: NonNegativeFloat = 4.0       # at or below: the band's low end
    wild_vol_bps: PositiveFloat = 20.0         # at or above: the band's high end

    @model_validator(mode="after")
    def _ordered(self) -> "VolatilityConfig":
        if self.min_spread_bps > self.max_spread_bps:
            raise ValueError("min_spread_bps must not exceed max_spread_bps")
        if self.calm_vol_bps >= self.wild_vol_bps:
            raise ValueError("calm_vol_bps must be below wild_vol_bps")
        return self


class TrendConfig(_Model):
    lookback_s: PositiveFloat = 45.0           # seed: maker.trend 45 s lookback


class AdaptiveSize(_Model):
    """Size multiplier from volatility: larger clips when calm, smaller when wild."""

    calm_mult: PositiveFloat = 1.1             # seed: adaptive size multipliers 0.7 -> 1.1
    wild_mult: PositiveFloat = 0.7


class MakerConfig(_Model):
    """Quoting: where the bid and ask sit and how big they are."""

    size_units: PositiveFloat = 0.064          # seed: maker.size 0.064
    size_min_units: PositiveFloat = 0.061      # seed: size_min 0.061
    size_max_units: PositiveFloat = 0.072      # seed: size_max 0.072
    notional_floor: NonNegativeFloat = 10.5    # seed: notional floor 10.5 (quote currency)
    spread_bps: PositiveFloat = 12.0           # seed: baseline 12 bps, full bid-to-ask width
    volatility: VolatilityConfig = VolatilityConfig()
    trend: TrendConfig = TrendConfig()
    adaptive_size: AdaptiveSize = AdaptiveSize()
    max_spread_add_bps: NonNegativeFloat = 20.0   # ceiling on the sum of policy widening
    max_spread_cut_bps: NonNegativeFloat = 5.0    # floor on the sum of policy tightening (as a positive number)
    min_spread_bps: PositiveFloat = 4.0        # never quote tighter than this, whatever the policies say
    requote_tolerance_bps: NonNegativeFloat = 1.5  # re-post only when the wanted price moves further than this

    @model_validator(mode="after")
    def _sizes(self) -> "MakerConfig":
        if not self.size_min_units <= self.size_units <= self.size_max_units:
            raise ValueError("expected size_min_units <= size_units <= size_max_units")
        return self


class FeatureConfig(_Model):
    """Windows and horizons of the feature store (volatility and trend live under `maker`)."""

    pnl_slice_s: PositiveFloat = 300.0         # seed: 5 minute realized-PnL watchdog
    edge_window_s: PositiveFloat = 1800.0      # seed plan step 1: realized >= 0 for 30 min
    hit_fast_ms: PositiveFloat = 1000.0        # a fill this soon after posting counts as "hit immediately"
    hit_window_fills: Annotated[int, Field(ge=1)] = 20
    markout_horizon_s: PositiveFloat = 5.0


class InventoryConfig(_Model):
    soft_cap_units: PositiveFloat = 0.2        # the seed names a soft cap without a value; 2/3 of the hard max


class HedgerConfig(_Model):
    """Hedging toward `target_units`: passive first, crossing only when exposure has lasted."""

    enabled: bool = True                       # seed: hedger live (dry_run false)
    trigger_units: PositiveFloat = 0.05        # seed: trigger_units 0.05
    target_units: NonNegativeFloat = 0.02      # seed: target_units 0.02
    max_clip_units: PositiveFloat = 0.10       # seed: max_clip_units 0.10
    max_slippage_bps: PositiveFloat = 12.0     # seed: max_slippage_bps 12
    passive_wait_s: PositiveFloat = 0.25       # seed: passive 0.25 s wait
    passive_offset_bps: NonNegativeFloat = 2.0  # seed: @ 2 bps
    aggressive_after_s: PositiveFloat = 8.0    # seed: forces aggressive cross after 8 s exposure (a backstop:
                                               # policies/hedger_escalation.yaml may force it sooner)
    cross_bps: NonNegativeFloat = 4.0          # how far past the touch a cross is priced by default
    cooldown_s: NonNegativeFloat = 0.0         # pause between hedge clips (policies may lengthen it)
    max_chase_bps: PositiveFloat = 12.0        # abandon a planned cross once mid moved this far from the plan

    @model_validator(mode="after")
    def _levels(self) -> "HedgerConfig":
        if self.target_units >= self.trigger_units:
            raise ValueError("target_units must be below trigger_units")
        return self


class RiskConfig(_Model):
    """Hard limits. Policies may tighten behaviour; nothing a policy says can loosen these."""

    max_position_units: PositiveFloat = 0.3    # seed: guard.max_position_units 0.3
    max_inventory_notional: PositiveFloat = 50.0  # seed: guard.max_inventory_notional 50
    kill_switch: bool = False                  # true: start HALTED and stay there


RegimeName = Literal["calm", "trend_up", "trend_down", "volatile"]


class RegimeParams(_Model):
    """How the paper market moves in one regime. Every field is required, so overriding a
    regime in YAML restates it whole instead of silently mixing in another regime's numbers."""

    drift_bps_per_min: float                   # mean log-return per minute, signed
    vol_bps_per_min: NonNegativeFloat          # sigma of one-minute log-returns (scales with sqrt of time)
    mean_duration_s: PositiveFloat             # a regime lasts an exponential time with this mean
    entry_weight: NonNegativeFloat             # relative chance of being the next regime when one ends


class PaperRegimes(_Model):
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


class ScriptStep(_Model):
    """One step of a scripted paper market: hold `regime` for `duration_s`."""

    regime: RegimeName
    duration_s: PositiveFloat


class PaperConfig(_Model):
    """The embedded simulated venue (no keys, no network)."""

    seed: int = 7
    start_price: PositiveFloat = 185.0
    tick_s: PositiveFloat = 0.1                # simulated market step
    half_spread_bps: PositiveFloat = 1.0       # the simulated book's own half spread
    taker_fee_bps: NonNegativeFloat = 0.0      # seed: standard account, fees zero
    maker_fee_bps: NonNegativeFloat = 0.0
    latency_s: NonNegativeFloat = 0.0          # order acknowledgement delay
    trades_per_s: PositiveFloat = 2.0          # public trade prints
    trade_size_mean_units: PositiveFloat = 0.5  # public print sizes are exponential with this mean
    sweep_prob: Annotated[float, Field(ge=0, le=1)] = 0.05  # share of prints that sweep past the touch
    sweep_depth_bps_mean: PositiveFloat = 5.0  # how far past the touch a sweep reaches (exponential mean)
    sweep_impact_frac: Annotated[float, Field(ge=0, le=1)] = 0.3  # share of a sweep's depth the mid keeps
                                               # (informed flow: what makes a maker's fills adverse)
    regimes: PaperRegimes = PaperRegimes()
    start_regime: RegimeName = "calm"          # where the Markov chain starts (ignored with a script)
    script: tuple[ScriptStep, ...] = ()        # fixed regime sequence, last regime held; empty = Markov chain


class VenueConfig(_Model):
    kind: Literal["paper"] = "paper"
    paper: PaperConfig = PaperConfig()


class RuntimeConfig(_Model):
    tick_interval_s: PositiveFloat = 0.25
    policies_dir: str = "policies"
    decision_log: str = "data/decisions.jsonl"
    decision_log_max_mb: PositiveFloat = 5.0   # rotate the trace at this size (seed: 5 MB ledger rotation)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Config(_Model):
    """The whole of `config.yaml`."""

    market: MarketConfig = MarketConfig()
    maker: MakerConfig = MakerConfig()
    features: FeatureConfig = FeatureConfig()
    inventory: InventoryConfig = InventoryConfig()
    hedger: HedgerConfig = HedgerConfig()
    risk: RiskConfig = RiskConfig()
    venue: VenueConfig = VenueConfig()
    runtime: RuntimeConfig = RuntimeConfig()


def load_config(path: Path | None) -> Config:
    """Read `path` (None: the embedded defaults). Raises ConfigError with located problems."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([Problem(path, 0, 0, "", f"cannot read config: {exc.strerror}")]) from None
    try:
        source = load_yaml(text, path)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem]) from None
    if not isinstance(source.data, dict):
        raise ConfigError([source.problem((), "expected a mapping of sections (market:, maker:, ...)")])
    try:
        return Config.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, source, Config)) from None
