"""The trading core's configuration: frozen, typed models of its sections of `config.yaml`.

Defaults are the seed bot's numbers for market 2 (SOL); the packet is quoted in
the comments. Unknown keys are errors with the full key path and a suggestion,
so a misspelt key never silently falls back to a default.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]

# Every number in config.yaml has a sane range, by what it measures; out of range is a located
# error naming the range ("expected less than or equal to 10000"), never a silent spin or overflow.
WEEK_S = 7 * 86_400.0
Seconds = Annotated[float, Field(ge=0, le=WEEK_S)]
PositiveSeconds = Annotated[float, Field(ge=0.001, le=WEEK_S)]     # a 1e-300 s wait would spin
Millis = Annotated[float, Field(ge=1, le=WEEK_S * 1000)]
Bps = Annotated[float, Field(ge=0, le=10_000)]                      # at most 100 %
PositiveBps = Annotated[float, Field(gt=0, le=10_000)]
Units = Annotated[float, Field(ge=0, le=1e6)]                       # base currency
PositiveUnits = Annotated[float, Field(gt=0, le=1e6)]
Quote = Annotated[float, Field(ge=0, le=1e9)]                       # quote currency
PositiveQuote = Annotated[float, Field(gt=0, le=1e9)]
Multiplier = Annotated[float, Field(gt=0, le=100)]
Rate = Annotated[float, Field(gt=0, le=1e4)]                        # events per second


class StrictModel(BaseModel):
    """Base of every config section: frozen, unknown keys refused, no inf/nan, no booleans for numbers."""

    # inf/nan would silently disable a limit (`max_position_units: .inf`); refuse them.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """`max_position_units: true` would otherwise read as 1.0."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (float, int):
            raise ValueError(f"expected a number, got {value!r}")
        return value


class MarketConfig(StrictModel):
    """The market traded. Live, these are checked against Lighter's `orderBookDetails`."""

    market_id: int = 2
    symbol: str = "SOL"
    price_decimals: Annotated[int, Field(ge=0, le=8)] = 3
    size_decimals: Annotated[int, Field(ge=0, le=8)] = 3
    min_base_units: PositiveUnits = 0.061      # seed: exchange min size 0.061
    min_quote: Quote = 10.0         # Lighter's per-order minimum notional


class VolatilityConfig(StrictModel):
    """EWMA volatility, and the band mapping it to the quoted spread: calm markets get
    `min_spread_bps`, wild ones `max_spread_bps` (linear in between)."""

    halflife_s: PositiveSeconds = 45.0           # seed: maker.volatility halflife 45 s
    min_spread_bps: PositiveBps = 7.0        # seed: volatility-aware band 7 -> 13 bps
    max_spread_bps: PositiveBps = 13.0
    calm_vol_bps: Bps = 4.0       # at or below: the band's low end
    wild_vol_bps: PositiveBps = 20.0         # at or above: the band's high end

    @model_validator(mode="after")
    def _ordered(self) -> "VolatilityConfig":
        if self.min_spread_bps > self.max_spread_bps:
            raise ValueError("min_spread_bps must not exceed max_spread_bps")
        if self.calm_vol_bps >= self.wild_vol_bps:
            raise ValueError("calm_vol_bps must be below wild_vol_bps")
        return self


class TrendConfig(StrictModel):
    lookback_s: PositiveSeconds = 45.0           # seed: maker.trend 45 s lookback


class AdaptiveSize(StrictModel):
    """Size multiplier from volatility: larger clips when calm, smaller when wild."""

    calm_mult: Multiplier = 1.1             # seed: adaptive size multipliers 0.7 -> 1.1
    wild_mult: Multiplier = 0.7


