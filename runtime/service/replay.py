"""`lighter-bot replay` and `lighter-bot data convert`: recorded data through the unchanged core.

The data, its cache and the replay venue come from the composition root (`ReplayBackend`,
adapters/replay/); this module drives them exactly as `run --simulated` drives the paper
venue (`run_trader` on a `SimulatedClock`, starting at the data's first event) and writes the
report: `summary.json` (the run summary's keys and the replay's own, documented in the
README; deterministic: no wall-clock figure in it), `summary.md`, `fills.jsonl`, `rules.jsonl` (when each rule fired).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import operator
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from rules.loader import load_policy_set
from runtime.catalog import FEATURE_NAMES
from runtime.market import market_spec
from runtime.service import logs
from runtime.service.loop import SimulatedClock, run_trader
from runtime.service.summary import RunRecorder, write_report_pair
from runtime.trace import Trace
from runtime.trader import Trader

log = logging.getLogger("lighter_bot.replay")
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class ReplayBackend(Protocol):
    """What the composition root hands in (adapters/replay/__init__.py)."""

    DataError: type[Exception]

    def load_data(self, paths, fmt=None, cache_dir=None, start=None, end=None): ...

    def convert(self, paths, fmt=None, cache_dir=None) -> list[str]: ...

    def open_venue(self, data, market, config): ...


def add_parsers(sub) -> None:
    replay = sub.add_parser("replay", help="replay recorded market data through the bot (fills simulated "
                                           "by a stated model) and report what it would have done")
    replay.add_argument("--data", type=Path, nargs="+", required=True, metavar="FILE",
                        help="recorded data files (formats detected by content; merged in time order)")
    replay.add_argument("--format", help="force the format of every --data file")
    replay.add_argument("--policies", type=Path, help="policy folder (default: runtime.policies_dir)")
    replay.add_argument("--config", type=Path, help="config file (default: ./config.yaml if present)")
    replay.add_argument("--profile", type=Path, help="market profile laid over the config (profiles/*.yaml)")
    replay.add_argument("--report", type=Path, metavar="DIR", help="write summary.json, summary.md, fills.jsonl, rules.jsonl here")
    replay.add_argument("--from", dest="start", type=_when, metavar="T", help="start (ISO time or epoch seconds)")
    replay.add_argument("--to", dest="end", type=_when, metavar="T", help="end (ISO time or epoch seconds)")
    replay.add_argument("--step", type=_step, metavar="S", help="tick interval in seconds (default: "
                                                                "runtime.tick_interval_s, as live)")
    replay.add_argument("--assert", dest="expect", type=Path, metavar="FILE",
                        help="YAML expectations on summary keys (e.g. `max_abs_inventory <= 0.2`); any "
                             "failure exits 1, naming it")
    replay.add_argument("--no-plots", action="store_true", help="do not draw the report's PNG plots")
    replay.add_argument("--no-skip-idle", action="store_true",
                        help="run every tick, even those that provably do nothing (the same result, slower)")
    replay.add_argument("--cache", type=Path, metavar="DIR", help="columnar cache folder "
                                                                 "(default: $LIGHTER_BOT_CACHE or ~/.cache/lighter-bot)")
    data = sub.add_parser("data", help="recorded market data")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    conv = data_sub.add_parser("convert", help="convert data files into the columnar cache once")
    conv.add_argument("paths", type=Path, nargs="+", metavar="FILE")
    conv.add_argument("--format", help="force the format")
    conv.add_argument("--cache", type=Path, metavar="DIR", help="cache folder")


def _when(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time (2024-07-19T00:01:00Z) or epoch seconds, "
                                         f"got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _step(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.001 <= value <= 60:
        raise argparse.ArgumentTypeError(f"expected a step between 0.001 and 60 seconds, got {text!r}")
    return value


def data_convert(args: argparse.Namespace, backend: ReplayBackend) -> int:
    try:
        for line in backend.convert(args.paths, args.format, args.cache):
            print(line)
    except backend.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


# -- profiles ---------------------------------------------------------------------------------

def apply_profile(config, path: Path, model) -> tuple[Any, tuple[float, float] | None]:
    """The config with the profile's sections laid over it, and the profile's price range."""
    try:
        profile = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise _Refused(f"{path}: cannot read the profile: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise _Refused(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(profile, dict):
        raise _Refused(f"{path}: expected a mapping of config sections and price_range")
    price_range = profile.pop("price_range", None)
    if price_range is not None and not (isinstance(price_range, list) and len(price_range) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in price_range) and 0 < price_range[0] < price_range[1]):
        raise _Refused(f"{path}: price_range: expected [low, high] with 0 < low < high, got {price_range!r}")
    merged = _merge(config.model_dump(), profile)
    try:
        config = model.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _Refused(f"{path}: {problems}") from None
    return config, (tuple(price_range) if price_range else None)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


class _Refused(Exception):
    """A profile or data the replay will not run with; the message is the whole story."""


ProfileError = _Refused


def check_market_fits(config, low: float, high: float, price_range, profile: Path | None) -> None:
    """Refuse data the market's sizes make nonsense of (BTC prices under the SOL profile)."""
    where = f"profile {profile}" if profile else "the config's market"
    symbol = config.market.symbol
    if price_range is not None and not (price_range[0] <= low and high <= price_range[1]):
        raise _Refused(f"the data's prices ({low:g}..{high:g}) are outside {where}'s price_range "
                       f"{list(price_range)} for {symbol}: wrong profile for this data?")
    quote = config.maker.size_units * high
    if quote > config.risk.max_order_notional or config.maker.size_units * low < config.market.min_quote * 0.5:
        raise _Refused(f"the data's prices ({low:g}..{high:g}) do not fit {where} ({symbol}): one quote of "
                       f"{config.maker.size_units:g} would be {quote:,.2f} in quote currency (risk.max_order_notional "
                       f"{config.risk.max_order_notional:g}, market.min_quote {config.market.min_quote:g}); pick the "
                       "profile of the data's market (--profile profiles/market_1.yaml for BTC)")


