"""What /metrics says: one `BotStatus` snapshot turned into Prometheus metric families.

The families are built when Prometheus scrapes, from a fresh snapshot, so the trading
loop pays nothing per tick for being observed; runtime/service/telemetry.py serves them.

Metric names follow two conventions on purpose. Runtime metrics carry the
`lighter_bot_` prefix. Policy telemetry gauges and the `policy_*` / `shadow_*`
family keep the exact names the seed exported, because traders' dashboards and
alerts already query those names.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.status import BotStatus, HistogramSnapshot

# The server's logger: everything /metrics and /health report goes under one name.
log = logging.getLogger("lighter_bot.telemetry")

TRADING_STATES = ("active", "reducing", "halted")   # always exported, so a one-hot query never sees gaps
HEDGER_MODES = ("idle", "passive", "aggressive", "cooldown", "waiting", "stood_down")   # runtime.hedger.Hedger.mode values

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(raw: str) -> str:
    """`raw` made a legal Prometheus metric name, so one odd name cannot break a whole scrape."""
    name = _INVALID_METRIC_CHARS.sub("_", raw)
    if not name or name[0].isdigit():
        name = "_" + name
    return name


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value))


def _labelled(family: GaugeMetricFamily | CounterMetricFamily,
              rows: Iterable[tuple[Iterable[str], float]]) -> Metric:
    for labels, value in rows:
        family.add_metric(list(labels), float(value))
    return family


def _runtime_families(s: BotStatus) -> list[Metric]:
    """The fixed metrics: names are ours, so they are exported first and win any collision."""
    feature = s.features.get
    quotes = [(side, quote) for side, quote in (("bid", s.bid), ("ask", s.ask)) if quote is not None]
    states = TRADING_STATES if s.trading_state in TRADING_STATES else (*TRADING_STATES, s.trading_state)
    families: list[Metric] = [
        _labelled(GaugeMetricFamily("policy_set_version", "Hash of the live policy set (always 1)",
                                    labels=["version"]), [([s.policy_version], 1)]),
        _gauge("policy_set_valid", "1 when the policy files on disk are the live set", s.policy_set_valid),
        _counter("policy_reload_total", "Policy set reloads applied", s.policy_reload_total),
        _counter("policy_reload_errors_total", "Policy reloads rejected; the old set kept running",
                 s.policy_reload_errors_total),
        _counter("policy_rule_errors_total", "Rule evaluations that raised", s.policy_rule_errors_total),
        _counter("lighter_bot_trace_write_errors_total", "Decision-trace writes that failed; trading went on",
                 s.trace_write_errors_total),
        _gauge("policy_reload_alive", "1 while the policy watcher and compiler run", s.reload_alive),
        _gauge("policy_reload_last_check_timestamp_seconds", "When the policy folder was last checked, epoch s",
               s.reload_last_check_wall_ts),
        _labelled(CounterMetricFamily("lighter_bot_rule_errors_total", "Failed evaluations, by rule",
                                      labels=["rule"]),
                  [([rule], count) for rule, count in sorted(s.rule_errors.items())]),
        _gauge("shadow_disagreement_ratio", "Share of ticks where shadow and live effects differ",
               s.shadow_disagreement_ratio),
        _counter("shadow_disagreements_total", "Ticks where shadow and live effects differed",
                 s.shadow_disagreements_total),
        _labelled(GaugeMetricFamily("lighter_bot_trading_state", "1 on the current trading state",
                                    labels=["state"]),
                  [([state], state == s.trading_state) for state in states]),
        _labelled(GaugeMetricFamily("lighter_bot_quote_price", "Resting quote price", labels=["side"]),
                  [([side], quote.price) for side, quote in quotes]),
        _labelled(GaugeMetricFamily("lighter_bot_quote_size", "Resting quote size, base units",
                                    labels=["side"]),
                  [([side], quote.size) for side, quote in quotes]),
        _gauge("lighter_bot_inventory_units", "Signed position, base units", feature("inventory_units", 0.0)),
        _gauge("lighter_bot_inventory_notional", "Position marked at mid, quote currency",
               feature("inventory_notional", 0.0)),
        _gauge("lighter_bot_mid", "Mid price", feature("mid", 0.0)),
        # A gauge (realized PnL goes down as well as up), so no `_total` suffix (promtool's lint).
        _gauge("lighter_bot_realized_pnl_quote", "FIFO realized PnL, quote currency",
               feature("realized_pnl_total", 0.0)),
        _gauge("maker_fifo_realized_quote", "FIFO realized maker PnL, quote currency (the seed's name)",
               feature("realized_pnl_total", 0.0)),
        _labelled(GaugeMetricFamily("lighter_bot_feature", "Every feature policies can read",
                                    labels=["name"]),
                  [([name], value) for name, value in sorted(s.features.items())]),
        _counter("lighter_bot_ticks_total", "Ticks evaluated", s.ticks_total),
        _counter("lighter_bot_fills_total", "Fills received", s.fills_total),
        _counter("lighter_bot_orders_placed_total", "Orders placed", s.orders_placed_total),
        _counter("lighter_bot_orders_canceled_total", "Orders canceled", s.orders_canceled_total),
        _counter("lighter_bot_orders_rejected_total", "Orders the venue rejected", s.orders_rejected_total),
        _labelled(CounterMetricFamily("lighter_bot_orders_rejected_by_code_total",
                                      "Orders the venue rejected, by its error code", labels=["code"]),
                  [([str(code)], count) for code, count in sorted(s.orders_rejected_by_code.items())]),
        _counter("lighter_bot_orders_modified_total", "Modifies sent", s.orders_modified_total),
        _counter("lighter_bot_cancels_sent_total", "Cancels sent", s.cancels_sent_total),
        _counter("lighter_bot_cancel_rejected_total", "Cancels the venue refused (order already gone or unknown)",
                 s.cancel_rejected_total),
        _counter("lighter_bot_outcome_unknown_total", "Sends whose outcome was unknown (timeout, 429, 5xx)",
                 s.outcome_unknown_total),
        _counter("lighter_bot_rate_limited_total", "Sends the venue refused for its request budget",
                 s.rate_limited_total),
        _gauge("lighter_bot_orders_in_doubt", "Orders whose fate awaits a venue snapshot", s.orders_in_doubt),
        _counter("lighter_bot_position_mismatches_total",
                 "Venue snapshots that disagreed with our fills (corrected to the venue)", s.position_mismatches_total),
        _counter("lighter_bot_duplicate_fills_total", "Fills delivered twice and booked once",
                 s.duplicate_fills_total),
        _gauge("lighter_bot_venue_budget_used", "Requests in the venue's budget window", s.budget_used),
        _gauge("lighter_bot_venue_budget_limit", "The venue's request budget per window (0: not reported)",
               s.budget_limit),
        _gauge("lighter_bot_sends_per_fill", "Sends (places, modifies, cancels) per fill since start",
               (s.orders_placed_total + s.orders_modified_total + s.cancels_sent_total) / s.fills_total
               if s.fills_total else 0.0),
        _labelled(CounterMetricFamily("lighter_bot_intents_denied_total", "Intents the risk gate denied",
                                      labels=["reason"]),
                  [([reason], count) for reason, count in sorted(s.intents_denied_total.items())]),
        _gauge("lighter_bot_tick_seconds_last", "Duration of the last tick, seconds", s.tick_seconds_last),
        # Prometheus cannot see a frozen loop from frozen values; this lets an alert compute the age.
        _gauge("lighter_bot_last_tick_timestamp_seconds", "Wall-clock time of the last tick, epoch seconds",
               s.wall_ts),
        _gauge("lighter_bot_venue_healthy", "1 when the venue connection is healthy", s.venue_healthy),
        _counter("lighter_bot_hedger_crosses_total", "Hedge crosses (IOC) sent", s.hedger_crosses_total),
        _counter("lighter_bot_hedger_abandoned_crosses_total",
                 "Hedge crosses abandoned because the mid moved past the plan", s.hedger_abandoned_total),
        _labelled(GaugeMetricFamily("lighter_bot_hedger_mode", "1 on the hedger's current mode", labels=["mode"]),
                  [([mode], mode == s.hedger_mode) for mode in HEDGER_MODES]),
        _labelled(GaugeMetricFamily("lighter_bot_rule_firing", "1 for each firing rule (policy.rule)",
                                    labels=["rule"]),
                  [([rule], 1) for rule in sorted(set(s.firing_rules))]),
        _labelled(GaugeMetricFamily("lighter_bot_state", "Current state of each policy state machine",
                                    labels=["machine", "state"]),
                  [([machine, state], 1) for machine, state in sorted(s.states.items())]),
    ]
    families += _portfolio_families(s)
    families += _service_families(s)
    if s.shadow_version is not None:
        families.append(_labelled(
            GaugeMetricFamily("shadow_policy_set_info", "Hash of the shadow policy set (always 1)",
                              labels=["version"]), [([s.shadow_version], 1)]))
    return families


def _portfolio_families(s: BotStatus) -> list[Metric]:
    """The seed's `portfolio_*` gauges, labelled by market so several bots share one Prometheus.
    Collateral and equity are exported only by a venue that reports them (the paper venue does not)."""
    feature = s.features.get
    market = s.market_symbol or s.market
    units = feature("inventory_units", 0.0)
    rows = [
        ("portfolio_position_units", "Signed position, base units", units),
        ("portfolio_notional_quote", "Position marked at mid, quote currency", feature("inventory_notional", 0.0)),
        ("portfolio_entry_price", "Average entry price of the open position (0 when flat)", s.entry_price),
        ("portfolio_unrealized_pnl_quote", "Unrealized PnL at mid, quote currency", feature("unrealized_pnl", 0.0)),
        ("portfolio_realized_pnl_quote", "FIFO realized PnL incl. fees and funding, quote currency",
         feature("realized_pnl_total", 0.0)),
        ("portfolio_realized_pnl_30m_quote", "Realized PnL over the last 30 minutes, quote currency",
         feature("realized_pnl_30m", 0.0)),
    ]
    families: list[Metric] = [_labelled(GaugeMetricFamily(name, doc, labels=["market"]), [([market], value)])
                              for name, doc, value in rows]
    families.append(_labelled(GaugeMetricFamily("lighter_bot_info", "The market and venue this bot trades (always 1)",
                                                 labels=["market", "venue"]), [([market, s.venue], 1)]))
    return families


def _histogram(name: str, doc: str, h: HistogramSnapshot) -> HistogramMetricFamily:
    buckets = [(repr(float(bound)), count) for bound, count in zip(h.bounds, h.cumulative)]
    buckets.append(("+Inf", h.count))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=h.sum)


def _service_families(s: BotStatus) -> list[Metric]:
    """What only the service knows: tick latency, the fills ledger."""
    families: list[Metric] = []
    if s.tick_seconds_histogram is not None:
        families.append(_histogram("lighter_bot_tick_duration_seconds", "Duration of a tick (drain, decide, "
                                   "submit), seconds", s.tick_seconds_histogram))
    if s.alert_thresholds:
        families.append(_labelled(GaugeMetricFamily("lighter_bot_alert_threshold", "Bounds the alert rules compare "
                                                    "with (runtime.alerts in config.yaml)", labels=["name"]),
                                  [([name], value) for name, value in sorted(s.alert_thresholds.items())]))
    ledger = s.ledger
    if ledger is not None:
        families += [
            _gauge("lighter_bot_ledger_writable", "1 while the fills ledger can be written", not ledger.failure),
            _gauge("lighter_bot_ledger_backlog_records", "Ledger records held in memory, not yet on disk",
                   ledger.backlog),
            _counter("lighter_bot_ledger_records_written_total", "Ledger records written and fsynced",
                     ledger.written_total),
            _counter("lighter_bot_ledger_write_failures_total", "Ledger flushes that failed (disk full, "
                     "permissions)", ledger.failures_total),
            _counter("lighter_bot_ledger_rotations_total", "Ledger file rotations", ledger.rotations_total),
            _labelled(CounterMetricFamily("lighter_bot_fills_by_side_total", "Fills recorded, by side and liquidity",
                                          labels=["side", "liquidity"]),
                      [([side, liquidity], ledger.fills_by.get((side, liquidity), 0))
                       for side in ("buy", "sell") for liquidity in ("maker", "taker")]),
        ]
        if ledger.write_seconds is not None:
            families.append(_histogram("lighter_bot_ledger_write_duration_seconds", "Duration of a ledger flush "
                                       "(write + fsync), seconds", ledger.write_seconds))
    return families


def _exposed_names(family: Metric) -> tuple[str, ...]:
    """Every name a family occupies in the text format (a counter `x` is exposed as `x_total`)."""
    if family.type == "counter":
        return family.name, family.name + "_total"
    if family.type == "histogram":
        return family.name, family.name + "_bucket", family.name + "_sum", family.name + "_count"
    return (family.name,)


class StatusCollector(Collector):
    """Turns one fresh `BotStatus` into metric families per scrape; no state of its own.

    Policy gauge names come from YAML, so one may collide with a fixed name or with
    another after sanitizing. Two families with one name are invalid exposition and
    Prometheus would drop the whole scrape, so the first wins and the rest are
    logged once each.
    """

    def __init__(self, status: Callable[[], BotStatus | None]) -> None:
        self._status = status
        self._reported_collisions: set[str] = set()

    def collect(self) -> Iterator[Metric]:
        snapshot = self._status()
        if snapshot is None:        # before the first tick there is nothing true to say
            return iter(())
        families = _runtime_families(snapshot)
        taken = {name for family in families for name in _exposed_names(family)}
        dynamic = [("", name, value, "Policy telemetry gauge") for name, value in snapshot.gauges.items()]
        dynamic += [("shadow_", name, value, "Shadow policy telemetry gauge")
                    for name, value in snapshot.shadow_gauges.items()]
        for prefix, raw, value, doc in dynamic:
            name = metric_name(prefix + raw)
            if name in taken:
                self._report_collision(prefix + raw, name)
                continue
            taken.add(name)
            families.append(_gauge(name, doc, value))
        return iter(families)

    def _report_collision(self, raw: str, name: str) -> None:
        if raw not in self._reported_collisions:
            self._reported_collisions.add(raw)
            log.warning("telemetry gauge %r is exported as %r, which is already taken; dropped", raw, name)