class MakerConfig(StrictModel):
    """Quoting: where the bid and ask sit and how big they are."""

    size_units: PositiveUnits = 0.064          # seed: maker.size 0.064
    size_min_units: PositiveUnits = 0.061      # seed: size_min 0.061
    size_max_units: PositiveUnits = 0.072      # seed: size_max 0.072
    notional_floor: Quote = 10.5    # seed: notional floor 10.5 (quote currency)
    spread_bps: PositiveBps = 12.0           # seed: baseline 12 bps, full bid-to-ask width
    volatility: VolatilityConfig = VolatilityConfig()
    trend: TrendConfig = TrendConfig()
    adaptive_size: AdaptiveSize = AdaptiveSize()
    max_spread_add_bps: Bps = 20.0   # ceiling on the sum of policy widening
    max_spread_cut_bps: Bps = 5.0    # floor on the sum of policy tightening (as a positive number)
    min_spread_bps: PositiveBps = 4.0        # never quote tighter than this, whatever the policies say
    requote_tolerance_bps: Bps = 1.5  # re-post only when the wanted price moves further than this
    # Budget-aware quoting (Lighter's standard account: 60 requests a minute, sends included).
    min_quote_life_s: Seconds = 3.0   # a quote rests this long before a re-quote that only improves it
    budget_tolerance_mult: Annotated[float, Field(ge=1)] = 4.0  # the tolerance grows up to this multiple...
    budget_low_frac: Annotated[float, Field(gt=0, le=1)] = 0.5  # ...as the budget left falls below this share
    budget_reserve_frac: Annotated[float, Field(ge=0, lt=1)] = 0.1  # below this only protective re-quotes go out

    @model_validator(mode="after")
    def _sizes(self) -> "MakerConfig":
        if not self.size_min_units <= self.size_units <= self.size_max_units:
            raise ValueError("expected size_min_units <= size_units <= size_max_units")
        return self


class FeatureConfig(StrictModel):
    """Windows and horizons of the feature store (volatility and trend live under `maker`)."""

    pnl_slice_s: PositiveSeconds = 300.0         # seed: 5 minute realized-PnL watchdog
    edge_window_s: PositiveSeconds = 1800.0      # seed plan step 1: realized >= 0 for 30 min
    hit_fast_ms: Millis = 1000.0        # a fill this soon after posting counts as "hit immediately"
    hit_window_fills: Annotated[int, Field(ge=1, le=10_000)] = 20
    markout_horizon_s: PositiveSeconds = 5.0


class InventoryConfig(StrictModel):
    soft_cap_units: PositiveUnits = 0.2        # the seed names a soft cap without a value; 2/3 of the hard max


class HedgerConfig(StrictModel):
    """Hedging toward `target_units`: passive first, crossing only when exposure has lasted."""

    enabled: bool = True                       # seed: hedger live (dry_run false)
    trigger_units: PositiveUnits = 0.05        # seed: trigger_units 0.05
    target_units: Units = 0.02      # seed: target_units 0.02
    max_clip_units: PositiveUnits = 0.10       # seed: max_clip_units 0.10
    max_slippage_bps: PositiveBps = 12.0     # seed: max_slippage_bps 12
    passive_wait_s: PositiveSeconds = 0.25       # seed: passive 0.25 s wait
    passive_offset_bps: Bps = 2.0  # seed: @ 2 bps
    aggressive_after_s: PositiveSeconds = 8.0    # seed: forces aggressive cross after 8 s exposure (a backstop:
                                               # policies/hedger_escalation.yaml may force it sooner)
    cross_bps: Bps = 4.0          # how far past the touch a cross is priced by default
    cooldown_s: Seconds = 0.0         # pause between hedge clips (policies may lengthen it)
    max_chase_bps: PositiveBps = 12.0        # abandon a planned cross once mid moved this far from the plan
    standdown_s: PositiveSeconds = 20.0      # after an abandoned cross, no cross for this long (passive only)...
    retrace_bps: Bps = 4.0                   # ...unless the mid comes back within this of the plan's mid
    requote_tolerance_bps: Bps = 1.5  # re-price a resting passive hedge only beyond this drift...
    min_order_life_s: Seconds = 1.0   # ...and once it has rested this long (each move is a request)

    @model_validator(mode="after")
    def _levels(self) -> "HedgerConfig":
        if self.target_units >= self.trigger_units:
            raise ValueError("target_units must be below trigger_units")
        if self.retrace_bps >= self.max_chase_bps:
            raise ValueError("retrace_bps must be below max_chase_bps (a retrace is back inside the chase band)")
        return self


