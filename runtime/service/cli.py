"""`lighter-bot`: run the bot, check and test policies, list features.

User mistakes (a bad flag, config or policy) print located messages and exit
non-zero, never a traceback. The venue factory is passed in by the composition
root (`lighter_bot.py`), so this module never imports an adapter.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from rules.errors import InputError
from rules.loader import load_policy_set, policy_files
from rules.testing import TestReport, run_policy_tests
from rules.explain import explain, feature_inputs, pin_states, render
from rules.lint import lint
from runtime.catalog import FEATURE_NAMES, describe_catalog
from runtime.features import FeatureStore
from runtime.market import MarketSpec, market_spec
from runtime.ports import Venue, VenueError
from runtime.service import logs
from runtime.service.app import serve
from runtime.service.config import BotConfig, load_config
from runtime.service.ledger import FillsLedger, LedgerError
from runtime.service.loop import SimulatedClock, WallClock
from runtime.service.operator import OperatorCommands
from runtime.service import policy_diff
from runtime.service import replay as replay_cli
from runtime.service import sweep as replay_sweep
from runtime.service.regimes import cli as regimes_cli
from runtime.service.status_board import StatusBoard
from runtime.service.summary import RunRecorder, TeeSink
from runtime.service.telemetry import TelemetryServer, port_from_env
from runtime.service.trace_file import JsonlFileSink
from runtime.trace import Trace
from runtime.trader import Trader

log = logging.getLogger("lighter_bot")

# (venue.kind, the `venue:` config section, market, start time) -> a venue; from the composition root.
VenueFactory = Callable[[str, object, MarketSpec, float], Venue]
# Commands an adapter adds (e.g. `fake-server`): name -> (add its arguments to a parser, run it -> exit code).
ExtraCommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DEFAULT_CONFIG = Path("config.yaml")
# Where a `--simulated` run's clock starts (2026-01-01T00:00:00Z): a fixed start, not the wall
# clock, so the same config and policies give the same run, order ids and trace included.
SIMULATED_START_TS = 1_767_225_600.0


def build_parser(extra_commands: dict[str, ExtraCommand] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lighter-bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (default: paper exchange, simulated SOL market)")
    run.add_argument("--config", type=Path, help="config file (default: ./config.yaml if present, "
                                                 "else the embedded defaults)")
    run.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after this long")
    run.add_argument("--policies", type=Path, help="policy folder (default: runtime.policies_dir)")
    run.add_argument("--port", type=_port, help="metrics/health port (default: $PORT or 8000; 0 = any free port)")
    run.add_argument("--decision-log", type=Path, help="decision trace JSONL (default: runtime.decision_log)")
    run.add_argument("--shadow", type=Path, help="shadow policy folder: evaluated and logged every tick, never "
                                                 "traded (default: <policies>/shadow if it exists)")
    run.add_argument("--no-watch", action="store_true", help="do not reload policies/config on save "
                                                            "(SIGHUP still reloads)")
    run.add_argument("--simulated", action="store_true",
                     help="run on a simulated clock as fast as the CPU allows (paper venue; needs --duration): "
                          "a 30-minute rehearsal takes seconds. Metrics are served only with --port")
    run.add_argument("--profile", type=Path, help="market profile laid over the config (profiles/market_1.yaml: "
                                                  "BTC, profiles/market_2.yaml: SOL)")
    run.add_argument("--summary", type=Path, metavar="FILE.json",
                     help="at exit, write what the run did as JSON (fills, orders, tx_per_min, PnL, ...)")
    run.add_argument("--venue", metavar="KIND", help="venue.kind for this run (paper, lighter)")
    run.add_argument("--base-url", metavar="URL", help="the venue's base URL (e.g. a `lighter-bot fake-server`)")
    run.add_argument("--dry-run", action="store_true",
                     help="connect, stream and reconcile, log the intents, send nothing (live venues)")

    policy = sub.add_parser("policy", help="check policies")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="schema, expression and feature checks, then the policy tests "
                                                "in each folder's tests/ (what a trader's CI calls)")
    check.add_argument("paths", nargs="*", type=Path, help="policy files or folders (default: policies/)")
    check.add_argument("--config", type=Path, help="config whose constants the tests start from (default: "
                                                   "./config.yaml if present, else the embedded defaults)")
    test = policy_sub.add_parser("test", help="run the policy unit tests (tests/*.yaml of each policy folder)")
    test.add_argument("paths", nargs="*", type=Path, help="policy folders or test files (default: policies/)")
    test.add_argument("--config", type=Path, help="config whose constants the tests start from (default: "
                                                  "./config.yaml if present, else the embedded defaults)")

    policy_diff.add_parser(policy_sub)
    why = sub.add_parser("explain", help="which rules fire, and the merged effects, for one feature vector")
    why.add_argument("--policies", type=Path, help="policy folder (default: runtime.policies_dir)")
    why.add_argument("--features", type=Path, metavar="FILE.yaml", help="feature values, `name: number` per line")
    why.add_argument("--set", dest="set_features", action="extend", nargs="+", default=[], metavar="NAME=VALUE",
                     help="a feature value (wins over --features), e.g. --set vol_bps=31 trend_bps=-8")
    why.add_argument("--state", dest="set_states", action="extend", nargs="+", default=[],
                     metavar="MACHINE=STATE", help="pin a state machine, e.g. --state regimes=aggressive")
    why.add_argument("--config", type=Path, help="config for the baseline features (default: ./config.yaml "
                                                 "if present, else the embedded defaults)")

    sub.add_parser("features", help="list the feature catalog policies may use")
    for name, (help_text, add_arguments, _) in (extra_commands or {}).items():
        add_arguments(sub.add_parser(name, help=help_text))
    replay_cli.add_parsers(sub)
    replay_sweep.add_arguments(sub.choices["replay"])
    regimes_cli.add_parser(sub)
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None, *, config_model: type[BotConfig], open_venue: VenueFactory | None = None,
         extra_commands: dict[str, ExtraCommand] | None = None,
         replay_backend: Callable[[], "replay_cli.ReplayBackend"] | None = None,
         sweep_parts: Callable[[], tuple] | None = None,
         candle_fetcher: "regimes_cli.CandleFetcher | None" = None, default_rest: str = "") -> int:
    """The CLI; `config_model` (the whole config.yaml model), `open_venue`, the adapters' own
    commands, the replay backend and the Lighter candles fetcher (`analyze --candles lighter:N`,
    with its default REST URL) come from the composition root (`lighter_bot.py`), which alone
    knows the adapters. `sweep_parts` is a picklable factory of (replay backend, config model)
    for `replay --sweep`'s worker processes and Ray tasks.

    A reader that goes away (`lighter-bot policy check | head -1`) ends the command quietly,
    as for any Unix tool, rather than with a BrokenPipeError traceback."""
    try:
        return _main(argv, config_model, open_venue, extra_commands, replay_backend, sweep_parts, candle_fetcher,
                     default_rest)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")   # nothing more can be written; silence the flush at exit
        except OSError:
            pass
        return EXIT_PROBLEMS


def _main(argv: Sequence[str] | None, config_model: type[BotConfig], open_venue: VenueFactory | None,
          extra_commands: dict[str, ExtraCommand] | None,
          replay_backend: Callable[[], "replay_cli.ReplayBackend"] | None = None,
          sweep_parts: Callable[[], tuple] | None = None,
          candle_fetcher: "regimes_cli.CandleFetcher | None" = None, default_rest: str = "") -> int:
    args = build_parser(extra_commands).parse_args(argv)
    args.config_model = config_model
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if extra_commands and args.command in extra_commands:
        return extra_commands[args.command][2](args)
    try:
        if args.command == "features":
            print(describe_catalog())
            return EXIT_OK
        if args.command == "policy" and args.policy_command == "diff":
            if replay_backend is None:
                raise RuntimeError("no replay backend wired in (use the `lighter-bot` entry point)")
            return policy_diff.diff(args, _config(args), replay_backend(), config_model)
        if args.command == "policy" and args.policy_command == "test":
            return _policy_test(args.paths or [Path("policies")], args)
        if args.command == "policy":
            return _policy_check(args.paths or [Path("policies")], args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "run":
            if open_venue is None:
                raise RuntimeError("no venue factory wired in (use the `lighter-bot` entry point)")
            return _run(args, open_venue)
        if args.command == "analyze":
            return regimes_cli.run(args, _config, replay_backend, config_model, candle_fetcher, default_rest)
        if args.command in ("replay", "data"):
            if replay_backend is None:
                raise RuntimeError("no replay backend wired in (use the `lighter-bot` entry point)")
            if args.command == "data":
                return replay_cli.data_convert(args, replay_backend())
            if args.sweep:
                if sweep_parts is None:
                    raise RuntimeError("no sweep worker parts wired in (use the `lighter-bot` entry point)")
                return replay_sweep.sweep(args, _config(args), replay_backend(), config_model, sweep_parts)
            return replay_cli.replay(args, _config(args), replay_backend(), config_model)
    except InputError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_USAGE


def _config(args: argparse.Namespace) -> BotConfig:
    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    return load_config(path, args.config_model)


def _venue_overrides(config: BotConfig, args: argparse.Namespace) -> BotConfig:
    """`run --venue/--base-url/--dry-run` applied to the `venue:` section (ValueError names a misfit)."""
    venue = config.venue
    if args.venue:
        if args.venue not in type(venue).model_fields or args.venue == "kind":
            known = ", ".join(n for n in type(venue).model_fields if n != "kind")
            raise ValueError(f"--venue: unknown venue {args.venue!r}; known: {known}")
        venue = venue.model_copy(update={"kind": args.venue})
    section = getattr(venue, venue.kind)
    updates = {}
    for flag, field, value in (("--base-url", "base_url", args.base_url), ("--dry-run", "dry_run", args.dry_run)):
        if value:
            if field not in type(section).model_fields:
                raise ValueError(f"{flag}: the {venue.kind} venue has no such setting")
            updates[field] = value
    if updates:
        venue = venue.model_copy(update={venue.kind: section.model_copy(update=updates)})
    return config.model_copy(update={"venue": venue})


def _policy_check(paths: list[Path], args: argparse.Namespace) -> int:
    missing = [p for p in paths if not p.exists()]
    if missing:
        for p in missing:
            print(f"{p}: no such file or folder", file=sys.stderr)
        return EXIT_PROBLEMS
    files = policy_files(paths)
    if not files:
        print(f"{', '.join(map(str, paths))}: no policy files (*.yaml) found", file=sys.stderr)
        return EXIT_PROBLEMS
    compiled = load_policy_set(paths, FEATURE_NAMES)
    print(f"ok: {len(files)} policy files, {len(compiled.rules)} rules, {len(compiled.machines)} state machines "
          f"(version {compiled.version})")
    for warning in lint(compiled):
        print(warning, file=sys.stderr)
    folders = [p for p in paths if p.is_dir()]
    report = run_policy_tests(folders, FEATURE_NAMES, FeatureStore(_config(args)).values)
    if not report.files and not report.problems:
        print("policy tests: none found (add tests/<policy>_test.yaml next to the policies)")
        return EXIT_OK
    return _report_tests(report)


def _policy_test(paths: list[Path], args: argparse.Namespace) -> int:
    report = run_policy_tests(paths, FEATURE_NAMES, FeatureStore(_config(args)).values)
    if not report.files and not report.problems:
        print(f"{', '.join(map(str, paths))}: no policy tests found (expected tests/*.yaml)", file=sys.stderr)
        return EXIT_PROBLEMS
    return _report_tests(report)


def _report_tests(report: TestReport) -> int:
    for problem in report.problems:
        print(problem, file=sys.stderr)
    for failure in report.failures:
        print(failure)
    print(f"policy tests: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _explain(args: argparse.Namespace) -> int:
    config = _config(args)
    policies_dir = args.policies or Path(config.runtime.policies_dir)
    compiled = load_policy_set([policies_dir], FEATURE_NAMES)
    inputs = feature_inputs(FEATURE_NAMES, args.features, args.set_features)
    compiled, pinned = pin_states(compiled, args.set_states)
    config_path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    sources = f"baseline from {config_path or 'the embedded config defaults'}" + \
        (f", then {args.features}" if args.features else "") + (", then --set" if args.set_features else "")
    print(render(explain(compiled, FeatureStore(config).values, inputs, pinned), policies_dir, sources))
    return EXIT_OK


def _run(args: argparse.Namespace, open_venue: VenueFactory) -> int:
    config = _config(args)
    if args.profile is not None:
        try:
            config, _ = replay_cli.apply_profile(config, args.profile, args.config_model)
        except replay_cli.ProfileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_PROBLEMS
    try:
        config = _venue_overrides(config, args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(config.runtime.log_level, logging.StreamHandler(sys.stderr))
    if args.simulated and args.duration is None:
        print("error: --simulated needs --duration SECONDS (simulated time runs as fast as the CPU allows)",
              file=sys.stderr)
        return EXIT_USAGE
    policies_dir = args.policies or Path(config.runtime.policies_dir)
    if not policy_files([policies_dir]) and policies_dir.is_dir():
        if not config.runtime.allow_empty_policies:
            print(f"error: {policies_dir}: no policy files (*.yaml): every guard would be off. If that is what you "
                  "mean, set runtime.allow_empty_policies: true", file=sys.stderr)
            return EXIT_PROBLEMS
        log.warning("runtime.allow_empty_policies: trading with NO policies: every guard is off")
    policies = load_policy_set([policies_dir], FEATURE_NAMES)
    shadow_dir = args.shadow or (policies_dir / "shadow" if (policies_dir / "shadow").is_dir() else None)
    shadow = load_policy_set([shadow_dir], FEATURE_NAMES) if shadow_dir else None
    try:
        port = args.port if args.port is not None else None if args.simulated else port_from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    start = SIMULATED_START_TS if args.simulated else time.time()
    try:
        venue = open_venue(config.venue.kind, config.venue, market_spec(config.market), start)
    except ValueError as exc:
        print(f"error: venue.kind: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except VenueError as exc:       # a live venue missing its keys, its extra or its market
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.simulated and not venue.can_simulate:
        print(f"error: --simulated: the {config.venue.kind} venue runs in real time only", file=sys.stderr)
        return EXIT_USAGE
    trace_path = Path(args.decision_log or config.runtime.decision_log)
    try:
        trace_file = JsonlFileSink(trace_path, max_bytes=int(config.runtime.decision_log_max_mb * 1024 * 1024))
    except OSError as exc:
        print(f"error: {trace_path}: cannot write the decision trace: {exc.strerror or exc} "
              "(set runtime.decision_log or --decision-log to a writable file)", file=sys.stderr)
        return EXIT_PROBLEMS
    board, commands = StatusBoard(trace_file), OperatorCommands()
    http = config.runtime.http
    token = os.environ.get(http.control_token_env) or None
    server = TelemetryServer(board.latest, commands if http.controls else None, host=http.bind, port=port,
                             control_token=token) if port is not None else None
    if server is not None and http.controls and not token and http.bind not in ("127.0.0.1", "::1"):
        log.warning("metrics and health answer on %s; operator controls stay loopback-only until $%s holds a "
                    "bearer token", http.bind, http.control_token_env)
    try:
        if server is not None:
            server.start()
    except OSError as exc:
        print(f"error: cannot serve metrics: {exc}", file=sys.stderr)
        trace_file.close()
        return EXIT_PROBLEMS
    run = _Run(args, config, venue, policies, policies_dir, shadow, shadow_dir, trace_file, board, commands, server,
               start)
    try:
        asyncio.run(run.main())
    except LedgerError as exc:
        print(f"error: {exc} (set runtime.ledger.path to a readable ledger, or runtime.ledger.enabled: false)",
              file=sys.stderr)
        return EXIT_PROBLEMS
    except VenueError as exc:       # the venue could not start (unreachable, refused our key, ...)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    finally:
        if server is not None:
            server.stop()
        trace_file.close()
        if run.ledger is not None:
            run.ledger.close()
            if run.ledger.pending:
                log.error("fills ledger: %d records could not be written before exit: %s", len(run.ledger.pending),
                          run.ledger.failure)
    return EXIT_OK


class _Run:
    """One `lighter-bot run`: start the venue, build the Trader on the venue's market, serve."""

    def __init__(self, args, config, venue, policies, policies_dir, shadow, shadow_dir, trace_file, board, commands,
                 server, start_ts):
        self.args, self.config, self.venue = args, config, venue
        self.policies, self.policies_dir, self.shadow, self.shadow_dir = policies, policies_dir, shadow, shadow_dir
        self.trace_file, self.board, self.commands, self.server = trace_file, board, commands, server
        self.start_ts = start_ts
        self.ledger: FillsLedger | None = None

    async def main(self) -> None:
        args, config, venue = self.args, self.config, self.venue
        await venue.start()   # the market spec comes from the venue (the live adapter reads the exchange's)
        trader = Trader(config, venue.market, self.policies, trace=Trace(self.trace_file), shadow=self.shadow,
                        venue_name=config.venue.kind, start_ts=self.start_ts, supports_modify=venue.supports_modify)
        recorder = RunRecorder(trader) if args.summary else None
        # A rehearsal's fills are not trades: they stay out of the ledger a live bot rebuilds its PnL from.
        ledger = self.ledger = None if args.simulated else _open_ledger(config, trader, self.start_ts)
        sinks = [self.trace_file] + [s for s in (ledger, recorder) if s is not None]
        if len(sinks) > 1:
            trader.trace.sink = TeeSink(*sinks)
        self.board.ledger = ledger
        alerts = config.runtime.alerts
        self.board.alert_thresholds = {
            "drawdown_quote": alerts.drawdown_quote, "pnl_30m_floor_quote": alerts.pnl_30m_floor_quote,
            "inventory_units": alerts.inventory_frac * config.risk.max_position_units}
        shadow, server = self.shadow, self.server
        log.info("lighter-bot on %s via %s%s; policies %s (version %s, %d rules)%s%s", venue.market.symbol,
                 config.venue.kind, " (simulated clock)" if args.simulated else "", self.policies_dir,
                 self.policies.version, len(self.policies.rules),
                 f"; shadow {self.shadow_dir} (version {shadow.version})" if shadow else "",
                 f"; metrics on {server.url}/metrics" if server is not None else "")
        config_path = args.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
        observers = [StatusLine(trader, STATUS_EVERY_S)]
        if ledger is not None:
            observers.append(_LedgerFlush(ledger, trader))
        if recorder is not None:
            observers.append(recorder.after_tick)
        progress = _ProgressBar(args.duration) if args.simulated and sys.stderr.isatty() else None
        if progress is not None:
            observers.append(progress.update)
        clock = SimulatedClock(self.start_ts) if args.simulated else WallClock()
        try:
            summary = await serve(trader, venue, clock, tick_interval_s=config.runtime.tick_interval_s,
                                  policies_dir=self.policies_dir, shadow_dir=self.shadow_dir, config_path=config_path,
                                  watch=not (args.no_watch or args.simulated), duration_s=args.duration,
                                  handle_signals=True, after_tick=_each(observers), board=self.board,
                                  commands=self.commands)
        finally:
            if progress is not None:
                progress.close()
            if recorder is not None:
                recorder.write_json(args.summary)
        log.info("run ended (%s): %d ticks, %d late; %d fills, inventory %+.4f, realized PnL %.4f%s",
                 summary.reason, summary.ticks, summary.ticks_late, trader.orders.fills_total,
                 trader.features.values["inventory_units"], trader.features.values["realized_pnl_total"],
                 f"; summary in {args.summary}" if args.summary else "")


