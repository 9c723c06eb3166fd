"""Parallel ingest: workers parse groups of files, then write them into the database themselves,
one group at a time, in input order.

Parsing is most of the work and runs on every core at once. Writing is not parallel in SQLite (one
writer at a time), so the workers take turns: the worker holding group k waits until group k-1 is
committed, writes group k with the one-process code (ingest.store.store) in one transaction,
then hands the turn on. While one worker writes, the others parse their next group.

Because groups are written in input order, each by the one-process code against everything committed
before it, the database is the one a one-process run gives, row for row and id for id: twins of stored
files, transactions logged again and requests spanning files are settled exactly as there
(tests/test_ingest_parallel.py). Each group is one transaction, so every file is whole or absent
whenever the run is killed; the workers die with the ingest process (PR_SET_PDEATHSIG).

(The first design wrote each group into a scratch SQLite file that the ingest process copied in with
INSERT … SELECT: every row was written twice, and the copy ran in one process. Sending parsed rows to a
single writer through pipes costs as much as parsing them: pickling millions of small objects.)
"""
from __future__ import annotations

import itertools
import multiprocessing
import os

from db.engine import make_engine
from ingest.prepare import die_with_parent, in_order, prepared
from ingest.reader import Source
from ingest.store import Written, parts, store

# A group is consecutive files up to this many bytes on disk (about 1 MB of text): small enough that
# both cores stay busy to the end and a waiting worker holds little, large enough that the per-group
# cost (a transaction, a turn) stays small.
GROUP_BYTES = 256 << 10
GROUP_MAX_FILES = 100
TURN_POLL_SECONDS = 1.0  # how often a waiting worker looks whether the run was abandoned


def groups(sources: list[Source]) -> list[list[Source]]:
    out, current, size = [], [], 0
    for source in sources:
        current.append(source)
        size += source.file_size or 0
        if size >= GROUP_BYTES or len(current) >= GROUP_MAX_FILES:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


class Turns:
    """Whose turn it is to write: the index of the next group, shared by the forked workers."""

    def __init__(self, ctx):
        self.condition = ctx.Condition()
        self.next = ctx.RawValue("q", 0)
        self.abandoned = ctx.RawValue("b", False)

    def wait_for(self, index: int) -> None:
        with self.condition:
            while self.next.value != index:
                if self.abandoned.value:
                    raise RuntimeError("the ingest stopped before this group's turn")
                self.condition.wait(TURN_POLL_SECONDS)

    def done(self, index: int) -> None:
        with self.condition:
            self.next.value = index + 1
            self.condition.notify_all()

    def abandon(self) -> None:
        """Wake every waiting worker to give up (a group failed, or the ingest process is stopping)."""
        with self.condition:
            self.abandoned.value = True
            self.condition.notify_all()


# --- in the worker --------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(turns: Turns, database_url: str, on_connect, run_id: int, job: tuple) -> None:
    die_with_parent()
    engine = make_engine(database_url)
    if on_connect is not None:
        from sqlalchemy import event
        event.listen(engine, "connect", on_connect)
    _WORKER.update(turns=turns, engine=engine, run_id=run_id, job=job, parent=os.getppid())


def write_group(index: int, sources: list[Source]) -> Written:
    """Parse a group of files, wait for its turn, write it in one transaction, pass the turn on."""
    turns, job = _WORKER["turns"], _WORKER["job"]
    try:
        # parsed ahead while another group is written: the group, or its first PART_EVENTS events (the rest is
        # parsed in the turn, part by part, so that a group of small files that expand enormously never
        # sits in memory whole)
        batch = parts(prepared(sources, job))
        ahead = [next(batch)]
        turns.wait_for(index)
        if os.getppid() != _WORKER["parent"]:  # orphaned (where PR_SET_PDEATHSIG is missing): write nothing
            raise RuntimeError("the ingest process is gone")
        written = store(_WORKER["engine"], _WORKER["run_id"], sources, itertools.chain(_handed_on(ahead), batch), job)
    except BaseException:
        turns.abandon()  # the groups after this one must not be written without it
        raise
    turns.done(index)
    return written


def _handed_on(items: list):
    """The items, each let go of once handed on (a written part is not held while the next is parsed)."""
    while items:
        yield items.pop(0)


# --- in the ingest process ------------------------------------------------------------------------

def written_groups(sources: list[Source], database_url: str, on_connect, run_id: int, job: tuple,
                   workers: int):
    """Yield a Written per group, in input order, once the group is committed."""
    ctx = multiprocessing.get_context("fork")
    turns = Turns(ctx)
    try:
        yield from in_order(workers, write_group, list(enumerate(groups(sources))), _init_worker,
                            (turns, database_url, on_connect, run_id, job))
    finally:
        turns.abandon()  # a worker that failed, or a consumer that stopped: nobody waits for ever
