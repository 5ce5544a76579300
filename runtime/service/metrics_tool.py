"""`python scripts/metrics_tool.py`: the seed's ledger commands over the fills ledger.

    dump                      every record (fills, funding, position corrections, checkpoints)
    window --hours 6          what the last 6 h did: fills, volume, maker/taker, realized PnL, fees,
    window --seconds 300      funding, inventory change; `--slice-seconds 300` adds 5-minute slices
    reset --confirm           moves the ledger aside (never deletes it); refused without --confirm
    import-json --input FILE  appends fills from FILE (a JSON array or JSON lines), validated one by one;
                              bad ones are reported by location, already-held trade ids skipped

Tables by default, `--json` for machines. A missing ledger, a corrupt line, an unreadable input
or a bad flag is a located message and a non-zero exit, never a traceback. The ledger format
is runtime/service/ledger.py's; a replay writes the same, so these commands read both.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from runtime.service.ledger import FillsLedger, LedgerError, LedgerState, Problem, ledger_files, read_records

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DEFAULT_LEDGER = Path("data/metrics/fills.jsonl")


class ToolError(Exception):
    """A problem the user can fix (missing file, refused command); the message says which."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metrics_tool.py", description="Read and manage the fills ledger.")
    parser.add_argument("--ledger", type=Path, help="ledger path (default: runtime.ledger.path of ./config.yaml, "
                                                    f"else {DEFAULT_LEDGER})")
    parser.add_argument("--json", action="store_true", help="JSON instead of tables")
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="every record in the ledger, oldest first")
    dump.add_argument("--tail", type=_positive_int, metavar="N", help="only the last N records")
    window = sub.add_parser("window", help="what the bot did over a recent window")
    span = window.add_mutually_exclusive_group(required=True)
    span.add_argument("--hours", type=_positive_float)
    span.add_argument("--seconds", type=_positive_float)
    window.add_argument("--slice-seconds", type=_positive_float, metavar="S", help="also by slice of S seconds")
    window.add_argument("--now", type=float, metavar="EPOCH_S", help="window end (default: now)")
    reset = sub.add_parser("reset", help="move the ledger aside (kept, never deleted); stop the bot first")
    reset.add_argument("--confirm", action="store_true", help="required: say that you mean it")
    imp = sub.add_parser("import-json", help="append fills from a JSON file, skipping trade ids already held")
    imp.add_argument("--input", type=Path, required=True, metavar="FILE")
    imp.add_argument("--market-id", type=int, help="for records without market_id (default: the config's market)")
    imp.add_argument("--market", help="for records without market (default: the config's symbol)")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    try:
        ledger, market, market_id = _defaults(args)
        if args.command == "dump":
            return _dump(ledger, args, console)
        if args.command == "window":
            return _window(ledger, args, console)
        if args.command == "reset":
            return _reset(ledger, args, console)
        return _import(ledger, args, console, args.market or market, args.market_id
                       if args.market_id is not None else market_id)
    except (ToolError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except BrokenPipeError:
        return EXIT_PROBLEMS


def _defaults(args: argparse.Namespace) -> tuple[Path, str, int]:
    """The ledger path and market from ./config.yaml when it exists (else the embedded defaults)."""
    from rules.errors import InputError
    from lighter_bot import load_config

    config_path = Path("config.yaml")
    try:
        config = load_config(config_path if config_path.exists() else None)
    except InputError as exc:
        raise ToolError("; ".join(exc.problems)) from None
    path = args.ledger or Path(config.runtime.ledger.path)
    return path, config.market.symbol, config.market.market_id


def _records(path: Path) -> tuple[list[dict], list[Problem]]:
    if not ledger_files(path):
        raise ToolError(f"{path}: no fills ledger here (the bot writes it as it trades; pass --ledger PATH)")
    problems: list[Problem] = []
    records = [r for _, _, r in read_records(path, problems)]
    return records, problems


def _report(problems: list[Problem]) -> int:
    """Problems go to stderr; only a torn last line (a crash) is expected and leaves exit 0."""
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    corrupt = [p for p in problems if "torn last line" not in p.reason]
    if corrupt:
        print(f"error: {len(corrupt)} corrupt line(s) skipped (see above)", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def _iso(ts: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (TypeError, ValueError, OverflowError, OSError):
        return str(ts)


# -- dump ------------------------------------------------------------------------------------------
def _dump(path: Path, args: argparse.Namespace, console: Console) -> int:
    records, problems = _records(path)
    if args.tail:
        records = records[-args.tail:]
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        table = Table(title=f"{path}: {len(records)} records")
        for column in ("time (UTC)", "type", "market", "side", "size", "price", "liq", "fee", "purpose", "mid",
                       "position", "realized"):
            table.add_column(column, justify="right" if column in ("size", "price", "fee", "mid", "position",
                                                                   "realized") else "left")
        for r in records:
            kind = r["type"]
            table.add_row(_iso(r.get("ts")), kind, str(r.get("market", "")), str(r.get("side", "")),
                          _num(r.get("size")), _num(r.get("price") if kind != "funding" else r.get("amount")),
                          str(r.get("liquidity", "")), _num(r.get("fee")), str(r.get("purpose", "")),
                          _num(r.get("mid")), _num(r.get("position_units")),
                          _num(r.get("realized_quote")))
        console.print(table)
    return _report(problems)


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, (int, float)) else str(value)


# -- window ----------------------------------------------------------------------------------------
def window_summary(records: list[dict], start: float, end: float, slice_s: float | None = None) -> dict:
    """What the ledger's fills and funding say about [start, end): realized PnL per fill comes from a
    FIFO replay of the whole ledger, so a fill closing a lot opened before the window counts."""
    state = LedgerState()
    total = _Bucket(start, end)
    slices: list[_Bucket] = []
    if slice_s:
        edge = start
        while edge < end:
            slices.append(_Bucket(edge, min(edge + slice_s, end)))
            edge += slice_s
    for r in records:
        before_realized, before_units = state.fifo.realized_total, state.fifo.units
        try:
            state.apply(r)
        except (KeyError, TypeError, ValueError):
            continue
        ts = r.get("ts")
        if r["type"] not in ("fill", "funding") or not isinstance(ts, (int, float)) or not start <= ts < end:
            continue
        realized = state.fifo.realized_total - before_realized
        units = state.fifo.units - before_units
        for bucket in [total] + [b for b in slices if b.start <= ts < b.end]:
            bucket.add(r, realized, units)
    out = total.as_dict()
    if slice_s:
        out["slices"] = [b.as_dict() for b in slices]
    return out


class _Bucket:
    def __init__(self, start: float, end: float):
        self.start, self.end = start, end
        self.fills = self.maker = self.taker = self.buys = self.sells = 0
        self.volume_units = self.volume_quote = self.realized = self.fees = self.funding = self.inventory = 0.0

    def add(self, r: dict, realized: float, units: float) -> None:
        self.realized += realized
        self.inventory += units
        if r["type"] == "funding":
            self.funding += float(r["amount"])
            return
        self.fills += 1
        self.maker += r.get("liquidity") == "maker"
        self.taker += r.get("liquidity") == "taker"
        self.buys += r["side"] == "buy"
        self.sells += r["side"] == "sell"
        self.volume_units += float(r["size"])
        self.volume_quote += float(r["size"]) * float(r["price"])
        self.fees += float(r.get("fee") or 0.0)

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "fills": self.fills, "buys": self.buys, "sells": self.sells,
                "maker": self.maker, "taker": self.taker, "volume_units": round(self.volume_units, 9),
                "volume_quote": round(self.volume_quote, 6), "realized_pnl": round(self.realized, 9),
                "fees": round(self.fees, 9), "funding": round(self.funding, 9),
                "inventory_change_units": round(self.inventory, 9)}


def _window(path: Path, args: argparse.Namespace, console: Console) -> int:
    records, problems = _records(path)
    end = args.now if args.now is not None else time.time()
    span = args.hours * 3600.0 if args.hours else args.seconds
    summary = window_summary(records, end - span, end, args.slice_seconds)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        label = f"{args.hours:g} h" if args.hours else f"{args.seconds:g} s"
        rows = [summary] + summary.get("slices", [])
        table = Table(title=f"{path}: last {label} ({_iso(end - span)} .. {_iso(end)} UTC)")
        for column in ("from (UTC)", "fills", "buy/sell", "maker/taker", "volume", "volume quote", "realized PnL",
                       "fees", "funding", "inventory change"):
            table.add_column(column, justify="left" if column == "from (UTC)" else "right")
        for index, row in enumerate(rows):
            table.add_row("whole window" if index == 0 else _iso(row["start"]), str(row["fills"]),
                          f"{row['buys']}/{row['sells']}", f"{row['maker']}/{row['taker']}",
                          f"{row['volume_units']:.6g}", f"{row['volume_quote']:.2f}", f"{row['realized_pnl']:+.6f}",
                          f"{row['fees']:.6f}", f"{row['funding']:+.6f}", f"{row['inventory_change_units']:+.6g}")
        console.print(table)
    return _report(problems)


# -- reset -----------------------------------------------------------------------------------------
def _reset(path: Path, args: argparse.Namespace, console: Console) -> int:
    if not args.confirm:
        print(f"error: reset moves {path} and its rotated files aside so the bot starts a new ledger (and a new "
              "realized PnL); stop the bot first, then run again with --confirm", file=sys.stderr)
        return EXIT_USAGE
    files = ledger_files(path)
    if not files:
        raise ToolError(f"{path}: no fills ledger here, nothing to reset")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = path.parent / "archive" / f"{path.name}.{stamp}"
    dest.mkdir(parents=True, exist_ok=False)
    for file in files:
        file.replace(dest / file.name)
    if args.json:
        print(json.dumps({"moved_to": str(dest), "files": len(files)}))
    else:
        console.print(f"moved {len(files)} ledger file(s) to {dest}; the next run starts a new ledger")
    return EXIT_OK


# -- import-json -----------------------------------------------------------------------------------
_SIDES, _LIQUIDITY = ("buy", "sell"), ("maker", "taker")


def _input_records(path: Path) -> list[tuple[str, Any]]:
    """(location, value) per record: a JSON array (location `record N`) or JSON lines (`line N`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ToolError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ToolError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        return [(f"{path}: record {i}", v) for i, v in enumerate(values, 1)]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}:{number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            out.append((f"{path}:{number}", exc))
    return out


def validate_fill(value: Any, market: str, market_id: int) -> dict:
    """A ledger fill record from an imported value; ValueError names the first bad field."""
    if isinstance(value, Exception):
        raise ValueError(f"not valid JSON: {value}")
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    if value.get("type", "fill") != "fill":
        raise ValueError(f"type: only fills can be imported, got {value.get('type')!r}")

    def number(key: str, positive: bool = False, default: float | None = None) -> float:
        raw = value.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise ValueError(f"{key}: expected a number, got {raw!r}")
        if positive and not raw > 0:
            raise ValueError(f"{key}: expected a number > 0, got {raw!r}")
        return float(raw)

    trade_id = value.get("trade_id")
    if not isinstance(trade_id, str) or not trade_id:
        raise ValueError(f"trade_id: expected a non-empty string, got {trade_id!r}")
    if value.get("side") not in _SIDES:
        raise ValueError(f"side: expected buy or sell, got {value.get('side')!r}")
    liquidity = value.get("liquidity", "maker")
    if liquidity not in _LIQUIDITY:
        raise ValueError(f"liquidity: expected maker or taker, got {liquidity!r}")
    record = {"type": "fill", "v": 1, "market": str(value.get("market", market)),
              "market_id": int(number("market_id", default=market_id)), "ts": number("ts", positive=True),
              "side": value["side"], "price": number("price", positive=True), "size": number("size", positive=True),
              "fee": number("fee", default=0.0), "liquidity": liquidity, "trade_id": trade_id,
              "client_id": value.get("client_id", 0), "purpose": str(value.get("purpose", "imported")),
              "seq": value.get("seq", 0), "decision": value.get("decision", 0), "mid": value.get("mid"),
              "policy_version": str(value.get("policy_version", "")), "imported": True}
    return record


def _import(path: Path, args: argparse.Namespace, console: Console, market: str, market_id: int) -> int:
    values = _input_records(args.input)
    held = set()
    if ledger_files(path):
        held = {r.get("trade_id") for _, _, r in read_records(path) if r["type"] == "fill"}
        held |= {t for _, _, r in read_records(path) if r["type"] == "checkpoint" for t in r.get("trade_ids", [])}
    good, bad, duplicates = [], [], 0
    for where, value in values:
        try:
            record = validate_fill(value, market, market_id)
        except ValueError as exc:
            bad.append(f"{where}: {exc}")
            continue
        if record["trade_id"] in held:
            duplicates += 1
            continue
        held.add(record["trade_id"])
        good.append(record)
    for problem in bad:
        print(f"skipped: {problem}", file=sys.stderr)
    if good:
        ledger = FillsLedger(path, market=market, market_id=market_id)
        ledger.pending.extend(good)
        if not ledger.flush():
            raise ToolError(ledger.failure)
        ledger.close()
    result = {"imported": len(good), "duplicates_skipped": duplicates, "bad": len(bad), "ledger": str(path)}
    if args.json:
        print(json.dumps(result))
    else:
        console.print(f"{args.input}: imported {len(good)} fill(s) into {path}; {duplicates} already held "
                      f"(by trade id), {len(bad)} bad (listed above)")
    return EXIT_PROBLEMS if bad else EXIT_OK
