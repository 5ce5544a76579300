"""`python scripts/refresh_ws_token.py`: a fresh auth token for the WebSocket (and account reads).

The token is made offline by the signer with the configured API key (secrets from the
environment, as the bot reads them), checked against the venue with one authenticated read
(`accountActiveOrders`, unless `--no-verify`), and written to `venue.lighter.ws_token_file`
(`.env.ws_token`: the bare token, mode 600, atomically), which the bot reads when
`WS_AUTH_TOKEN` is unset. `--railway` sets the service variable with
`railway variables --service NAME --set WS_AUTH_TOKEN=...`; `--print` shows that command with the
token masked instead of running it. The token is never printed or logged: railway's own output is
captured, and shown only on failure with the token masked.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from adapters.lighter.config import LighterConfig, LighterSecrets, MissingSecret
from adapters.lighter.tool_rest import ToolError, ToolRest, atomic_write

MASK = "<token>"


def mint(config: LighterConfig, secrets: LighterSecrets, ttl_s: float, now: float) -> tuple[str, int]:
    """(token, absolute deadline) from the signer; a ToolError when the signer is missing or refuses."""
    from adapters.lighter.signer import SignError, Signer, SignerUnavailable

    deadline = int(now + ttl_s)
    try:
        signer = Signer(secrets.private_key, secrets.account_index, secrets.api_key_index, config.chain_id,
                        config.signer_library)
    except (SignerUnavailable, SignError) as exc:
        raise ToolError(f"signer: {exc}") from None
    try:
        return signer.executor.submit(signer.auth_token, deadline).result(), deadline
    except SignError as exc:
        raise ToolError(str(exc)) from None
    finally:
        signer.close()


def verify(base_url: str, account: int, token: str, timeout_s: float) -> None:
    with ToolRest(base_url, timeout_s=timeout_s) as rest:
        rest.get("/api/v1/accountActiveOrders", {"account_index": account}, auth=token)


def railway_command(service: str, variable: str, token: str) -> list[str]:
    return ["railway", "variables", "--service", service, "--set", f"{variable}={token}"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="refresh_ws_token.py",
        description="Create a fresh Lighter auth token with the configured API key (secrets from the environment: "
                    "LIGHTER_API_PRIVATE_KEY, LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX or the names set in "
                    "venue.lighter.*_env) and write it to .env.ws_token (mode 600). The token is never printed.")
    p.add_argument("--config", type=Path, default=Path("config.yaml"),
                   help="config.yaml: venue.lighter (base_url, chain_id, ws_token_file, auth_token_ttl_s)")
    p.add_argument("--ttl", type=float, help="token lifetime in seconds, 60..28800 (default: "
                                             "venue.lighter.auth_token_ttl_s; Lighter's maximum is 8 h)")
    p.add_argument("--out", type=Path, help="file to write (default: venue.lighter.ws_token_file, .env.ws_token)")
    p.add_argument("--base-url", help="venue to verify the token against (default: venue.lighter.base_url)")
    p.add_argument("--no-verify", action="store_true", help="skip the authenticated read that checks the token")
    p.add_argument("--railway", action="store_true", help="also set the Railway service variable (railway CLI)")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="with --railway: show the railway command (token masked) instead of running it")
    p.add_argument("--service", default="lighter-bot", help="Railway service name (default lighter-bot)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    return p


def main(load_lighter_config: Callable[[Path], LighterConfig], argv: list[str] | None = None,
         environ: dict[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.print_only and not args.railway:
            raise ToolError("--print only goes with --railway")
        config = load_lighter_config(args.config)
        ttl = args.ttl if args.ttl is not None else config.auth_token_ttl_s
        if not 60 <= ttl <= 8 * 3600:
            raise ToolError("--ttl must be between 60 and 28800 seconds (Lighter's maximum is 8 h)")
        try:
            secrets = LighterSecrets.from_env(config, environ)
        except MissingSecret as exc:
            raise ToolError(str(exc)) from None
        token, deadline = mint(config, secrets, ttl, time.time())
        if not args.no_verify:
            verify(args.base_url or config.base_url, secrets.account_index, token, args.timeout)
        out = args.out or Path(config.ws_token_file or ".env.ws_token")
        atomic_write(out, token + "\n", mode=0o600)
        expires = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(deadline))
        print(f"wrote {out} (mode 600): a token for account {secrets.account_index}, API key "
              f"{secrets.api_key_index}, valid until {expires}")
        if args.railway:
            command = railway_command(args.service, config.ws_token_env, token)
            shown = " ".join(command).replace(token, MASK)
            if args.print_only:
                print(f"would run: {shown}")
                return 0
            if shutil.which("railway") is None:
                raise ToolError("the railway CLI is not on PATH (install it, or use --print)")
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
            if done.returncode != 0:
                detail = (done.stderr or done.stdout).replace(token, MASK).strip()[:400]
                raise ToolError(f"{shown} failed with exit {done.returncode}: {detail}")
            print(f"set {config.ws_token_env} on Railway service {args.service}")
        return 0
    except (ToolError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"refresh_ws_token: error: {exc}", file=sys.stderr)
        return 1
