"""`python scripts/dump_metrics.py --filter portfolio_`: the live metrics of a running bot, by prefix.

The URL is `--url`, else http://127.0.0.1:$PORT/metrics (the port the bot serves on, 8000 by
default). A table by default, `--json` for machines; an unreachable bot, an answer that is not
Prometheus text or a bad flag is one line on stderr and a non-zero exit.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from runtime.service.telemetry import port_from_env

EXIT_OK, EXIT_PROBLEMS = 0, 1
TIMEOUT_S = 5.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dump_metrics.py", description="Print a running bot's metrics.")
    parser.add_argument("--filter", default="", metavar="PREFIX", help="only metrics whose name starts with this")
    parser.add_argument("--url", help="the bot's /metrics URL (default: http://127.0.0.1:$PORT/metrics, PORT 8000)")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    return parser


def samples(text: str, prefix: str) -> list[dict]:
    """Every sample whose name starts with `prefix`, as {name, labels, value}."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                out.append({"name": sample.name, "labels": dict(sample.labels), "value": sample.value})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        url = args.url or f"http://127.0.0.1:{port_from_env()}/metrics"
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        response = httpx.get(url, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the bot at {url}: {exc or type(exc).__name__} (is it running? pass --url)",
              file=sys.stderr)
        return EXIT_PROBLEMS
    if response.status_code != 200:
        print(f"error: {url} answered HTTP {response.status_code}", file=sys.stderr)
        return EXIT_PROBLEMS
    try:
        rows = samples(response.text, args.filter)
    except (ValueError, TypeError) as exc:
        print(f"error: {url} did not answer Prometheus text: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    table = Table(title=f"{url}: {len(rows)} samples" + (f" starting {args.filter!r}" if args.filter else ""))
    table.add_column("metric")
    table.add_column("labels")
    table.add_column("value", justify="right")
    for row in rows:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(row["labels"].items()))
        table.add_row(row["name"], labels, f"{row['value']:.10g}")
    Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200).print(table)
    if not rows:
        print(f"no metric starts with {args.filter!r}", file=sys.stderr)
    return EXIT_OK
