"""Run a command and report its wall time, CPU time and the peak memory of its whole process tree.

CPU time is user + system of the command and every descendant it waited for (worker processes): on a
machine others are using it moves much less than wall time.

Peak memory is the largest *sum* of resident set sizes of the command and all its
descendants (worker processes included), sampled every 20 ms from /proc. Finding the descendants means
reading every process's /proc entry (about 2 ms of CPU with ~200 processes), so the tree is looked up
every 0.25 s and only its members' RSS is read at each sample: the sampler used to take ~9% of a core,
which on 2 cores slowed the parallel ingest it was timing.

The RSS sum counts a page once per process that maps it, and forked workers share the pages of the process
that forked them (its imports and heap): with two ingest workers about 45 MB are counted three times. So the
peak *proportional* set size is reported beside it (PSS: each shared page split between the processes that
share it; the sum is what the tree holds in memory). Reading it costs ~1.4 ms per process (the kernel walks the
page tables), so it is sampled with the tree, every 0.25 s.
"""
from __future__ import annotations

import compileall
import os
import resource
import subprocess
import time
from pathlib import Path


TREE_EVERY_S = 0.25
ROOT = Path(__file__).resolve().parents[1]
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _tree(root: int) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, []))
    return out


def _rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * _PAGE_KB
        except (OSError, IndexError, ValueError):  # ended since the tree was read
            pass
    return total


def _pss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):  # ended, or a kernel without smaps_rollup
            pass
    return total


def measure(cmd: list[str], env: dict | None = None, cwd: str | None = None, memory: bool = True) -> dict:
    """Wall and CPU seconds, and with `memory` the peaks (`peak_mb`, RSS sum, and `peak_pss_mb`, PSS sum; None
    without, and `peak_pss_mb` None where /proc has no smaps_rollup). The sampler costs the command
    about 3 % of a core, which shows in the wall time of one that keeps every core busy (the real export's
    ingest: 60 ms of its 2 s at the median), so wall times that matter are taken with `memory=False`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, peak_pss, tree, tree_at = 0, 0, [proc.pid], start - TREE_EVERY_S  # (the first sample reads both)
    while memory and proc.poll() is None:
        now = time.perf_counter()
        if now - tree_at >= TREE_EVERY_S:
            tree, tree_at = _tree(proc.pid), now
            peak_pss = max(peak_pss, _pss_kb(tree))
        peak = max(peak, _rss_kb(tree))
        time.sleep(0.02)
    out, err = proc.communicate()  # (without `memory`: waits here)
    seconds = round(time.perf_counter() - start, 3)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": round(cpu, 3), "peak_mb": round(peak / 1024, 1) if memory else None,
            "peak_pss_mb": round(peak_pss / 1024, 1) if memory and peak_pss else None,
            "returncode": proc.returncode, "stdout": out, "stderr": err}


def cache_bytecode() -> None:
    """Write the project's bytecode before anything is timed, as a first run does on a user's machine.

    With PYTHONDONTWRITEBYTECODE set (this workplace's shell sets it) a fresh checkout never gets any, and every
    command compiles the project's modules again: 25-40 ms of an ingest of the real export, which is not what
    users wait for. compileall writes it whatever that variable says."""
    for init in ROOT.glob("*/__init__.py"):  # the project's packages (not .venv, which pip compiled)
        compileall.compile_dir(init.parent, quiet=1)
    for module in ROOT.glob("*.py"):
        compileall.compile_file(module, quiet=1)
