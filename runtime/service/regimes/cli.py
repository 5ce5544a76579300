"""`lighter-bot analyze` (and `python scripts/regime_analysis.py`): the SOL regime analysis, end to end.

Reads the ledger, the candles (a kline CSV, or Lighter's candles endpoint through the live
adapter's REST client: `--candles lighter:2 --rest URL`, fetched by the function the composition
root hands in) and optionally a replay's rules log; runs the analysis (pipeline.py); with `--data`
replays each proposed threshold with `policy diff`; writes the datasets, plots and `report.md`
under `--report` (default `data/analysis/`), and with `--doc PATH` the docs page with its plots
beside it. Bad input is one located line on stderr and exit 1, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import shutil
import sys
from pathlib import Path
from typing import Callable

from rules.errors import PolicyError
from rules.loader import read_policy_texts
from runtime.service import logs
from runtime.service import replay as replay_cli
from runtime.service.regimes import report as rp
from runtime.service.regimes.buckets import BucketSpec
from runtime.service.regimes.candles import Candles, CandleError, from_rows, iso, read_kline_csv, write_kline_csv
from runtime.service.regimes.features import FeatureWindows
from runtime.service.regimes.inputs import InputError, read_ledger, read_rules
from runtime.service.regimes.pipeline import MEASURES, Options, analyze, analysis_window
from runtime.service.regimes.verify import current_params, verify

EXIT_OK, EXIT_PROBLEMS = 0, 1
DEFAULT_REPORT = Path("data/analysis")
LIGHTER_PREFIX = "lighter:"
# (base_url, market_id, start_s, end_s) -> [(ts_s, open, high, low, close, volume)], from the composition root
CandleFetcher = Callable[[str, int, float, float], list[tuple[float, float, float, float, float, float]]]


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="when does the bot make or lose money? PnL slices by volatility x trend, "
                                       "guards, inventory, and threshold changes checked by policy diff")
    p.add_argument("--ledger", type=Path, nargs="+", required=True, metavar="FILE",
                   help="fills ledger: data/metrics/fills.jsonl (rotated files included) or a replay report's fills.jsonl")
    p.add_argument("--candles", nargs="+", metavar="SOURCE",
                   help="1-minute kline CSV files (ts_ms,open,high,low,close,volume), or lighter:MARKET_ID to fetch "
                        "them from Lighter's candles endpoint (see --rest; --market-id N --rest URL alone does too)")
    p.add_argument("--rest", metavar="URL", help="Lighter REST base URL for --candles lighter:N (default: mainnet)")
    p.add_argument("--market-id", type=int, help="only this market's ledger records (a ledger with several markets)")
    p.add_argument("--rules", type=Path, metavar="FILE",
                   help="a replay report's rules.jsonl: marks guard engagements (without it: not available)")
    p.add_argument("--report", type=Path, default=DEFAULT_REPORT, metavar="DIR",
                   help=f"where the datasets, plots and report.md go (default {DEFAULT_REPORT}/)")
    p.add_argument("--doc", type=Path, metavar="PATH", help="also write the report as a docs page here, its plots beside it")
    p.add_argument("--doc-command", action="append", default=[], metavar="CMD",
                   help="a command that produced the inputs, listed in the docs page before this one")
    p.add_argument("--slice", dest="slice_s", type=float, default=300.0, metavar="SECONDS", help="slice length (300)")
    p.add_argument("--pnl", choices=MEASURES, default="mtm",
                   help="the PnL the buckets judge and the suggestions screen (default mtm: mark-to-market)")
    p.add_argument("--excursion-units", type=float, default=0.1, help="|inventory| counted as an excursion (0.1)")
    p.add_argument("--trend-flat-bps", type=float, default=10.0, help="|trend| within this is flat (10 bps)")
    p.add_argument("--vol-window-min", type=int, default=30, help="realized volatility window, minutes (30)")
    p.add_argument("--trend-window-min", type=int, default=15, help="momentum window, minutes (15)")
    p.add_argument("--from", dest="start", type=replay_cli._when, metavar="T",
                   help="first slice (ISO time or epoch s); also where --data's replays start")
    p.add_argument("--to", dest="end", type=replay_cli._when, metavar="T", help="last slice's end (and --data's)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNGs")
    check = p.add_argument_group("checking suggestions by policy diff (the replay's inputs; without --data, "
                                 "suggestions are listed unchecked)")
    check.add_argument("--data", type=Path, nargs="+", metavar="FILE", help="the data the ledger was replayed from")
    check.add_argument("--format", help="force the format of every --data file")
    check.add_argument("--policies", type=Path, help="the policies the ledger ran (default: runtime.policies_dir)")
    check.add_argument("--config", type=Path, help="config file (default: ./config.yaml if present)")
    check.add_argument("--profile", type=Path, help="market profile (profiles/market_2.yaml)")
    check.add_argument("--step", type=replay_cli._step, metavar="S", help="replay tick interval in seconds")
    check.add_argument("--cache", type=Path, metavar="DIR", help="columnar cache folder")


def _positive(value: float, flag: str) -> None:
    if not value > 0:
        raise InputError(f"{flag}: expected a positive number, got {value:g}")


def load_candles(sources: list[str], rest: str | None, fetcher: CandleFetcher | None, default_rest: str,
                 window: tuple[float, float], lookback_s: float, save_dir: Path) -> tuple[Candles, str]:
    """The candles and a sentence saying where they came from (fetched ones are saved as a kline CSV)."""
    if len(sources) == 1 and sources[0].startswith(LIGHTER_PREFIX):
        market = sources[0][len(LIGHTER_PREFIX):]
        if not market.isdigit():
            raise CandleError(f"--candles {sources[0]}: expected lighter:MARKET_ID, e.g. lighter:2")
        if fetcher is None:
            raise CandleError("--candles lighter:N: no Lighter client wired in (use the `lighter-bot` entry point)")
        base = rest or default_rest
        rows = fetcher(base, int(market), window[0] - lookback_s, window[1])
        candles = from_rows(rows, f"{base}/api/v1/candles?market_id={market}")
        saved = save_dir / f"candles_lighter_{market}_{int(window[0])}_{int(window[1])}.csv"
        write_kline_csv(saved, candles)
        return candles, f"Lighter candles, market {market}, from {base} ({len(candles)} bars, saved as {saved})"
    if any(s.startswith(LIGHTER_PREFIX) for s in sources):
        raise CandleError("--candles: lighter:N cannot be mixed with kline files")
    parts = [read_kline_csv(Path(s)) for s in sources]
    if len(parts) == 1:
        return parts[0], f"kline file {sources[0]} ({len(parts[0])} bars)"
    rows = sorted({tuple(float(x) for x in r) for c in parts for r in zip(c.ts, c.open, c.high, c.low, c.close,
                                                                            c.volume)})
    candles = from_rows(rows, "+".join(Path(s).name for s in sources))
    return candles, f"kline files {', '.join(sources)} ({len(candles)} bars)"


def _replay_context(ledger_paths: list[Path]) -> str | None:
    """What the replay beside the ledger says about its fills (summary.json), for the report's caveats."""
    summary = ledger_paths[0].parent / "summary.json"
    if not summary.is_file():
        return None
    try:
        s = json.loads(summary.read_text())
        fm = s["fill_model"]
        files = ", ".join(f["name"] for f in s["data"]["files"])
        text = f"a replay of {files} (fill model: {fm['mode']}"
        if fm["mode"] == "klines":
            text += "; klines are the weakest replay input: " + fm["rules"][0]
        return text + ")"
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def run(args: argparse.Namespace, config_loader, backend_factory, config_model, fetcher: CandleFetcher | None,
        default_rest: str) -> int:
    logs.configure("WARNING", logging.StreamHandler(sys.stderr))
    try:
        return _run(args, config_loader, backend_factory, config_model, fetcher, default_rest)
    except (InputError, CandleError, replay_cli.ProfileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_PROBLEMS


def _run(args, config_loader, backend_factory, config_model, fetcher, default_rest) -> int:
    for value, flag in ((args.slice_s, "--slice"), (args.excursion_units, "--excursion-units"),
                        (args.trend_flat_bps, "--trend-flat-bps"), (args.vol_window_min, "--vol-window-min"),
                        (args.trend_window_min, "--trend-window-min")):
        _positive(value, flag)
    if not args.candles:
        if args.rest is None or args.market_id is None:
            raise CandleError("--candles: required: a 1-minute kline CSV, or lighter:MARKET_ID (or --market-id N "
                              "with --rest URL)")
        args.candles = [f"{LIGHTER_PREFIX}{args.market_id}"]
    ledger = read_ledger(args.ledger, args.market_id)
    rules = read_rules(args.rules) if args.rules else None
    options = Options(slice_s=args.slice_s, measure=args.pnl, excursion_units=args.excursion_units,
                      windows=FeatureWindows(args.vol_window_min, args.trend_window_min),
                      buckets=BucketSpec(trend_flat_bps=args.trend_flat_bps), start_ts=args.start, end_ts=args.end)
    window = analysis_window(ledger, rules, options)
    lookback = 60.0 * (max(args.vol_window_min, args.trend_window_min) + 1) + args.slice_s
    candles, candles_text = load_candles(args.candles, args.rest, fetcher, default_rest, window, lookback, args.report)
    config = config_loader(args)
    policies_dir = args.policies or Path(config.runtime.policies_dir)
    if args.policies is None and not policies_dir.is_dir():
        texts = []       # run outside a checkout: the analysis stands, the threshold screen needs the policies
        policies_text = f"{policies_dir}/ not found: no threshold screen (pass --policies)"
    else:
        texts = read_policy_texts([policies_dir])
        policies_text = f"{policies_dir} (current thresholds)"
    analysis = analyze(ledger, candles, rules, options, current_params(texts))
    verdicts = []
    data_text = "not given: suggestions are screened only, not replayed"
    if args.data and analysis.suggestions:
        backend = backend_factory()
        try:
            config, data = replay_cli.load_market_data(args, config, backend, config_model)
        except backend.DataError as exc:
            raise InputError(str(exc)) from None
        step = args.step or config.runtime.tick_interval_s
        print(f"checking {len(analysis.suggestions)} suggestions with policy diff (1 + {len(analysis.suggestions)} "
              f"replays of {', '.join(map(str, args.data))})", file=sys.stderr)
        verdicts = verify(analysis.suggestions, policies_dir, config, data, backend, step, args.report)
        data_text = f"{', '.join(map(str, args.data))} ({data.mode}, step {step:g} s) with {policies_dir}"
    elif args.data:
        data_text = f"{', '.join(map(str, args.data))} (no suggestion to check)"
    inputs = {"ledger": f"{', '.join(map(str, args.ledger))} ({len(ledger)} records)",
              "candles": candles_text,
              "rules": f"{args.rules} (guard engagements marked)" if rules else
                       "not available (no --rules: guard columns say so)",
              "policies": policies_text,
              "replay for the suggestions": data_text}
    context = _replay_context(args.ledger)
    inputs["ledger source"] = context or "a live ledger (or a replay without its summary.json beside it)"
    caveats = []
    if context and "klines are the weakest" in context:
        caveats.append("the ledger comes from a replay of 1-minute klines, the weakest replay input: it cannot "
                       "measure queue position, so fills (and every PnL figure here) come only from bars trading "
                       "through the quotes; treat the figures as the shape of the regimes, not their size")
    caveats.append("the threshold screen reads 1-minute candle analogues of the guards' features (the bot reads "
                   "them tick by tick); only a `policy diff` replay decides whether a change is recommended, and on "
                   "the same data it was screened on, so it can flatter the change (check it on other data)")
    if rules is None:
        caveats.append("no rules log: guard engagements are not available for this ledger")
    args.report.mkdir(parents=True, exist_ok=True)
    rp.write_datasets(args.report, analysis, verdicts)
    plots = []
    from runtime.service import replay_plots
    if not args.no_plots and replay_plots.can_plot():
        from runtime.service.regimes import plots as pl
        plots = pl.write_all(args.report, analysis.table, analysis.stats[options.measure], analysis.pnl(),
                             options.measure)
    text = rp.render(analysis, inputs, [p.name for p in plots], verdicts, caveats=caveats)
    (args.report / "report.md").write_text(text)
    if args.doc is not None:
        _write_doc(args, analysis, inputs, plots, verdicts, caveats)
    _print_summary(analysis, verdicts, args.report)
    return EXIT_OK


def _write_doc(args, analysis, inputs, plots, verdicts, caveats) -> None:
    """The docs page: the same report, its plots copied beside it as `<page>_<plot>.png`, the commands stated."""
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    names = []
    for plot in plots:
        target = args.doc.parent / f"{args.doc.stem}_{plot.name}"
        shutil.copyfile(plot, target)
        names.append(target.name)
    commands = list(args.doc_command) + ["lighter-bot " + shlex.join(_without_doc_commands(args.argv))]
    args.doc.write_text(rp.render(analysis, inputs, names, verdicts, commands=commands, caveats=caveats))


def _without_doc_commands(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--doc-command":
            skip = True
        elif not item.startswith("--doc-command="):
            out.append(item)
    return out


def _print_summary(a, verdicts, folder: Path) -> None:
    t = a.table
    print(f"{len(t)} slices of {a.options.slice_s:g} s, {iso(a.window[0])} .. {iso(a.window[1])}: realized "
          f"{float(t['realized_pnl'].sum()):+.4f}, mark-to-market {float(t['mtm_pnl'].sum()):+.4f}")
    negative = a.negative_buckets()
    print("consistently negative buckets (" + a.options.measure + "): " +
          (", ".join(f"{s.vol} vol / {s.trend}" for s in negative) or "none"))
    by_key = {v.suggestion.key: v for v in verdicts}
    for s in a.suggestions:
        v = by_key.get(s.key)
        verdict = ("unchecked" if v is None else
                   f"policy diff: mtm {v.mtm_delta:+.4f} -> {'recommended' if v.recommended else 'not recommended'}")
        print(f"suggestion: {s.key} {s.current:g} -> {s.proposed:g} ({verdict})")
    print(f"report: {folder / 'report.md'}")
