"""Where a sweep's tasks run: this process, local worker processes, or a Ray cluster.

Every executor returns the results in task order, whatever order they complete in, so the
sweep's table does not depend on where or how fast it ran. Ray is optional (`[cluster]` extra)
and imported only here, only for `--ray`.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable

from runtime.service.sweep_worker import (DataSpec, PartsFactory, SweepTask, init_process, run_in_process,
                                          run_remote, run_task)

Done = Callable[[], None]          # called once per finished task (the progress bar)


class SweepRefused(Exception):
    """The sweep cannot run where it was asked to (Ray missing or unreachable); the message says why."""


def run_here(tasks: list[SweepTask], data: list, parts: tuple[Any, Any], done: Done) -> list[dict]:
    """`--workers 1`: one task after the other in this process."""
    out = []
    for task in tasks:
        out.append(run_task(task, data[task.file_index], parts))
        done()
    return out


def run_local(tasks: list[SweepTask], workers: int, parts_factory: PartsFactory, spec: DataSpec,
              done: Done) -> list[dict]:
    """`--workers N`: N spawned processes (not forked: the parent may hold threads, e.g. a Ray
    client), each loading the data from the cache the parent filled, once per file."""
    results: list[dict | None] = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_process,
                             initargs=(parts_factory, spec)) as pool:
        futures = {pool.submit(run_in_process, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done()
    return results  # type: ignore[return-value]


def run_ray(tasks: list[SweepTask], address: str, workers: int | None, data: list, parts_factory: PartsFactory,
            done: Done) -> list[dict]:
    """`--ray ADDRESS|auto`: each task a Ray task; each file's loaded data is put in the object
    store once and shared by every task on it. An instance this call started is shut down after."""
    try:
        import ray
    except ImportError:
        raise SweepRefused("--ray needs Ray: pip install -e '.[cluster]'") from None
    started = _connect(ray, address, workers)
    try:
        refs = [ray.put(d) for d in data]
        remote = ray.remote(run_remote).options(num_cpus=1, max_retries=0)
        pending = {remote.remote(task, refs[task.file_index], parts_factory): i for i, task in enumerate(tasks)}
        results: list[dict | None] = [None] * len(tasks)
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                results[pending[ref]] = ray.get(ref)
                done()
        return results  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()


def _connect(ray, address: str, workers: int | None) -> bool:
    """Join the instance named by `address`; True when this call joined or started one (to leave
    it after the sweep: a cluster is only disconnected from, a local instance stopped).

    An instance this process already joined is used whatever `address` says (an embedding program
    or the test session chose it). `auto`: else a cluster running on this machine
    (`ray start --head`, or $RAY_ADDRESS), else a new local instance with `workers` CPUs (all
    cores when not given). Any other address must be reachable."""
    quiet = dict(log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
    if ray.is_initialized():
        return False
    if address == "auto":
        try:
            ray.init(address="auto", **quiet)
            return True
        except (ConnectionError, RuntimeError):
            ray.init(num_cpus=workers or os.cpu_count() or 1, **quiet)
            return True
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise SweepRefused(f"--ray {address}: cannot join the Ray cluster: {exc}") from None
    return True