def _open_ledger(config: BotConfig, trader: Trader, start_ts: float) -> FillsLedger | None:
    """Open the fills ledger and start the Trader from the position and PnL it records.

    The ledger's position is restored before any venue event, so the venue's first snapshot
    is compared with it and corrects only a real mismatch (runtime/position.py)."""
    cfg = config.runtime.ledger
    if not cfg.enabled:
        return None
    market = trader.market
    try:
        ledger = FillsLedger(cfg.path, market=market.symbol, market_id=market.market_id,
                             rotate_bytes=int(cfg.rotate_mb * 1024 * 1024), window_s=cfg.window_hours * 3600.0,
                             max_files=cfg.max_files, venue=trader.venue_name)
    except OSError as exc:
        raise LedgerError(f"{cfg.path}: cannot open the fills ledger: {exc.strerror or exc}") from None
    position = trader.features.position
    ledger.bind(mid=lambda: trader.features.values["mid"], policy_version=lambda: trader.policies.compiled.version,
                book=lambda: (position.units, position.avg_entry, position.realized_total))
    state = ledger.state
    if state.fills or state.fundings or state.fifo.lots or state.fifo.realized_total:
        trader.features.restore_position(state.fifo.lots, state.fifo.realized_total, state.trade_ids,
                                         state.funding_seqs, start_ts)
        log.info("fills ledger %s: %d fills, %d funding payments; position %+.4f, realized PnL %.4f restored",
                 cfg.path, state.fills, state.fundings, state.fifo.units, state.fifo.realized_total)
    return ledger


class _LedgerFlush:
    """After each tick: put the tick's fills on disk; while that fails, hold the risk gate in REDUCING."""

    def __init__(self, ledger: FillsLedger, trader: Trader):
        self.ledger, self.trader = ledger, trader

    def __call__(self, now: float) -> None:
        self.ledger.flush()
        self.trader.risk.service_hold = self.ledger.failure


def _each(observers):
    def after_tick(now: float) -> None:
        for observer in observers:
            observer(now)
    return after_tick


class _ProgressBar:
    """A progress bar for simulated runs on a terminal (simulated seconds done of --duration)."""

    def __init__(self, duration_s: float):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.completed:.0f}/"
                                  "{task.total:.0f} s"), TimeElapsedColumn(), transient=True)
        self._task = self._progress.add_task("run", total=duration_s)
        self._start: float | None = None
        self._shown = 0.0
        self._step = duration_s / 200
        self._progress.start()

    def update(self, now: float) -> None:
        if self._start is None:
            self._start = now
        done = now - self._start
        if done - self._shown >= self._step:
            self._shown = done
            self._progress.update(self._task, completed=done)

    def close(self) -> None:
        self._progress.stop()


# A one-line summary this often keeps a terminal or `railway logs` readable without metrics.
STATUS_EVERY_S = 30.0


class StatusLine:
    """Logs mid, quotes, inventory, PnL and what is firing every `every_s` of venue time."""

    def __init__(self, trader: Trader, every_s: float):
        self.trader = trader
        self.every_s = every_s
        self.next_at: float | None = None

    def __call__(self, now: float) -> None:
        if self.next_at is None:
            self.next_at = now + self.every_s
        if now < self.next_at:
            return
        self.next_at = now + self.every_s
        t = self.trader
        v = t.features.values
        bid, ask = t.orders.quote("buy"), t.orders.quote("sell")
        quotes = f"{bid.remaining:.3f}@{bid.price:g}" if bid else "-"
        quotes += f" / {ask.remaining:.3f}@{ask.price:g}" if ask else " / -"
        log.info("status: %s mid %.3f vol %.1f trend %+.1f bps | quotes %s | inventory %+.3f | realized %.4f "
                 "(5m %.4f) | fills %d | hedger %s | firing: %s", t.risk.state.value, v["mid"], v["vol_bps"],
                 v["trend_bps"], quotes, v["inventory_units"], v["realized_pnl_total"], v["realized_pnl_5m"],
                 t.orders.fills_total, t.hedger.mode, ", ".join(t.policies.firing()) or "none")
