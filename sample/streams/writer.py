"""The logging side of the sample generator: invocations, execution environments, timing and files.

`write_day` turns one `DayPlan` into log streams and writes them. It uses its own
`random.Random` seeded from (seed, day), so each day's files depend only on the
seed and that day's plan: days can be written by parallel workers in any order and
the bytes stay the same.

The model, tuned on the real export:

* SQS batches of 1–10 messages → one invocation each. The nightly batch is drained
  by a few environments started together (more when there are more messages); the
  daytime traffic reuses a warm environment when one is idle, else cold-starts one.
* One environment = one log stream = one `000000.gz`, named after its creation day.
  Its first invocation follows an `INIT_START` and reports an `Init Duration`.
* Gaps between log lines follow the real ones (a few ms to ~100 ms).
* The file is written in chunks, some of them out of time order (§3.4).
"""
from __future__ import annotations

import dataclasses
import heapq
import math
import os
import random
import zlib
from datetime import date

from sample.text import lines as r
from sample.streams.metadata import metadata_for
from sample.plan import (
    ALREADY, ALREADY2, GUARD, GUARDED, INVOKE_ERROR, SKIP_CREATE, SKIP_FLAG, SKIP_WEB, SYNC, SYNC_ERROR, DayPlan,
    Message, Tx)

# Runtime in use by creation day (first day, runtime, hash of its ARN), as in the real export.
RUNTIMES = (
    ("0000-00-00", "nodejs:14.v42", "4cb686be08f980f530c1cbdeae970951c08b712057b80e8698cf4641214607d6"),
    ("2023-12-28", "nodejs:20.v13", "6fb7e564fae3347add879359ec92013de1e84ce02488f36ec21448277c28707c"),
    ("2024-01-14", "nodejs:20.v14", "d4c968f0a85420c036d732975b0317307799fc7152619b3c4fb289f5d8e34f8a"),
    ("2024-02-01", "nodejs:20.v15", "379cd8c4d157c2e16f1b841486b613da2188da597609ef24d67497ad9c22a53e"),
    ("2024-02-25", "nodejs:20.v16", "e06356b9cc317b394b345659ca7fe94e5360e45227db179a224757608b8effe6"),
    ("2024-03-07", "nodejs:20.v18", "2250774f98acc3954111984e0b9853cb801265eb866d3bef345707fcfb7af67c"),
    ("2024-03-17", "nodejs:20.v19", "2d68d583b872accb8815f845161e9bbabc6ac3ed4d0ab8c23e75f8788cf5444a"),
    ("2024-04-15", "nodejs:20.v20", "e510d001332c5ac4354ceb185ddd6ef3def14993da7ab2533668b6a6a1ee661d"),
    ("2024-04-18", "nodejs:20.v22", "da57c20c4b965d5b75540f6865a35fc8030358e33ec44ecfed33e90901a27a72"),
)
SMALL_MEMORY = ("2023-12-28", "2024-01-09")   # the function ran with 512 MB on these days
# Minified names in the stack of "An error occured while syncing the balance", per build.
ERROR_NAMES = (("0000-00-00", ("Zi", "rF", "X0")), ("2024-04-20", ("Zi", "JU", "K0")),
               ("2024-05-08", ("es", "JU", "mA")))

NIGHT_BATCH_SIZES = ((1, 62), (2, 5), (3, 4.5), (4, 3), (5, 2.7), (6, 1.7), (7, 1), (8, 1), (9, 0.9), (10, 10.5))
NIGHT_MESSAGES_PER_ENV = 70    # the real nightly batch of ~150 messages ran on two environments
DAY_BATCH_WINDOW_MS = 200      # daytime messages arriving this close together share a batch
MAX_BATCH = 10
IDLE_TIMEOUT_MS = (300_000, 600_000)
MAX_LIFETIME_MS = 2 * 3_600_000
XRAY_P = 0.105
CHUNKS = ((1, 67), (2, 24), (3, 6), (4, 2), (5, 1))   # runs of ascending timestamps per real file
CHUNK_BYTES = 400_000           # big files get more chunks
OBJECT_NAME = "000000.gz"
TWIN_P = 0.1


@dataclasses.dataclass
class Options:
    out_dir: str
    export_task: str
    seed: int
    twins: bool = False
    compresslevel: int = 6


@dataclasses.dataclass
class DayResult:
    index: int
    streams: int = 0
    events: int = 0
    invocations: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    out_of_order_files: int = 0
    twin_files: int = 0
    stream_names: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True, eq=False)
