"""`lighter-bot fake-server`: the fake Lighter exchange on 127.0.0.1, for rehearsals and chaos drills."""
from __future__ import annotations

import argparse
import logging
import sys

FAULTS_HELP = ("persistent faults, comma-separated: late_fills=SECONDS, duplicate_fills, lost_acks, silent_book, "
               "ignore_pings, slow=SECONDS (one-shot faults: POST /__fake/inject {\"faults\": [...]})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 = any free)")
    parser.add_argument("--account-index", type=int, default=1001,
                        help="the account seeded with collateral; any API key index is accepted for it")
    parser.add_argument("--collateral", default="10000.000000", help="USDC collateral of the account")
    parser.add_argument("--book-format", choices=("A", "B"), default="B",
                        help="order-book frames: A as recorded in Dec 2025 (offset chain), B current (begin_nonce)")
    parser.add_argument("--sequencing-delay", type=float, default=0.2, metavar="SECONDS",
                        help="accepted txs execute this much later (a standard account's speed bump)")
    parser.add_argument("--faults", default="", help=FAULTS_HELP)
    parser.add_argument("--seed", type=int, default=1)


def parse_faults(text: str):
    from adapters.lighter.fake_server import FakeFaults

    faults = FakeFaults()
    names = {"late_fills": "late_fills_s", "slow": "slow_s", "duplicate_fills": "duplicate_fills",
             "lost_acks": "lost_acks", "silent_book": "silent_book", "ignore_pings": "ignore_pings"}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in names:
            raise ValueError(f"--faults: unknown fault {name!r}; known: {', '.join(names)}")
        field = names[name]
        current = getattr(faults, field)
        if isinstance(current, bool):
            setattr(faults, field, True)
        else:
            try:
                setattr(faults, field, float(value))
            except ValueError:
                raise ValueError(f"--faults: {name} needs a number of seconds, e.g. {name}=1.5") from None
    return faults


def run(args: argparse.Namespace) -> int:
    try:
        from adapters.lighter import fake_server
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = fake_server.FakeSettings(port=args.port, account_index=args.account_index, collateral=args.collateral,
                                        book_format=args.book_format, sequencing_delay_s=args.sequencing_delay,
                                        seed=args.seed, faults=faults)
    from adapters.lighter.signer import generate_api_key
    private, _ = generate_api_key()     # a throw-away key: the fake accepts any key index of this account
    print(f"fake Lighter on http://127.0.0.1:{args.port} (account {args.account_index}); for a rehearsal:\n"
          f"  export LIGHTER_ACCOUNT_INDEX={args.account_index} LIGHTER_API_KEY_INDEX=3 "
          f"LIGHTER_API_PRIVATE_KEY={private}\n"
          f"  lighter-bot run --venue lighter --base-url http://127.0.0.1:{args.port}", file=sys.stderr)
    fake_server.run(settings)
    return 0


COMMANDS = {"fake-server": ("run a fake Lighter exchange on 127.0.0.1 (rehearsals without money)", add_arguments, run)}
