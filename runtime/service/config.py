"""The whole of `config.yaml`: the core's sections, the service's `runtime:` section and the
`venue:` section assembled from the adapters' own config models, parsed once with located errors.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from rules.errors import ConfigError
from rules.source import YamlSyntaxError, load_yaml, read_text, validation_problems
from runtime.config import Config, StrictModel


class HttpConfig(StrictModel):
    """Where /metrics and /health answer, and who may use the operator controls
    (runtime/service/telemetry.py states the rules)."""

    bind: str = "127.0.0.1"                    # 0.0.0.0 (or ::) so a platform health check can reach it
    controls: bool = True                      # /control/halt|reduce|resume; off: they answer 404
    control_token_env: str = "LIGHTER_BOT_CONTROL_TOKEN"   # env var holding the bearer token for remote use

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"expected an IP address such as 127.0.0.1 or 0.0.0.0, got {value!r}") from None
        return value


class LedgerConfig(StrictModel):
    """The fills ledger (runtime/service/ledger.py): every fill and funding payment, on disk
    before the bot counts it as recorded; the seed's path and numbers."""

    enabled: bool = True
    path: str = "data/metrics/fills.jsonl"
    rotate_mb: Annotated[float, Field(ge=0.01, le=10_000.0)] = 5.0      # seed: 5 MB rotation
    window_hours: Annotated[float, Field(ge=0.01, le=8760.0)] = 6.0     # rotated files kept while this recent
    max_files: Annotated[int, Field(ge=1, le=10_000)] = 200             # disk bound, whatever the window says


class AlertThresholds(StrictModel):
    """Bounds the alert rules (deploy/alerts.yml) compare with; exported as
    `lighter_bot_alert_threshold{name=...}` so the rules read each bot's own config."""

    drawdown_quote: Annotated[float, Field(gt=0.0, le=1e9)] = 5.0          # peak-to-now PnL drop over 6 h
    inventory_frac: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8           # of risk.max_position_units
    pnl_30m_floor_quote: Annotated[float, Field(ge=-1e9, le=1e9)] = -1.0    # realized PnL over 30 minutes


class RuntimeConfig(StrictModel):
    # 10 ms .. 60 s: faster spins the CPU for nothing, slower cannot pull a quote in time.
    tick_interval_s: Annotated[float, Field(ge=0.01, le=60.0)] = 0.25
    policies_dir: str = "policies"
    # An empty policy folder turns every guard off; refused unless this says it is meant.
    allow_empty_policies: bool = False
    decision_log: str = "data/decisions.jsonl"
    # Rotate the trace at this size (seed: 5 MB ledger rotation); 0.1 MB .. 10 GB.
    decision_log_max_mb: Annotated[float, Field(ge=0.1, le=10_000.0)] = 5.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http: HttpConfig = HttpConfig()
    ledger: LedgerConfig = LedgerConfig()
    alerts: AlertThresholds = AlertThresholds()




class VenueSection(StrictModel):
    """`venue:`: which adapter trades (`kind`) and one sub-section per adapter, each the
    adapter's own model. `bot_config_model` fills in the adapters' fields."""

    kind: str


class BotConfig(Config):
    """Everything in `config.yaml`; built per set of adapters by `bot_config_model`."""

    venue: VenueSection
    runtime: RuntimeConfig = RuntimeConfig()


def bot_config_model(venues: dict[str, type[BaseModel]], default_kind: str) -> type[BotConfig]:
    """The `config.yaml` model for these adapters: `venue.kind` is one of their names, and
    `venue.<name>` is each adapter's own model with its defaults."""
    section = create_model(
        "VenueConfig", __base__=VenueSection,
        kind=(Literal[tuple(venues)], default_kind),
        **{name: (model, model()) for name, model in venues.items()})
    return create_model("BotConfig", __base__=BotConfig, venue=(section, section()))


def load_config(path: Path | None, model: type[BotConfig]) -> BotConfig:
    """Read `path` (None: the embedded defaults). Raises ConfigError with located problems."""
    if path is None:
        return model()
    try:
        source = load_yaml(read_text(path, "config"), path)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem]) from None
    if not isinstance(source.data, dict):
        raise ConfigError([source.problem((), "expected a mapping of sections (market:, maker:, ...)")])
    try:
        return model.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, source, model)) from None
