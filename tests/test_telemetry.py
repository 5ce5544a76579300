"""The telemetry server, scraped over real HTTP on 127.0.0.1 as Prometheus and operators would."""
from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.service.operator import OperatorCommands
from runtime.status import BotStatus, QuoteSnapshot
from runtime.service.telemetry import TelemetryServer, port_from_env

STALE_AFTER_S = 5.0


def make_status(**overrides: object) -> BotStatus:
    """A plausible mid-session snapshot whose every number is distinct, so a swap would show."""
    status = BotStatus(
        ts=1_700_000_000.0,
        wall_ts=time.time(),
        ticks_total=1234,
        market="SOL (market 2)",
        venue="paper",
        venue_healthy=True,
        trading_state="reducing",
        trading_state_reason="inventory over soft cap",
        policy_version="abc123",
        policy_set_valid=True,
        policy_reload_total=3,
        policy_reload_errors_total=1,
        policy_rule_errors_total=2,
        firing_rules=("trend.trend_guard", "vol.volatility_pause"),
        states={"regime": "trending", "pnl_guard": "armed"},
        gauges={"maker_regime_state": 2.0, "maker_guard_block_active": 1.0},
        shadow_version="def456",
        shadow_gauges={"maker_regime_state": 1.0},
        shadow_disagreement_ratio=0.25,
        shadow_disagreements_total=7,
        bid=QuoteSnapshot(price=149.5, size=0.4),
        ask=None,
        features={"inventory_units": -0.3, "inventory_notional": -45.0, "mid": 150.0,
                  "realized_pnl_total": 12.5, "vol_bps": 22.0},
        fills_total=40,
        orders_placed_total=500,
        orders_canceled_total=450,
        orders_rejected_total=5,
        intents_denied_total={"max_position": 6, "halted": 2},
        tick_seconds_last=0.0042,
    )
    return replace(status, **overrides)


class StatusSource:
    """What the trading loop would publish: a snapshot the test swaps, or an error."""

    def __init__(self, status: BotStatus | None) -> None:
        self.status = status
        self.error: Exception | None = None

    def __call__(self) -> BotStatus | None:
        if self.error is not None:
            raise self.error
        return self.status


@pytest.fixture
def source() -> StatusSource:
    return StatusSource(make_status())


@pytest.fixture
def commands() -> OperatorCommands:
    return OperatorCommands()


@pytest.fixture
def server(source: StatusSource, commands: OperatorCommands) -> Iterator[TelemetryServer]:
    with TelemetryServer(source, commands, port=0, stale_after_s=STALE_AFTER_S) as running:
        yield running


def scrape(server: TelemetryServer) -> dict[tuple[str, frozenset], float]:
    """Every sample as {(name, labels): value}, through the official parser (so it must be valid)."""
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples: dict, metric: str, /, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


# -- /metrics --------------------------------------------------------------------------------


def test_policy_and_shadow_metrics_keep_their_exact_names(server: TelemetryServer) -> None:
    samples = scrape(server)
    assert value(samples, "maker_regime_state") == 2.0
    assert value(samples, "maker_guard_block_active") == 1.0
    assert value(samples, "shadow_maker_regime_state") == 1.0
    assert value(samples, "shadow_disagreement_ratio") == 0.25
    assert value(samples, "shadow_disagreements_total") == 7
    assert value(samples, "shadow_policy_set_info", version="def456") == 1
    assert value(samples, "policy_set_version", version="abc123") == 1
    assert value(samples, "policy_set_valid") == 1
    assert value(samples, "policy_reload_total") == 3
    assert value(samples, "policy_reload_errors_total") == 1
    assert value(samples, "policy_rule_errors_total") == 2
    assert not any(name.startswith("lighter_bot_maker") for name, _ in samples)


