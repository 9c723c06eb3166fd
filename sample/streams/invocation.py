"""What one invocation logs: START, each message of its batch with realistic gaps, END and REPORT."""
from __future__ import annotations

import random
from datetime import date

from sample.plan import (
    ALREADY, ALREADY2, GUARD, GUARDED, INVOKE_ERROR, SKIP_CREATE, SKIP_FLAG, SKIP_WEB, SYNC, SYNC_ERROR, UNTIED_NIS,
    Message, Tx)
from sample.streams.builds import Build
from sample.streams.environment import Env
from sample.streams.metadata import metadata_for
from sample.text import lines as r
from sample.text.ids import uuid_text

XRAY_P = 0.105


class Invocations:
    """Appends each invocation's events to its environment (`invoke`), from the day's random generator.

    With `logged` (a dict), the time each transaction's sync block is first logged is kept in it, by
    transaction id (the truth file lists findings at the times ingest will see).
    """

    def __init__(self, rng: random.Random, build: Build, day: date, logged: dict[str, int] | None = None):
        self.rng, self.build, self.day, self.logged = rng, build, day, logged
        self.bodies: dict[str, str] = {}   # the text of blocks a redelivered copy repeats (Tx.keep_body)

    def invoke(self, env: Env, start_ms: int, batch: list[Message]) -> None:
        rng = self.rng
        if batch[0].kind == INVOKE_ERROR:
            request_id = uuid_text(rng.getrandbits(128), 4)   # the real failed invocation had a v4 id
        else:
            request_id = uuid_text(rng.getrandbits(128), 5)
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

    def _report(self, env: Env, request_id: str, end: int, duration: float, start_ms: int) -> None:
        rng = self.rng
        xray = None
        if rng.random() < XRAY_P:
            trace = f"1-{(start_ms // 1000 - rng.randint(0, 3)):08x}-{rng.getrandbits(96):024x}"
            xray = (trace, f"{rng.getrandbits(64):016x}")
        env.memory_used = min(160, env.memory_used + rng.randint(0, 2))
        init = env.init_ms if env.cold else None
        env.events.append((end, r.raw_event(end, r.end_text(request_id))))
        env.events.append((end, r.raw_event(end, r.report_text(request_id, duration, self.build.memory_mb,
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
        if m.kind == UNTIED_NIS:
            t += rng.randint(20, 60)
            out.append((t, r.app_event(t, rid, "ERROR", r.not_in_sync_body(*m.nis))))
            return t
        if m.kind == SYNC_ERROR:
            t += rng.randint(5, 45)
            out.append((t, r.app_event(t, rid, "ERROR", r.sync_error_body(self.build.error_names))))
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
        if self.logged is not None:
            self.logged.setdefault(tx.id, t)
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
        if tx.keep_body:
            body = self.bodies.get(tx.id)
            if body is None:
                body = self.bodies[tx.id] = self._new_body(tx)
            return body
        return self._new_body(tx)

    def _new_body(self, tx: Tx) -> str:
        if tx.legacy:
            return r.sync_legacy_body(tx.id, tx.user_id, tx.currency, tx.amount, tx.vat, tx.old, tx.new)
        return r.sync_full_body(tx.id, tx.kind, tx.source, tx.action, tx.user_id, tx.payment,
                                metadata_for(tx, self.rng, self.day), tx.currency, tx.amount, tx.vat, tx.old, tx.new)

    def _metric(self, out: list, t: int, name: str, user_id: str | None = None, action: str | None = None) -> int:
        """An EMF line; its _aws.Timestamp is the flush time or a few ms before."""
        stamp = t - (self.rng.randint(1, 11) if self.rng.random() < 0.3 else 0)
        out.append((t, r.raw_event(t, r.emf_text(name, stamp, user_id, action))))
        return t
