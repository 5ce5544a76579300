"""Microseconds per tick: rule evaluation of the policy set, and the whole tick.

    python benchmarks/tick_latency.py [--ticks N]

1. Rule evaluation: `PolicyEngine.evaluate(features, now)` on the shipped policies
   and on the shipped policies plus generated rules (about 30 rules), with feature
   values replayed from a paper run so conditions flip as they do live, and from a
   100 ms replay of the shared Binance BTCUSDT L2 capture (skipped when absent).
   Each change-driven (rules/watch.py: conditions run only when something can have
   changed them) and, in the same run, with every condition evaluated every tick
   (the "before"). For reference, the same conditions through simpleeval
   pre-parsed, and through simpleeval parsing on every call.
2. Whole tick: `Trader.on_events` + `Trader.tick` (features, rules, maker, hedger,
   risk gate) over a simulated paper run; the paper venue's own simulation is
   not included. Twice: with the null trace sink and logging unconfigured (warnings only,
   to stderr: the paper run's few refused modifies print theirs), and as
   `lighter-bot run` runs it: the decision trace into a `JsonlFileSink` and the
   `lighter_bot` loggers at INFO, configured as the CLI configures them
   (runtime/service/logs.py) but into a file instead of stderr (both in a temporary
   directory). The trace records and log lines a tick makes are written after its
   intents went to the venue, as the driver loop does; that write is timed
   separately and reported beside the tick.

Runs on one core (the loop is single-threaded). Figures vary with machine load;
take the median of a few runs.
"""
from __future__ import annotations

import argparse
import ast
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simpleeval import SimpleEval  # noqa: E402

from adapters.paper.venue import PaperVenue  # noqa: E402
from rules.engine import PolicyEngine  # noqa: E402
from rules.expr import clamp  # noqa: E402
from rules.loader import load_texts, policy_files  # noqa: E402
from runtime.catalog import FEATURE_NAMES  # noqa: E402
from lighter_bot import BotConfig as Config  # noqa: E402
from runtime.market import market_spec  # noqa: E402
from runtime.trader import Trader  # noqa: E402

EXTRA_RULES = """
policy: bench_extra
params: {k: 1.5}
rules:
""" + "".join(f"""
  - name: r{i}
    when: vol_bps * k > {10 + i} and abs(trend_bps) < {20 + i} or inventory_frac > 0.{i + 1}
    until: vol_bps < {5 + i}
    then: {{spread_add_bps: {i % 3}, size_mult: 0.9{i}}}
""" for i in range(15))


def shipped_texts() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in policy_files([REPO / "policies"])]


def record_features(config: Config, ticks: int) -> list[dict[str, float]]:
    """Feature vectors of a paper run, one per tick (so conditions change as they do live)."""
    import asyncio
    import logging

    from runtime.service.loop import SimulatedClock, run_trader
    from rules.loader import load_policy_set

    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    trader = Trader(config, venue.market, load_policy_set([REPO / "policies"], FEATURE_NAMES),
                    supports_modify=venue.supports_modify)
    out: list[dict[str, float]] = []
    logging.disable(logging.WARNING)   # the venue's "stopped" warning at the end of the recording run
    try:
        asyncio.run(run_trader(trader, venue, SimulatedClock(0.0), tick_interval_s=config.runtime.tick_interval_s,
                               duration_s=ticks * config.runtime.tick_interval_s,
                               after_tick=lambda now: out.append(dict(trader.features.values))))
    finally:
        logging.disable(logging.NOTSET)
    return out[:ticks]


def replay_features() -> list[dict[str, float]] | None:
    """Feature vectors of a replay of the Binance BTCUSDT L2 capture at 100 ms steps (BTC profile),
    one per tick; None when the shared data is absent."""
    import asyncio
    import os
    import tempfile

    from adapters.replay import load_data, open_venue
    from lighter_bot import load_config
    from rules.loader import load_policy_set
    from runtime.service.loop import SimulatedClock, run_trader
    from runtime.service.replay import apply_profile

    shared = Path(os.environ.get("LIGHTER_BOT_SHARED_DATA", REPO.parent / "shared" / "data"))
    paths = sorted((shared / "l2_binance_raw").glob("BTCUSDT_binance-usdm_raw_*.ndjson.gz"))
    if not paths:
        return None
    config, _ = apply_profile(load_config(None), REPO / "profiles" / "market_1.yaml", type(load_config(None)))
    out: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = load_data(paths, cache_dir=Path(tmp))
        venue = open_venue(data, market_spec(config.market), config.venue.replay)
        trader = Trader(config, venue.market, load_policy_set([REPO / "policies"], FEATURE_NAMES),
                        venue_name="replay", start_ts=data.start_ts, supports_modify=True)
        asyncio.run(run_trader(trader, venue, SimulatedClock(data.start_ts), tick_interval_s=0.1,
                               duration_s=data.end_ts - data.start_ts,
                               after_tick=lambda now: out.append(dict(trader.features.values))))
    return out