def test_runtime_metrics_carry_the_snapshot_values(server: TelemetryServer) -> None:
    samples = scrape(server)
    assert value(samples, "lighter_bot_quote_price", side="bid") == 149.5
    assert value(samples, "lighter_bot_quote_size", side="bid") == 0.4
    assert ("lighter_bot_quote_price", frozenset({("side", "ask")})) not in samples
    assert value(samples, "lighter_bot_inventory_units") == -0.3
    assert value(samples, "lighter_bot_inventory_notional") == -45.0
    assert value(samples, "lighter_bot_mid") == 150.0
    assert value(samples, "lighter_bot_realized_pnl_quote") == 12.5
    assert value(samples, "maker_fifo_realized_quote") == 12.5
    assert value(samples, "lighter_bot_feature", name="vol_bps") == 22.0
    assert value(samples, "lighter_bot_ticks_total") == 1234
    assert value(samples, "lighter_bot_fills_total") == 40
    assert value(samples, "lighter_bot_orders_placed_total") == 500
    assert value(samples, "lighter_bot_orders_canceled_total") == 450
    assert value(samples, "lighter_bot_orders_rejected_total") == 5
    assert value(samples, "lighter_bot_intents_denied_total", reason="max_position") == 6
    assert value(samples, "lighter_bot_intents_denied_total", reason="halted") == 2
    assert value(samples, "lighter_bot_tick_seconds_last") == 0.0042
    assert value(samples, "lighter_bot_venue_healthy") == 1
    assert value(samples, "lighter_bot_rule_firing", rule="trend.trend_guard") == 1
    assert value(samples, "lighter_bot_rule_firing", rule="vol.volatility_pause") == 1
    assert value(samples, "lighter_bot_state", machine="regime", state="trending") == 1
    assert value(samples, "lighter_bot_state", machine="pnl_guard", state="armed") == 1


def test_missing_features_read_as_zero(server: TelemetryServer, source: StatusSource) -> None:
    source.status = make_status(features={}, bid=None, shadow_version=None)
    samples = scrape(server)
    assert value(samples, "lighter_bot_mid") == 0.0
    assert value(samples, "maker_fifo_realized_quote") == 0.0
    assert not any(name in ("lighter_bot_quote_price", "lighter_bot_feature", "shadow_policy_set_info")
                   for name, _ in samples)


@pytest.mark.parametrize("current", ["active", "reducing", "halted"])
def test_trading_state_is_one_hot(server: TelemetryServer, source: StatusSource, current: str) -> None:
    source.status = make_status(trading_state=current)
    samples = scrape(server)
    exported = {dict(labels)["state"]: v for (name, labels), v in samples.items()
                if name == "lighter_bot_trading_state"}
    assert exported == {state: float(state == current) for state in ("active", "reducing", "halted")}


def test_policy_set_valid_follows_each_scrape(server: TelemetryServer, source: StatusSource) -> None:
    assert value(scrape(server), "policy_set_valid") == 1
    source.status = make_status(policy_set_valid=False)
    assert value(scrape(server), "policy_set_valid") == 0
    source.status = make_status(policy_set_valid=True)
    assert value(scrape(server), "policy_set_valid") == 1


def test_odd_gauge_names_are_sanitized_and_collisions_dropped(
        server: TelemetryServer, source: StatusSource) -> None:
    source.status = make_status(gauges={"maker-spread.bps": 4.0, "9lives": 9.0, "policy_set_valid": 42.0})
    samples = scrape(server)    # parses, and has no duplicate series
    assert value(samples, "maker_spread_bps") == 4.0
    assert value(samples, "_9lives") == 9.0
    assert value(samples, "policy_set_valid") == 1     # ours wins over a policy gauge of the same name


def test_metrics_before_the_first_tick_are_empty_not_an_error(
        server: TelemetryServer, source: StatusSource) -> None:
    source.status = None
    assert scrape(server) == {}


def test_each_server_has_its_own_registry(source: StatusSource) -> None:
    other = StatusSource(make_status(gauges={"maker_regime_state": 5.0}))
    with TelemetryServer(source, None, port=0) as first, TelemetryServer(other, None, port=0) as second:
        assert value(scrape(first), "maker_regime_state") == 2.0
        assert value(scrape(second), "maker_regime_state") == 5.0


# -- /health ---------------------------------------------------------------------------------


def test_health_is_200_when_fresh_and_venue_healthy(server: TelemetryServer) -> None:
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["trading_state"] == "reducing"
    assert body["trading_state_reason"] == "inventory over soft cap"   # why, not just what
    assert body["policy_version"] == "abc123"
    assert body["policy_set_valid"] is True
    assert body["venue_healthy"] is True
    assert 0 <= body["last_tick_age_s"] < STALE_AFTER_S
    assert body["ticks_total"] == 1234
    assert body["market"] == "SOL (market 2)"
    assert body["venue"] == "paper"


