"""The replay venue's configuration (`venue.replay` in config.yaml): its fill model's choices.

Every field is an assumption of the simulation; the report prints them all (`fill_model`).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from runtime.config import Bps, PositiveSeconds, Seconds, StrictModel


class ReplayFaults(StrictModel):
    """Venue misbehaviour on purpose (contract tests, rehearsals); all off by default."""

    fill_report_delay_s: Seconds = 0.0      # fills reach us this late (snapshots do not wait)
    duplicate_fills: bool = False           # every fill is delivered twice, 1 s apart
    lost_acks: bool = False                 # acknowledgements of our orders never arrive


class ReplayConfig(StrictModel):
    entry_latency_s: Seconds = 0.05         # submit -> matching engine, place and modify
    cancel_latency_s: Seconds = 0.05        # submit -> matching engine, cancel
    queue_model: Literal["prob_power", "log", "risk_averse"] = "prob_power"
    queue_power_n: Annotated[float, Field(gt=0, le=10)] = 2.0
    maker_fee_bps: Bps = 0.0                # Lighter standard account: no fees
    taker_fee_bps: Bps = 0.0
    request_limit: Annotated[int, Field(ge=0, le=1_000_000)] = 60   # Lighter standard account
    request_window_s: PositiveSeconds = 60.0
    snapshot_interval_s: PositiveSeconds = 5.0
    kline_margin_bps: Bps = 1.0             # klines: a bar must trade this far past our price
    synthetic_spread_bps: Annotated[float, Field(gt=0, le=1000)] = 2.0   # trades/klines: assumed touch width
    trades_queue_ahead_mult: Annotated[float, Field(ge=0, le=1e6)] = 10.0  # trades-only: queue ahead, x our size
    faults: ReplayFaults = ReplayFaults()
