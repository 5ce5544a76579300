"""Composition root: the only module that imports both the runtime and the adapters."""
from __future__ import annotations


def main() -> None:
    from runtime.cli import main as cli_main
    from adapters import open_venue

    raise SystemExit(cli_main(open_venue=open_venue))