def time_engine(texts, vectors, interval_s: float, change_driven: bool = True) -> tuple[float, int, int]:
    """Evaluate as the runtime does: one live feature dict, updated in place between ticks
    (the update is not timed), so the figure is the engine's own cost. `change_driven=False`
    runs the fused condition function on every tick (as before rules/watch.py), for the
    before/after comparison in the same run."""
    compiled = load_texts(texts, FEATURE_NAMES)
    engine = PolicyEngine(compiled, change_driven=change_driven)
    live = dict(vectors[0])
    clock = time.perf_counter
    elapsed = 0.0
    for i, features in enumerate(vectors):
        live.update(features)
        start = clock()
        engine.evaluate(live, i * interval_s)
        elapsed += clock() - start
    return elapsed / len(vectors) * 1e6, len(compiled.rules), compiled.n_conditions


def condition_sources(texts) -> list[str]:
    """Every condition of the set as written, with params substituted, for the simpleeval baselines."""
    import yaml

    sources = []
    for _, text in texts:
        doc = yaml.safe_load(text)
        params = {k: v for k, v in doc.get("params", {}).items() if not isinstance(v, str)}
        for rule in doc.get("rules", []):
            for key in ("when", "until"):
                if isinstance(rule.get(key), str) and "active(" not in rule[key] and "state" not in rule[key]:
                    sources.append((rule[key], params))
    return sources


def time_simpleeval(sources, vectors, parse_every_call: bool) -> float:
    functions = {"abs": abs, "min": min, "max": max, "clamp": clamp}
    evaluator = SimpleEval(functions=functions)
    parsed = [(ast.parse(src.strip()).body[0].value, params) for src, params in sources]
    n = min(len(vectors), 2000 if parse_every_call else 20000)
    start = time.perf_counter()
    for features in vectors[:n]:
        for (src, params), (tree, _) in zip(sources, parsed):
            evaluator.names = {**features, **params}
            if parse_every_call:
                evaluator.eval(src)
            else:
                evaluator._eval(tree)
    return (time.perf_counter() - start) / n * 1e6


class TickTimes(NamedTuple):
    mean: float          # us, on_events + tick
    median: float
    p99: float
    fills: int
    flush_mean: float | None    # us per tick writing the held trace records and log lines after submit
    flush_median: float | None
    flush_p99: float | None
    trace_lines: int
    log_lines: int


def time_whole_tick(config: Config, ticks: int, production: bool) -> TickTimes:
    """Time `on_events` + `tick` over a paper run, driven as runtime/service/loop.py drives it.

    `production`: a `Trace(JsonlFileSink(...))` and logging configured as `lighter-bot run`
    configures it (runtime/service/logs.py: the root logger at runtime.log_level, LOG_FORMAT,
    output held during the tick), into a FileHandler instead of stderr. After each tick's
    intents are submitted the loop writes the held trace records and log lines; that is
    timed too, separately. Otherwise: the null sink, and logging as an unconfigured process
    has it (nothing below WARNING)."""
    import asyncio
    import tempfile

    from rules.loader import load_policy_set
    from runtime.service import logs
    from runtime.service.trace_file import JsonlFileSink
    from runtime.trace import Trace

    with tempfile.TemporaryDirectory(prefix="tick_latency_") as tmp:
        handler = None
        sink = None
        if production:
            import logging

            handler = logs.configure(config.runtime.log_level, logging.FileHandler(Path(tmp) / "bot.log"))
            sink = JsonlFileSink(Path(tmp) / "decisions.jsonl",
                                 max_bytes=int(config.runtime.decision_log_max_mb * 1024 * 1024))
        try:
            venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
            asyncio.run(venue.start())
            trader = Trader(config, venue.market, load_policy_set([REPO / "policies"], FEATURE_NAMES),
                            trace=Trace(sink) if sink is not None else None, supports_modify=venue.supports_modify)
            interval = config.runtime.tick_interval_s
            clock = time.perf_counter
            hold, release, flush = logs.hold_output, logs.release_output, trader.trace.flush
            tick_times = []
            flush_times = []
            for i in range(ticks):
                now = i * interval
                events = venue.drain(now)
                hold()
                t1 = clock()
                trader.on_events(events)
                intents = trader.tick(now)
                t2 = clock()
                venue.submit(intents, now)
                t3 = clock()
                flush()
                release()
                flush_times.append(clock() - t3)
                tick_times.append(t2 - t1)
            fills = trader.orders.fills_total
        finally:
            trace_lines = log_lines = 0
            if sink is not None:
                sink.close()
                trace_lines = sum(len(p.read_text().splitlines()) for p in Path(tmp).glob("decisions.jsonl*"))
            if handler is not None:
                logs.unconfigure(handler)
                log_lines = len((Path(tmp) / "bot.log").read_text().splitlines())

    def stats(times: list[float]) -> tuple[float, float, float]:
        times = sorted(times)
        return (sum(times) / len(times) * 1e6, statistics.median(times) * 1e6,
                times[int(len(times) * 0.99)] * 1e6)

    mean, median, p99 = stats(tick_times)
    flush_stats = stats(flush_times) if production else (None, None, None)
    return TickTimes(mean, median, p99, fills, *flush_stats, trace_lines, log_lines)