class OrdersConfig(StrictModel):
    """Order bookkeeping against a venue that can be slow, lossy or behind."""

    ack_timeout_s: PositiveSeconds = 5.0         # a send unanswered this long is in doubt until a snapshot settles it
    snapshot_settle_s: PositiveSeconds = 1.0     # an order sent this long before a snapshot must be in it, else it
                                               # never reached the book
    reconcile_grace_s: PositiveSeconds = 2.0     # a position snapshot waits this long for fills it already includes
    reconcile_interval_s: PositiveSeconds = 2.0  # while orders are in doubt, ask for a snapshot at most this often


class RiskConfig(StrictModel):
    """Hard limits. Policies may tighten behaviour; nothing a policy says can loosen these."""

    max_position_units: PositiveUnits = 0.3    # seed: guard.max_position_units 0.3
    max_inventory_notional: PositiveQuote = 50.0  # seed: guard.max_inventory_notional 50
    kill_switch: bool = False                  # true: start HALTED and stay there
    # Per order: a quote is 0.061-0.072 SOL and a hedge clip at most 0.1 x 1.4 escalation; anything
    # much bigger is a bug or a fat finger.
    max_order_units: PositiveUnits = 0.2
    max_order_notional: PositiveQuote = 40.0
    price_band_bps: PositiveBps = 100.0        # no order priced further than this from the mid
    max_book_age_s: PositiveSeconds = 5.0      # no new order on a book older than this
    max_orders_per_min: Annotated[int, Field(ge=1, le=100_000)] = 50    # places and modifies, rolling minute
    max_cancels_per_min: Annotated[int, Field(ge=1, le=100_000)] = 50   # beyond it, no new order (cancels pass)
    # Hard drawdown stop on equity (realized + unrealized PnL) from its peak within the window:
    # REDUCING past the first bound, HALTED past the second; both latch until an operator resumes.
    max_drawdown_quote: PositiveQuote = 1.5    # 5 % of the seed's $30 account
    halt_drawdown_quote: PositiveQuote = 3.0
    drawdown_window_s: PositiveSeconds = 3600.0

    @model_validator(mode="after")
    def _ordered(self) -> "RiskConfig":
        if self.halt_drawdown_quote < self.max_drawdown_quote:
            raise ValueError("halt_drawdown_quote must be at least max_drawdown_quote")
        return self


class Config(StrictModel):
    """The trading core's sections of `config.yaml`.

    The service adds its own section (`runtime:`) and the composition root adds `venue:`,
    assembled from the config model each adapter owns (runtime/service/config.py).
    """

    market: MarketConfig = MarketConfig()
    maker: MakerConfig = MakerConfig()
    features: FeatureConfig = FeatureConfig()
    inventory: InventoryConfig = InventoryConfig()
    hedger: HedgerConfig = HedgerConfig()
    orders: OrdersConfig = OrdersConfig()
    risk: RiskConfig = RiskConfig()

    @model_validator(mode="after")
    def _hedgeable(self) -> "Config":
        # A position p with trigger < p < min_base - target can never be hedged: a reduce-only clip
        # of it is under the venue minimum, and the minimum would flip it past the target band
        # (runtime/hedger.py). A guard that waits for inventory to shrink then waits for good.
        if self.hedger.trigger_units + self.hedger.target_units < self.market.min_base_units:
            raise ValueError(
                f"hedger.trigger_units + hedger.target_units ({self.hedger.trigger_units:g} + "
                f"{self.hedger.target_units:g}) must be at least market.min_base_units "
                f"({self.market.min_base_units:g}): a position between the trigger and the venue minimum "
                "minus the target could never be hedged")
        return self