def load_market_data(args: argparse.Namespace, config, backend: ReplayBackend, config_model):
    """`--profile` laid over the config, then `--data` loaded and refused if the market does not
    fit it (replay, policy diff and analyze all start so). Returns (config, data); raises the
    backend's DataError or ProfileError, each a whole message."""
    price_range = None
    if args.profile is not None:
        config, price_range = apply_profile(config, args.profile, config_model)
    data = backend.load_data(args.data, args.format, args.cache, args.start, args.end)
    low, high = data.price_range()
    check_market_fits(config, low, high, price_range, args.profile)
    return config, data


# -- the command ------------------------------------------------------------------------------

def replay(args: argparse.Namespace, config, backend: ReplayBackend, config_model) -> int:
    logs.configure("WARNING", logging.StreamHandler(sys.stderr))
    started = time.perf_counter()
    try:
        expectations = load_expectations(args.expect) if args.expect else None
        config, data = load_market_data(args, config, backend, config_model)
    except (backend.DataError, _Refused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    loaded = time.perf_counter() - started
    policies_dir = args.policies or Path(config.runtime.policies_dir)
    policies = load_policy_set([policies_dir], FEATURE_NAMES)
    venue = backend.open_venue(data, market_spec(config.market), config.venue.replay)
    step = args.step or config.runtime.tick_interval_s
    fills: list[dict] = []
    recorder = run_replay(config, data, venue, policies, step, fills, progress=sys.stderr.isatty(),
                          skip_idle=not args.no_skip_idle)
    summary = recorder.summary()
    summary["step_s"] = step
    summary["market"] = {"symbol": config.market.symbol, "market_id": config.market.market_id,
                         "profile": args.profile.name if args.profile else None}
    summary["policies"] = {"version": policies.version, "rules": len(policies.rules)}
    summary["data"] = data.describe()
    summary["fill_model"] = venue.fills.assumptions()
    text = render_markdown(summary)
    if args.report is not None:
        from runtime.service import replay_plots
        write_report_pair(args.report, "summary", summary, text)
        (args.report / "fills.jsonl").write_text("".join(json.dumps(f, sort_keys=True) + "\n" for f in fills))
        (args.report / "rules.jsonl").write_text(rules_jsonl(recorder.firing_intervals(), data, policies.version))
        if not args.no_plots and replay_plots.can_plot():
            replay_plots.write_plots(args.report, recorder.samples, fills, recorder.firing_intervals(),
                                     f"{config.market.symbol} replay")
    print(text)
    wall = time.perf_counter() - started
    cached = sum(data.cached)
    print(f"replayed {data.levels} price-level events ({len(data.events)} events, {cached}/{len(data.cached)} files "
          f"from the cache) in {wall:.2f} s (loading {loaded:.2f} s)", file=sys.stderr)
    if expectations is not None:
        failed = check_expectations(expectations, summary, args.expect)
        for line in failed:
            print(line, file=sys.stderr)
        if failed:
            return EXIT_PROBLEMS
        print(f"{args.expect}: all {len(expectations)} expectations hold", file=sys.stderr)
    return EXIT_OK


def run_replay(config, data, venue, policies, step: float, fills: list[dict], progress: bool = False,
               observers=(), skip_idle: bool = True) -> ReplayRecorder:
    """One deterministic replay of `data` on `venue` under `policies`: the recorder it filled.

    `skip_idle`: ticks that provably do nothing (no venue event before them, nothing in the
    core due: `Trader.idle_until`) are counted, not run; the result is identical either way
    (tests/test_replay_skip_idle.py), only faster.

    `observers` are called after each tick with (now, trader), after the recorder (policy diff
    records each tick's applied effects this way)."""
    recorder_box: list[ReplayRecorder] = []

    async def main() -> None:
        await venue.start()
        trader = Trader(config, venue.market, policies, trace=Trace(), venue_name="replay",
                        start_ts=data.start_ts, supports_modify=venue.supports_modify)
        recorder = ReplayRecorder(trader, fills, sample_every_s=(data.end_ts - data.start_ts) / 4000)
        recorder_box.append(recorder)
        trader.trace.sink = recorder
        bar = None
        if progress:
            from runtime.service.cli import _ProgressBar
            bar = _ProgressBar(data.end_ts - data.start_ts)

        def after_tick(now: float) -> None:
            recorder.after_tick(now)
            for observer in observers:
                observer(now, trader)
            if bar is not None:
                bar.update(now)
        try:
            await run_trader(trader, venue, SimulatedClock(data.start_ts, yield_to_loop=False),
                             tick_interval_s=step, duration_s=data.end_ts - data.start_ts, after_tick=after_tick,
                             next_venue_event=venue.next_event_ts if skip_idle else None)
        finally:
            if bar is not None:
                bar.close()

    asyncio.run(main())
    return recorder_box[0]


class ReplayRecorder(RunRecorder):
    """The run summary plus what a replay report adds (README, "Replay")."""

    def __init__(self, trader: Trader, fills: list[dict], sample_every_s: float = 0.0):
        super().__init__(trader)
        self.sample_every_s = sample_every_s
        self.samples: list[tuple] = []          # for the plots: (ts, mid, our bid, our ask, inventory, mtm)
        self._next_sample = -math.inf
        self._since: dict[str, float] = {}
        self._intervals: dict[str, list[tuple[float, float]]] = {}
        self.fill_records = fills
        self.by_side_liquidity: Counter[str] = Counter()
        self.volume_base = self.volume_quote = 0.0
        self.hedge_slippage: list[float] = []
        self.pnl_by_guard: dict[str, float] = {}
        self._last_mtm: float | None = None
        self.entered: set[str] = set()          # "machine.state" the run was ever in (coverage)

    def write(self, record: dict[str, Any]) -> None:
        super().write(record)
        if record["type"] != "fill":
            return
        self.fill_records.append(record)
        self.by_side_liquidity[f"{record['side']}_{record['liquidity']}"] += 1
        self.volume_base += record["size"]
        self.volume_quote += record["size"] * record["price"]
        mid = self.trader.features.values.get("mid", 0.0)
        if record["purpose"] == "hedge" and mid > 0:
            sign = 1.0 if record["side"] == "buy" else -1.0
            self.hedge_slippage.append(sign * (record["price"] - mid) / mid * 1e4)

    def after_tick(self, now: float) -> None:
        firing_before = set(self._firing)
        super().after_tick(now)
        values = self.trader.features.values
        mtm = values["realized_pnl_total"] + values["unrealized_pnl"]
        if self._last_mtm is not None:
            for rule in firing_before:
                self.pnl_by_guard[rule] = self.pnl_by_guard.get(rule, 0.0) + (mtm - self._last_mtm)
        self._last_mtm = mtm
        for machine, state in self.trader.policies.states().items():
            self.entered.add(f"{machine}.{state}")
        for rule in self._firing - firing_before:
            self._since[rule] = now
        for rule in firing_before - self._firing:
            self._intervals.setdefault(rule, []).append((self._since.pop(rule, now), now))
        if now >= self._next_sample:
            self._next_sample = now + self.sample_every_s
            bid, ask = self.trader.orders.quote("buy"), self.trader.orders.quote("sell")
            self.samples.append((now, values["mid"], bid.price if bid else None, ask.price if ask else None,
                                 values["inventory_units"], mtm))

    def firing_intervals(self) -> dict[str, list[tuple[float, float]]]:
        """Per rule, when it was firing (rules still firing at the end run to the last tick)."""
        out = {rule: list(spans) for rule, spans in self._intervals.items()}
        for rule, since in self._since.items():
            out.setdefault(rule, []).append((since, self.last_ts if self.last_ts is not None else since))
        return out

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out["fills"]["by_side_liquidity"] = {key: self.by_side_liquidity[key] for key in
                                             ("buy_maker", "buy_taker", "sell_maker", "sell_taker")}
        out["volume"] = {"base": round(self.volume_base, 9), "quote": round(self.volume_quote, 6)}
        out["paused_seconds"] = out["paused_s"]
        compiled = self.trader.policies.compiled
        out["never_fired"] = sorted(rule.key for rule in compiled.rules if self.rule_fired[rule.key] == 0)
        out["never_entered"] = sorted({f"{m.name}.{state}" for m in compiled.machines for state in m.states}
                                      - self.entered)
        out["pnl_by_guard"] = {rule: round(v, 9) for rule, v in sorted(self.pnl_by_guard.items())}
        slips = self.hedge_slippage
        out["hedge_slippage_bps"] = {"fills": len(slips), "mean": round(sum(slips) / len(slips), 4) if slips else 0.0,
                                     "max": round(max(slips), 4) if slips else 0.0}
        return out


def rules_jsonl(intervals: dict[str, list[tuple[float, float]]], data, version: str) -> str:
    """`rules.jsonl`: the run's time range, then when each rule was firing (what `lighter-bot analyze
    --rules` marks guard engagements with; a fills ledger alone cannot tell)."""
    lines = [{"type": "run", "start_ts": data.start_ts, "end_ts": data.end_ts, "policies": {"version": version}}]
    lines += [{"type": "firing", "rule": rule, "from": start, "to": end}
              for rule, spans in sorted(intervals.items()) for start, end in spans]
    return "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)


# -- expectations (--assert) -----------------------------------------------------------------------

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
        "!=": operator.ne}