def time_feature_events(config: Config, seconds: float) -> tuple[float, int]:
    """Events per second the feature store absorbs (paper market events, recorded first)."""
    import asyncio

    from runtime.features import FeatureStore

    venue = PaperVenue(market_spec(config.market), config.venue.paper, 0.0)
    asyncio.run(venue.start())
    events = venue.drain(seconds)
    store = FeatureStore(config)
    start = time.perf_counter()
    for event in events:
        store.apply(event)
    elapsed = time.perf_counter() - start
    return len(events) / elapsed, len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=24000, help="ticks per measurement (default 24000 = 100 min)")
    args = parser.parse_args()
    config = Config()
    interval = config.runtime.tick_interval_s
    vectors = record_features(config, args.ticks)
    shipped = shipped_texts()
    extended = shipped + [(Path("bench_extra.yaml"), EXTRA_RULES)]
    print(f"python {sys.version.split()[0]}, {len(vectors)} ticks of replayed paper features\n")
    print("rule evaluation (PolicyEngine.evaluate, compiled fused function + rule state machines):")
    for label, texts in (("shipped policies", shipped), ("shipped + 15 generated rules", extended)):
        for mode, driven in (("change-driven", True), ("every condition every tick", False)):
            runs = [time_engine(texts, vectors, interval, driven) for _ in range(3)]
            us, n_rules, n_cond = min(runs)
            print(f"  {label:30s} {n_rules:3d} rules, {n_cond:3d} conditions, {mode:26s}: {us:6.2f} us/tick "
                  f"(best of 3)")
    print("rule evaluation on replayed BTC L2 features (../shared/data, 8 min, 100 ms ticks):")
    replayed = replay_features()
    if replayed is None:
        print("  skipped: ../shared/data/l2_binance_raw is absent")
    else:
        for label, texts in (("shipped policies", shipped), ("shipped + 15 generated rules", extended)):
            for mode, driven in (("change-driven", True), ("every condition every tick", False)):
                runs = [time_engine(texts, replayed, 0.1, driven) for _ in range(3)]
                us, n_rules, n_cond = min(runs)
                print(f"  {label:30s} {n_rules:3d} rules, {n_cond:3d} conditions, {mode:26s}: {us:6.2f} us/tick "
                      f"(best of 3)")
    sources = condition_sources(extended)
    print(f"reference, the {len(sources)} plain conditions of the extended set through simpleeval:")
    print(f"  pre-parsed AST                                      {time_simpleeval(sources, vectors, False):8.1f} us/tick")
    print(f"  parsed on every call                                {time_simpleeval(sources, vectors, True):8.1f} us/tick")
    print("\nwhole tick (Trader.on_events + Trader.tick: features, rules, maker, hedger, risk), shipped policies, "
          f"{args.ticks} ticks:")
    for label, production in (("null trace, logging unconfigured", False), ("production trace + INFO logging", True)):
        t = time_whole_tick(config, args.ticks, production)
        print(f"  {label:32s} mean {t.mean:5.1f} us, median {t.median:5.1f} us, p99 {t.p99:6.1f} us "
              f"({t.fills} fills)")
        if production:
            print(f"  {'':32s} ({t.trace_lines} trace lines, {t.log_lines} log lines written)")
            print(f"  {'+ trace & log writes after submit':32s} mean {t.flush_mean:5.1f} us, median "
                  f"{t.flush_median:5.1f} us, p99 {t.flush_p99:6.1f} us per tick (not on the events->intents path)")
    rate, n_events = time_feature_events(config, 3600.0)
    print(f"\nfeature store: {rate / 1e3:.0f} k events/s ({n_events} paper market events of one simulated hour)")
    import resource

    print(f"memory: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB for this whole "
          f"benchmark process (bounded windows: nothing in the store grows with run length)")


if __name__ == "__main__":
    main()