class Env:
    """One Lambda execution environment, i.e. one log stream."""
    name: str
    created_ms: int
    idle_timeout_ms: int
    memory_used: int
    free_ms: int = 0             # end of its current invocation
    cold: bool = True            # until its first REPORT
    init_ms: float = 0.0
    events: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def expired(self, now_ms: int) -> bool:
        return now_ms - self.free_ms > self.idle_timeout_ms or now_ms - self.created_ms > MAX_LIFETIME_MS


def _by_date(table, day: str):
    chosen = table[0][1:]
    for row in table:
        if row[0] <= day:
            chosen = row[1:]
    return chosen


def write_day(plan: DayPlan, options: Options) -> DayResult:
    """Log and write every stream of one day; return what was written."""
    return _DayWriter(plan, options).run()


class _DayWriter:
    def __init__(self, plan: DayPlan, options: Options):
        self.plan, self.options = plan, options
        self.rng = random.Random(f"{options.seed}:{plan.index}")
        self.twin_rng = random.Random(f"{options.seed}:{plan.index}:twins")
        self.day = date.fromisoformat(plan.date)
        self.runtime, self.arn_hash = _by_date(RUNTIMES, plan.date)
        self.memory_mb = 512 if SMALL_MEMORY[0] <= plan.date <= SMALL_MEMORY[1] else 1024
        self.error_names = _by_date(ERROR_NAMES, plan.date)[0]
        self.result = DayResult(plan.index)
        self.warm: list[Env] = []

    # --- scheduling ----------------------------------------------------------------------

    def run(self) -> DayResult:
        night = [m for m in self.plan.messages if m.night]
        batches = self._day_batches([m for m in self.plan.messages if not m.night])
        night_at = min((m.at_ms for m in night), default=None)
        before = [b for b in batches if night_at is None or b[0].at_ms < night_at]
        for batch in before:
            self._daytime(batch)
        if night:
            self._nightly(night)
        for batch in batches[len(before):]:
            self._daytime(batch)
        for env in self.warm:
            self._write(env)
        return self.result

    def _day_batches(self, messages: list[Message]) -> list[list[Message]]:
        """Group daytime messages that arrive together (an invocation failure stays alone)."""
        batches: list[list[Message]] = []
        for m in messages:
            last = batches[-1] if batches else None
            if (last and m.kind != INVOKE_ERROR and last[0].kind != INVOKE_ERROR and len(last) < MAX_BATCH
                    and m.at_ms - last[0].at_ms <= DAY_BATCH_WINDOW_MS):
                last.append(m)
            else:
                batches.append([m])
        return batches

    def _daytime(self, batch: list[Message]) -> None:
        ready = batch[0].at_ms + self.rng.randint(20, 300)
        self._retire(ready)
        idle = [env for env in self.warm if env.free_ms + 5 <= ready]
        if idle:
            env = self.rng.choice(idle)
            start = max(ready, env.free_ms + self.rng.randint(5, 30))
        else:
            env = self._cold_start(ready)
            start = env.free_ms
        self._invoke(env, start, batch)

    def _nightly(self, night: list[Message]) -> None:
        """Drain the nightly queue with a few environments started together."""
        queue = sorted(night, key=lambda m: m.at_ms)
        first_at = queue[0].at_ms
        self._retire(first_at)
        count = max(2, math.ceil(len(queue) / NIGHT_MESSAGES_PER_ENV)) if len(queue) > 1 else 1
        envs = [self._cold_start(first_at + self.rng.randint(0, 3000)) for _ in range(count)]
        heap = [(env.free_ms, i, env) for i, env in enumerate(envs)]
        heapq.heapify(heap)
        position = 0
        while position < len(queue):
            free_ms, i, env = heapq.heappop(heap)
            size = 1 if env.cold else self._weighted(NIGHT_BATCH_SIZES)
            batch = queue[position:position + size]
            position += len(batch)
            start = max(free_ms + (0 if env.cold else self.rng.randint(20, 400)), batch[-1].at_ms)
            self._invoke(env, start, batch)
            heapq.heappush(heap, (env.free_ms, i, env))

    def _cold_start(self, ready_ms: int) -> Env:
        env = Env(name=f"{self.plan.date}-[$LATEST]{self.rng.getrandbits(128):032x}", created_ms=ready_ms,
                  idle_timeout_ms=self.rng.randint(*IDLE_TIMEOUT_MS), memory_used=self.rng.randint(92, 112))
        env.init_ms = round(self.rng.uniform(650, 1330), 2)
        env.events.append((ready_ms, r.raw_event(ready_ms, r.init_start_text(self.runtime, self.arn_hash))))
        # START follows INIT_START by the init duration plus ~1.3 ms.
        env.free_ms = ready_ms + round(env.init_ms + self.rng.uniform(0.4, 3.4))
        self.warm.append(env)
        return env

    def _retire(self, now_ms: int) -> None:
        """Write environments that went idle for good: memory stays flat over a day."""
        keep = []
        for env in self.warm:
            if env.expired(now_ms):
                self._write(env)
            else:
                keep.append(env)
        self.warm = keep

    # --- one invocation --------------------------------------------------------------------

    def _invoke(self, env: Env, start_ms: int, batch: list[Message]) -> None:
        rng = self.rng
        if batch[0].kind == INVOKE_ERROR:
            request_id = r.uuid_text(rng.getrandbits(128), 4)   # the real failed invocation had a v4 id
        else:
            request_id = r.uuid_text(rng.getrandbits(128), 5)
        events = env.events
        events.append((start_ms, r.raw_event(start_ms, r.start_text(request_id))))
        t = start_ms + (rng.randint(100, 224) if env.cold else rng.randint(15, 60))
        for i, message in enumerate(batch):
            if i:
                t += rng.randint(10, 20)
            t = self._message(env, request_id, t, message)
        end = t + (rng.randint(12, 22) if batch[-1].kind == SYNC else rng.randint(1, 16))
        duration = max(1.0, end - start_ms + rng.uniform(-0.7, 0.8))
        self._report(env, request_id, end, duration, start_ms)
        env.free_ms = end
        self.result.invocations += 1

    def _report(self, env: Env, request_id: str, end: int, duration: float, start_ms: int) -> None:
        rng = self.rng
        xray = None
        if rng.random() < XRAY_P:
            trace = f"1-{(start_ms // 1000 - rng.randint(0, 3)):08x}-{rng.getrandbits(96):024x}"
            xray = (trace, f"{rng.getrandbits(64):016x}")
        env.memory_used = min(160, env.memory_used + rng.randint(0, 2))
        init = env.init_ms if env.cold else None
        env.events.append((end, r.raw_event(end, r.end_text(request_id))))
        env.events.append((end, r.raw_event(end, r.report_text(request_id, duration, self.memory_mb,
                                                               env.memory_used, init, xray))))
        env.cold = False

    def _message(self, env: Env, rid: str, t: int, m: Message) -> int:
        """Log one message from time t; return the time of its last line."""
        rng, out = self.rng, env.events
        if m.kind == INVOKE_ERROR:
            t += rng.randint(200, 300)
            out.append((t, r.app_event(t, rid, "ERROR", r.invoke_error_body())))
            return t
        out.append((t, r.app_event(t, rid, "INFO", r.processing_body(m.message_id))))
        if m.kind == SYNC:
            return self._sync(out, rid, t, m.tx)
        if m.kind == SYNC_ERROR:
            t += rng.randint(5, 45)
            out.append((t, r.app_event(t, rid, "ERROR", r.sync_error_body(self.error_names))))
            return self._metric(out, t + rng.randint(0, 12), "synBalanceError")
        if m.kind == GUARD:
            user_id, tx_id, balance = m.guard
            t += rng.randint(25, 35)
            if m.metric_action:
                t = self._metric(out, t, "negativeBalance", user_id, m.metric_action) + 1
            out.append((t, r.app_event(t, rid, "INFO", r.guard_body(user_id, tx_id, balance, None))))
            return t
        t += rng.randint(0, 1)
        text = {SKIP_CREATE: r.SKIP_CREATE, SKIP_WEB: r.SKIP_WEB}.get(m.kind)
        if m.kind == SKIP_FLAG:
            text = r.skip_flag_body(m.flag_action)
        out.append((t, r.app_event(t, rid, "INFO", text)))
        return t

    def _sync(self, out: list, rid: str, t: int, tx: Tx) -> int:
        rng = self.rng
        t += rng.randint(5, 7) if rng.random() < 0.95 else rng.randint(8, 42)
        out.append((t, r.app_event(t, rid, "INFO", self._sync_body(tx))))
        if tx.outcome == GUARDED:
            t += rng.randint(0, 2)
            out.append((t, r.app_event(t, rid, "INFO", r.guard_body(tx.user_id, tx.id, tx.old, tx.new))))
            return t
        if tx.outcome in (ALREADY, ALREADY2):
            t += rng.randint(0, 1)
            out.append((t, r.app_event(t, rid, "INFO", r.SKIP_ALREADY if tx.outcome == ALREADY else r.ALREADY_SYNCED)))
            gap = rng.randint(17, 57)
        else:
            if tx.lock:
                t += rng.randint(35, 60)
                out.append((t, r.app_event(t, rid, "INFO", r.lock_body(tx.user_id, tx.id, t - rng.randint(40, 70)))))
            t += 38 + min(260, int(rng.expovariate(1 / 14)))
            out.append((t, r.app_event(t, rid, "INFO", r.PUBLISHED)))
            gap = rng.randint(1, 20)
        if tx.nis is not None:
            t += gap
            out.append((t, r.app_event(t, rid, "ERROR", r.not_in_sync_body(tx.user_id, *tx.nis))))
            if tx.nis_metric:
                t = self._metric(out, t + rng.randint(0, 1), "subBalanceDiscrapancy", tx.user_id, tx.action)
        return t

    def _sync_body(self, tx: Tx) -> str:
        if tx.legacy:
            return r.sync_legacy_body(tx.id, tx.user_id, tx.currency, tx.amount, tx.vat, tx.old, tx.new)
        return r.sync_full_body(tx.id, tx.kind, tx.source, tx.action, tx.user_id, tx.payment,
                                metadata_for(tx, self.rng, self.day), tx.currency, tx.amount, tx.vat, tx.old, tx.new)

    def _metric(self, out: list, t: int, name: str, user_id: str | None = None, action: str | None = None) -> int:
        """An EMF line; its _aws.Timestamp is the flush time or a few ms before."""
        stamp = t - (self.rng.randint(1, 11) if self.rng.random() < 0.3 else 0)
        out.append((t, r.raw_event(t, r.emf_text(name, stamp, user_id, action))))
        return t

    # --- files ---------------------------------------------------------------------------------

    def _write(self, env: Env) -> None:
        events = env.events   # already in time order: an env runs one thing at a time
        chunks = self._shuffled_chunks(events)
        data = "".join(chunks).encode("utf-8")
        folder = os.path.join(self.options.out_dir, self.options.export_task, env.name)
        os.makedirs(folder, exist_ok=True)
        packed = gzip_bytes(data, self.options.compresslevel)
        with open(os.path.join(folder, OBJECT_NAME), "wb") as f:
            f.write(packed)
        if self.options.twins and self.twin_rng.random() < TWIN_P:
            with open(os.path.join(folder, OBJECT_NAME[:-3]), "wb") as f:
                f.write(data)
            self.result.twin_files += 1
        res = self.result
        res.streams += 1
        res.events += len(env.events)
        res.bytes_uncompressed += len(data)
        res.bytes_compressed += len(packed)
        res.stream_names.append(env.name)
        env.events = []

    def _shuffled_chunks(self, events: list[tuple[int, str]]) -> list[str]:
        """Split the events into chunks and put some chunks out of time order, like the export does.

        Chunks are only cut where the timestamp changes: events of the same millisecond
        stay in their order, so a stable sort by timestamp restores the true order.
        """
        rng = self.rng
        size = sum(len(text) for _, text in events)
        cut_points = [i for i in range(1, len(events)) if events[i][0] > events[i - 1][0]]
        count = min(len(cut_points) + 1, self._weighted(CHUNKS) + size // CHUNK_BYTES)
        if count < 2:
            return [text for _, text in events]
        cuts = [0] + sorted(rng.sample(cut_points, count - 1)) + [len(events)]
        chunks = ["".join(text for _, text in events[a:b]) for a, b in zip(cuts, cuts[1:])]
        order = list(range(count))
        while order == sorted(order):
            rng.shuffle(order)
        self.result.out_of_order_files += 1
        return [chunks[i] for i in order]

    def _weighted(self, table):
        values, weights = zip(*table)
        return self.rng.choices(values, weights)[0]


def gzip_bytes(data: bytes, level: int) -> bytes:
    """Single-member gzip like the export's: no name, mtime 0, XFL 0, OS 255 (header 1f 8b 08 00 …)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")
    return header + body + trailer
