"""Running independent report jobs side by side: one process per core, or inline when there is one.

A job is a top-level function with picklable arguments (settings, filters,
paths) that opens its own database engine; `executor(workers)` gives a
ProcessPoolExecutor, or for `workers=1` an executor that runs each job at
once in this process, so the same code path serves both. Processes are
forked (Linux), which is cheap: the children inherit the imported modules,
and db/engine.py makes engines fork-safe.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os

MAX_WORKERS = 4


def default_workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


class InlineExecutor(cf.Executor):
    """Runs each submitted job immediately, in this process; errors surface from Future.result()."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def executor(workers: int | None):
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1:
        yield InlineExecutor()
        return
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool
