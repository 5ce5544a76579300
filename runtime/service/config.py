"""The whole of `config.yaml`: the core's sections, the service's `runtime:` section and the
`venue:` section assembled from the adapters' own config models, parsed once with located errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError, create_model

from rules.errors import ConfigError
from rules.source import YamlSyntaxError, load_yaml, read_text, validation_problems
from runtime.config import Config, PositiveFloat, StrictModel


class RuntimeConfig(StrictModel):
    tick_interval_s: PositiveFloat = 0.25
    policies_dir: str = "policies"
    decision_log: str = "data/decisions.jsonl"
    decision_log_max_mb: PositiveFloat = 5.0   # rotate the trace at this size (seed: 5 MB ledger rotation)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"




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