def test_health_is_503_when_the_last_tick_is_stale(server: TelemetryServer, source: StatusSource) -> None:
    source.status = make_status(wall_ts=time.time() - 2 * STALE_AFTER_S)
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["last_tick_age_s"] >= STALE_AFTER_S


def test_health_is_503_when_the_venue_is_unhealthy(server: TelemetryServer, source: StatusSource) -> None:
    source.status = make_status(venue_healthy=False)
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["venue_healthy"] is False


def test_health_is_503_before_the_first_tick(server: TelemetryServer, source: StatusSource) -> None:
    source.status = None
    response = httpx.get(f"{server.url}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "starting"


# -- /control --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["halt", "reduce", "resume"])
def test_control_queues_the_command_with_its_reason(
        server: TelemetryServer, commands: OperatorCommands, action: str) -> None:
    response = httpx.post(f"{server.url}/control/{action}", json={"reason": "funding spike"})
    assert response.status_code == 202
    assert response.json() == {"queued": action}
    assert commands.drain() == [(action, "funding spike")]


def test_control_without_a_body_uses_the_default_reason(
        server: TelemetryServer, commands: OperatorCommands) -> None:
    assert httpx.post(f"{server.url}/control/halt").status_code == 202
    assert commands.drain() == [("halt", "operator via HTTP")]


def test_control_rejects_a_malformed_body_and_queues_nothing(
        server: TelemetryServer, commands: OperatorCommands) -> None:
    assert httpx.post(f"{server.url}/control/halt", content=b"not json").status_code == 400
    assert httpx.post(f"{server.url}/control/halt", json={"reason": 3}).status_code == 400
    assert commands.drain() == []


def test_control_endpoints_are_absent_without_a_mailbox(source: StatusSource) -> None:
    with TelemetryServer(source, None, port=0) as read_only:
        assert httpx.post(f"{read_only.url}/control/halt").status_code == 404
        assert httpx.get(f"{read_only.url}/health").status_code == 200


def test_control_needs_post(server: TelemetryServer, commands: OperatorCommands) -> None:
    response = httpx.get(f"{server.url}/control/halt")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert commands.drain() == []


# -- routing and failure ---------------------------------------------------------------------


def test_unknown_path_is_404_and_wrong_method_is_405(server: TelemetryServer) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    assert httpx.post(f"{server.url}/metrics").status_code == 405
    assert httpx.delete(f"{server.url}/health").status_code == 405


def test_a_failing_status_is_a_500_and_the_server_keeps_serving(
        server: TelemetryServer, source: StatusSource) -> None:
    source.error = RuntimeError("snapshot exploded")
    for path in ("/metrics", "/health"):
        response = httpx.get(f"{server.url}{path}")
        assert response.status_code == 500
        assert "RuntimeError" in response.json()["error"]
    source.error = None
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert value(scrape(server), "maker_regime_state") == 2.0


# -- lifecycle -------------------------------------------------------------------------------


def test_a_taken_port_raises_an_oserror_naming_it(source: StatusSource) -> None:
    with TelemetryServer(source, None, port=0) as holder:
        clash = TelemetryServer(source, None, port=holder.port)
        with pytest.raises(OSError, match=f"127.0.0.1:{holder.port}"):
            clash.start()


def test_stop_releases_the_port(source: StatusSource) -> None:
    server = TelemetryServer(source, None, port=0).start()
    port = server.port
    assert port != 0
    server.stop()
    server.stop()   # idempotent
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_port_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    assert port_from_env() == 8000
    assert port_from_env(default=9100) == 9100
    monkeypatch.setenv("PORT", "8080")
    assert port_from_env() == 8080
    monkeypatch.setenv("PORT", "0")
    assert port_from_env() == 0


@pytest.mark.parametrize("bad", ["http", "80.5", "-1", "65536", "", "8_000"])
def test_port_from_env_rejects_non_ports(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("PORT", bad)
    with pytest.raises(ValueError, match=f"PORT.*{re.escape(repr(bad))}"):
        port_from_env()
