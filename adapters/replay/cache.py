"""Convert once, replay many: a columnar numpy cache keyed by each file's content hash.

`load(path)` hashes the file's bytes (sha256), and reads `<cache>/<hash>-<format>-v<N>.npz` if
it exists; otherwise it parses the file (readers.py), writes that cache file atomically and
returns the events. The hash is of the content, not the name: a renamed copy hits the cache and
an edited file never reads a stale one. `CONVERTER_VERSION` changes whenever a reader's output
changes, so older caches are ignored.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from adapters.replay.columns import BBO, DEPTH, Dataset, EventArrays, Gap
from adapters.replay.readers import DataError, detect, open_bytes, read

CONVERTER_VERSION = 1
CACHE_ENV = "LIGHTER_BOT_CACHE"


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "lighter-bot" / "replay"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def load(path: Path, fmt: str | None = None, cache_dir: Path | None = None) -> tuple[Dataset, bool]:
    """The file's events, and whether they came from the cache."""
    cache_dir = cache_dir or default_cache_dir()
    sha = file_hash(path)
    if fmt is not None:
        hit = _read_cache(cache_dir / f"{sha[:32]}-{fmt}-v{CONVERTER_VERSION}.npz", path, sha)
        if hit is not None:
            return hit, True
    else:
        for candidate in sorted(cache_dir.glob(f"{sha[:32]}-*-v{CONVERTER_VERSION}.npz")) if cache_dir.is_dir() else []:
            hit = _read_cache(candidate, path, sha)
            if hit is not None:
                return hit, True
    data = open_bytes(path)
    fmt = fmt or detect(path, data)
    columns, gaps = read(path, data, fmt)
    if not len(columns):
        raise DataError(f"{path}: no market data events in this {fmt} file")
    events = columns.arrays().sorted_stable()
    dataset = Dataset(str(path), sha, fmt, events, gaps, _levels(events))
    _write_cache(cache_dir / f"{sha[:32]}-{fmt}-v{CONVERTER_VERSION}.npz", dataset)
    return dataset, False


def _levels(events: EventArrays) -> int:
    return int(np.count_nonzero((events.kind == DEPTH) | (events.kind == BBO)))


def _read_cache(file: Path, path: Path, sha: str) -> Dataset | None:
    if not file.is_file():
        return None
    try:
        with np.load(file, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            events = EventArrays(npz["ts"], npz["kind"], npz["px"], npz["qty"], npz["aux"])
    except (OSError, ValueError, KeyError):
        return None                     # a torn or foreign cache file: convert again
    if meta.get("sha256") != sha:
        return None
    gaps = [Gap(g["start_ts"], g["seconds"], g["where"], g["why"]) for g in meta["gaps"]]
    return Dataset(str(path), sha, meta["format"], events, gaps, _levels(events))


def _write_cache(file: Path, dataset: Dataset) -> None:
    """Best effort: a read-only cache folder only costs the next run a conversion."""
    meta = json.dumps({"sha256": dataset.sha256, "format": dataset.format, "source": Path(dataset.path).name,
                       "gaps": [g.as_dict() | {"start_ts": g.start_ts, "seconds": g.seconds} for g in dataset.gaps]})
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as stream:
            ev = dataset.events
            np.savez(stream, ts=ev.ts, kind=ev.kind, px=ev.px, qty=ev.qty, aux=ev.aux, meta=np.array(meta))
        os.replace(tmp, file)
    except OSError:
        return
