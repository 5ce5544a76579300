"""deploy/: every metric the dashboard and the alert rules query is one a running bot exports, and the
compose file, Dockerfile and railway.toml run the package's real entry point with a config that loads.
(No Docker engine here: the image itself is not built by the tests; the README says so.)"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from lighter_bot import load_config
from ops_harness import APT_INSTALL, REPO, Bot, binary
from runtime.service.cli import build_parser

DEPLOY = REPO / "deploy"
_PROMQL_WORDS = {"on", "by", "without", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                 "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels and durations left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)                          # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)                                      # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                                     # ranges, subqueries
    expr = re.sub(r"\b(on|ignoring|by|without|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        name, rest = match.group(0), expr[match.end():].lstrip()
        if rest.startswith("(") or name in _PROMQL_WORDS or re.fullmatch(r"\d.*", name):
            continue
        names.add(name)
    return names


def alert_exprs() -> list[str]:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def recorded() -> set[str]:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def dashboard() -> dict:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "lighter-bot.json").read_text())


def dashboard_exprs() -> list[str]:
    exprs = [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]
    # Grafana's label_values(metric, label): the metric is read, the label is not a metric.
    exprs += [re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["query"]) for v in dashboard()["templating"]["list"]]
    return exprs


def test_metric_names_reads_promql_as_prometheus_does():
    assert metric_names('max_over_time(a:b[6h]) - a:b > on(instance, job) group_left t{name="x"}') == {"a:b", "t"}
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate(x_bucket{m=~"$m"}[5m])))') == {"x_bucket"}
    assert metric_names("time() - last_tick_ts > 30") == {"last_tick_ts"}


def exported(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test_every_metric_the_dashboard_and_the_alerts_query_is_exported_by_a_running_bot(tmp_path):
    with Bot(tmp_path / "bot", "runtime:\n  tick_interval_s: 0.05\n") as bot:
        bot.wait_healthy()
        names = exported(bot.metrics())
    queried = set().union(*map(metric_names, alert_exprs() + dashboard_exprs()))
    synthesized = {"up"} | recorded()              # Prometheus's own and the rules' recordings
    missing = sorted(queried - synthesized - names)
    assert not missing, f"queried but not exported: {missing}"
    assert {"maker_fifo_realized_quote", "maker_regime_state", "lighter_bot_tick_duration_seconds_bucket",
            "lighter_bot_venue_budget_used", "lighter_bot_hedger_mode"} <= queried     # the panels the issue names


def _entry_points() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def _check_command(argv: list[str]) -> None:
    """`argv` is the package's console script with arguments its CLI accepts and a config that loads."""
    assert argv[0] in _entry_points(), argv
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run"
    assert args.config is not None and (REPO / args.config).is_file(), argv
    load_config(REPO / args.config)


def test_compose_dockerfile_and_railway_run_the_package_entry_point():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    bots = {name: svc for name, svc in compose["services"].items() if svc.get("image") == "lighter-bot:local"}
    assert len(bots) == 2
    markets = set()
    for svc in bots.values():
        _check_command(svc["command"])
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        markets.add(load_config(REPO / svc["command"][-1]).market.market_id)
    assert len(markets) == 2                                       # two bots, two markets
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    _check_command(json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)))
    assert re.search(r"^HEALTHCHECK .*/health", dockerfile, re.M | re.S) and re.search(r"^USER bot$", dockerfile, re.M)
    railway = tomllib.loads((REPO / "railway.toml").read_text())
    assert railway["build"]["dockerfilePath"] == "deploy/Dockerfile"
    assert railway["deploy"]["healthcheckPath"] == "/health"
    _check_command(shlex.split(railway["deploy"]["startCommand"]))
    # Prometheus scrapes exactly the two bot services on the port they serve.
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = [t for c in prometheus["scrape_configs"] for s in c["static_configs"] for t in s["targets"]]
    assert sorted(targets) == sorted(f"{name}:{svc['environment']['PORT']}" for name, svc in bots.items())
    grafana = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert {p["datasource"]["uid"] for p in dashboard()["panels"]} == {grafana["datasources"][0]["uid"]}


def test_prometheus_and_alertmanager_configs_pass_their_own_checkers(tmp_path):
    promtool, amtool = binary("promtool"), binary("amtool")
    if promtool is None or amtool is None:
        pytest.skip(f"promtool/amtool not installed ({APT_INSTALL})")
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["rule_files"] = [str(DEPLOY / "alerts.yml")]            # the container path, here
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([amtool, "check-config", str(DEPLOY / "alertmanager.yml")], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