def load_expectations(path: Path) -> list[tuple[str, str, Any, str]]:
    """A YAML list (or mapping) of expectations: `- max_abs_inventory <= 0.2`, `- never_fired: []`,
    or `realized_pnl: ">= -0.5"`. Keys may be dotted (`fills.maker`)."""
    try:
        source = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise _Refused(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _Refused(f"{path}:{mark.line + 1 if mark else 0}: not valid YAML") from None
    items = source if isinstance(source, list) else [{k: v} for k, v in source.items()] if isinstance(source, dict) else None
    if items is None:
        raise _Refused(f"{path}: expected a list of expectations like `- max_abs_inventory <= 0.2`")
    out = []
    for index, item in enumerate(items):
        label = f"{path}: item {index + 1}"
        if isinstance(item, str):
            for op in ("<=", ">=", "==", "!=", "<", ">"):
                if op in item:
                    key, value = item.split(op, 1)
                    out.append((key.strip(), op, _value(value.strip(), label), item))
                    break
            else:
                raise _Refused(f"{label}: {item!r}: expected `KEY OP VALUE` with OP one of <= >= < > == !=")
        elif isinstance(item, dict) and len(item) == 1:
            key, value = next(iter(item.items()))
            if isinstance(value, str) and value[:2].strip() in _OPS:
                op = value[:2] if value[:2] in _OPS else value[:1]
                out.append((str(key), op, _value(value[len(op):].strip(), label), f"{key} {value}"))
            else:
                out.append((str(key), "==", value, f"{key}: {json.dumps(value)}"))
        else:
            raise _Refused(f"{label}: expected `KEY OP VALUE` or `KEY: VALUE`, got {item!r}")
    return out


def _value(text: str, label: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise _Refused(f"{label}: cannot read the value {text!r}") from None


def check_expectations(expectations, summary: dict, path: Path) -> list[str]:
    failed = []
    for key, op, want, text in expectations:
        node: Any = summary
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                failed.append(f"{path}: FAILED {text}: no summary key {key!r}")
                break
            node = node[part]
        else:
            try:
                ok = _OPS[op](node, want)
            except TypeError:
                ok = False
            if not ok:
                failed.append(f"{path}: FAILED {text} (actual: {json.dumps(node, sort_keys=True)})")
    return failed


# -- summary.md -------------------------------------------------------------------------------

def render_markdown(s: dict) -> str:
    d = s["data"]
    start = datetime.fromtimestamp(d["start_ts"], timezone.utc).isoformat().replace("+00:00", "Z")
    end = datetime.fromtimestamp(d["end_ts"], timezone.utc).isoformat().replace("+00:00", "Z")
    rows = [
        ("data", f"{', '.join(f['name'] for f in d['files'])} ({d['mode']}, {d['price_level_events']} price-level "
                 f"events, {len(d['gaps'])} gaps)"),
        ("time range", f"{start} .. {end} ({s['duration_s']:g} s, step {s['step_s']:g} s, {s['ticks']} ticks)"),
        ("market", f"{s['market']['symbol']} (market {s['market']['market_id']})"),
        ("realized PnL", f"{s['realized_pnl']:.6f}"),
        ("mark-to-market PnL", f"{s['mtm_pnl']:.6f}"),
        ("fees", f"{s['fees']:.6f}"),
        ("volume", f"{s['volume']['base']:g} base, {s['volume']['quote']:.2f} quote"),
        ("fills", ", ".join(f"{k} {v}" for k, v in s["fills"]["by_side_liquidity"].items())),
        ("max |inventory|", f"{s['max_abs_inventory']:g}"),
        ("tx per minute", f"{s['tx_per_min']:g}"),
        ("quoted both sides", f"{s['quoted_both_sides_frac']:.1%}"),
        ("hedge slippage", f"{s['hedge_slippage_bps']['mean']:g} bps mean over {s['hedge_slippage_bps']['fills']} fills"),
        ("paused", ", ".join(f"{k} {v:g} s" for k, v in s["paused_seconds"].items()) or "never"),
        ("never fired", ", ".join(s["never_fired"]) or "-"),
        ("states never entered", ", ".join(s["never_entered"]) or "-"),
    ]
    lines = ["# Replay summary", "", "| key | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    if s["rules"]:
        lines += ["", "| rule | fired | active s | PnL while active |", "|---|---:|---:|---:|"]
        for rule, r in s["rules"].items():
            lines.append(f"| {rule} | {r['fired']} | {r['active_s']:g} | {s['pnl_by_guard'].get(rule, 0.0):.6f} |")
    fm = s["fill_model"]
    lines += ["", f"Fill model ({fm['mode']}; queue {fm['queue_model']}; latency {fm['latency']}):", ""]
    lines += [f"- {rule}" for rule in fm["rules"]]
    return "\n".join(lines) + "\n"
