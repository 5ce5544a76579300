"""`python scripts/apply_profile.py`: lay a market profile into `config.yaml`, keeping the file.

The config is edited as round-trip YAML (ruamel.yaml): comments, key order, quoting and every
key the profile does not name stay byte-for-byte; a key whose value is already the profile's is
not touched at all. The merged result is validated with the bot's config model before anything
is written, the write is atomic (a temporary file renamed over the config), and the diff is
printed with which changed keys a running bot reloads on save and which need a restart.

`price_range` is a replay setting, not a config key: it goes to the instrument metadata file
(`--metadata-out`) with the market section as the config now has it.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from runtime.service.app import RELOADABLE_SECTIONS, STARTUP_ONLY_KEYS


class ApplyError(Exception):
    """Why the profile was not applied, worded for the terminal."""


def _round_trip() -> YAML:
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096            # never re-wrap a long line
    return rt


def merge(node: Any, profile: dict, prefix: tuple[str, ...] = ()) -> list[str]:
    """Set the profile's leaves into the round-trip mapping `node`; the dotted keys that changed."""
    changed: list[str] = []
    for key, value in profile.items():
        path = (*prefix, str(key))
        if isinstance(value, dict):
            if not isinstance(node.get(key), dict):
                node[key] = {}
            changed += merge(node[key], value, path)
        elif key not in node or node[key] != value or isinstance(node[key], bool) != isinstance(value, bool):
            node[key] = value
            changed.append(".".join(path))
    return changed


def needs_restart(key: str) -> bool:
    parts = tuple(key.split("."))
    return parts[0] not in RELOADABLE_SECTIONS or any(parts[:len(k)] == k for k in STARTUP_ONLY_KEYS)


def atomic_write(path: Path, text: str) -> None:
    """A crash leaves the old file or the new one, never half of one; the mode of an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_profile(path: Path) -> tuple[dict, list[float] | None]:
    try:
        profile = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApplyError(f"{path}: cannot read the profile: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ApplyError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(profile, dict):
        raise ApplyError(f"{path}: expected a mapping of config sections (market:, maker:, ...)")
    return profile, profile.pop("price_range", None)


def apply(profile_path: Path, config_path: Path, model: type[BaseModel]) -> tuple[str, str, list[str], BaseModel,
                                                                                   list[float] | None]:
    """(old text, new text, changed keys, validated config, price range); nothing written."""
    profile, price_range = read_profile(profile_path)
    try:
        old = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ApplyError(f"{config_path}: cannot read the config: {exc.strerror or exc}") from None
    rt = _round_trip()
    try:
        data = rt.load(old)
    except YAMLError as exc:
        raise ApplyError(f"{config_path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ApplyError(f"{config_path}: expected a mapping of sections")
    changed = merge(data, profile)
    out = io.StringIO()
    rt.dump(data, out)
    new = out.getvalue() if changed else old
    try:
        config = model.model_validate(yaml.safe_load(new))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ApplyError(f"{profile_path} over {config_path} does not validate, nothing written: {problems}") from None
    return old, new, changed, config, price_range


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="apply_profile.py",
        description="Merge a market profile (set_market.py) into config.yaml, keeping its comments, order and "
                    "other keys; validate, write atomically, show the diff, and save the instrument metadata.")
    p.add_argument("--profile", type=Path, required=True, help="the profile, e.g. profiles/market_2.yaml")
    p.add_argument("--config", type=Path, default=Path("config.yaml"), help="the config to update (default config.yaml)")
    p.add_argument("--metadata-out", type=Path,
                   help="write the market section and price range as JSON here, e.g. data/instruments/market_2.json")
    p.add_argument("--dry-run", action="store_true", help="show the diff and the checks, write nothing")
    return p


def main(model: type[BaseModel], argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        old, new, changed, config, price_range = apply(args.profile, args.config, model)
        diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), str(args.config),
                                            f"{args.config} (with {args.profile.name})"))
        print(diff.rstrip() if diff else f"{args.config} already has every value of {args.profile}")
        restart = [k for k in changed if needs_restart(k)]
        reload = [k for k in changed if not needs_restart(k)]
        if reload:
            print(f"a running bot reloads on save: {', '.join(reload)}")
        if restart:
            print(f"need a restart: {', '.join(restart)}")
        if args.dry_run:
            print("dry run: nothing written")
            return 0
        if changed:
            atomic_write(args.config, new)
            print(f"wrote {args.config}")
        if args.metadata_out:
            market = config.model_dump()["market"]
            meta = {**market, "price_range": price_range, "profile": str(args.profile)}
            atomic_write(args.metadata_out, json.dumps(meta, indent=2) + "\n")
            print(f"wrote {args.metadata_out}")
        return 0
    except (ApplyError, OSError) as exc:
        print(f"apply_profile: error: {exc}", file=sys.stderr)
        return 1
