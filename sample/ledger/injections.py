"""When rare kinds and deliberate faults happen, and to whom.

Their days are drawn up front: the number of each follows the real rate, with a
minimum so that even a small sample has each. One that finds no suitable user (or,
for a marker, no suitable block) on its day is retried the next day.
"""
from __future__ import annotations

import random
from collections import defaultdict

from sample.ledger.cases import CASES, Cases
from sample.ledger.day import Day
from sample.ledger.faults import Faults
from sample.ledger.timeline import Timeline
from sample.ledger.traffic import Traffic
from sample.ledger.users import Population, User
from sample.plan import INVOKE_ERROR, SKIP_WEB

MESSAGES_PER_USER_DAY = 0.215  # what the everyday rates add up to; sizes the injection counts
# Rare kinds and faults: (count per expected message, minimum count, days allowed).
# "legacy": days on which legacy blocks are logged; "full": days with the full schema.
INJECTIONS = {
    "guard_no_block": (4.0e-4, 1, "all"),
    "guard_with_block": (4.6e-4, 1, "all"),
    "overdraft": (2.0e-4, 1, "all"),
    "lock": (2.8e-3, 1, "all"),
    "sync_error": (2.0e-3, 1, "all"),
    "invoke_error": (6.0e-5, 1, "all"),
    "skip_web": (6.3e-4, 1, "all"),
    "already2": (5.8e-4, 1, "legacy"),
    "continuity_break": (1.0e-3, 2, "all"),
    "ledger_break": (3.0e-4, 2, "legacy"),
    "negative_amount": (3.5e-4, 1, "all"),
    "random_uuid": (1.7e-4, 1, "full"),
    "backtick": (2.3e-4, 1, "full"),
    "undefined_metadata": (9.0e-4, 1, "full"),
}
MARKERS = ("lock", "sync_error", "already2")  # applied to the day's messages after the ledger ran (see markers)


class Injector:
    """Schedules every injection at construction; `plan` adds a day's injections to it as intents or markers.

    With `cases` (--truth), the detector cases of sample.ledger.cases are scheduled too, after the others.
    """

    def __init__(self, rng: random.Random, timeline: Timeline, population: Population, traffic: Traffic,
                 faults: Faults, users: int, cases: Cases | None = None):
        self.rng, self.timeline, self.population, self.traffic, self.faults = rng, timeline, population, traffic, \
            faults
        self.cases = cases
        self.table = {**INJECTIONS, **CASES} if cases else INJECTIONS
        self.windows = {**timeline.windows(), **cases.windows()} if cases else timeline.windows()
        self.pending: list[str] = []
        self.due = self._schedule(users * timeline.days * MESSAGES_PER_USER_DAY)

    def _schedule(self, expected_messages: float) -> dict[int, list[str]]:
        """Pick the days of every rare kind and fault (see INJECTIONS)."""
        windows = self.windows
        due: dict[int, list[str]] = defaultdict(list)
        for name, (rate, minimum, window) in self.table.items():
            days = windows[window]
            if not days:
                continue
            for _ in range(max(minimum, round(rate * expected_messages))):
                due[self.rng.choice(days)].append(name)
        return due

    def plan(self, day: Day) -> None:
        todo, self.pending = self.pending + self.due.pop(day.index, []), []
        for name in todo:
            if name in MARKERS:
                day.markers.append(name)
            elif not self._inject(day, name):
                self.keep_pending(day, name)

    def keep_pending(self, day: Day, name: str) -> None:
        """Retry tomorrow, unless the kind's window is over."""
        if day.index + 1 not in self.windows[self.table[name][2]]:
            return
        self.pending.append(name)

    def _inject(self, day: Day, name: str) -> bool:
        if name in CASES:
            return self.cases.inject(day, name)
        if name == "invoke_error":
            day.add(None, self.traffic.payloadless, INVOKE_ERROR)
            return True
        if name == "random_uuid":
            day.add(None, self.faults.test_user_tx)
            return True
        if name == "skip_web":
            user = self.population.sample(self.population.idle, lambda u: not u.logged)
            if user is None:
                return False
            self.population.idle.remove(user)
            day.add(user, self.traffic.start_subscription, SKIP_WEB)
            return True
        user = self._injection_user(name)
        if user is None:
            return False
        faults = self.faults
        handler = {
            "guard_no_block": faults.prepare_guard, "guard_with_block": faults.overdraw,
            "overdraft": faults.overdraw, "continuity_break": faults.external_change,
            "ledger_break": faults.ledger_break, "negative_amount": faults.negative_amount,
            "backtick": faults.addon_gift, "undefined_metadata": faults.refund_undefined}[name]
        args = (name == "overdraft",) if name in ("guard_with_block", "overdraft") else ()
        # The guard must be armed before tonight's batch, or it would slip to a later night.
        day.add(user, handler, *args, before_night=name == "guard_no_block")
        return True

    def _injection_user(self, name: str) -> User | None:
        """A user for whom the fault is visible: subscribed (more blocks will follow), with history when needed."""
        def fits(u: User) -> bool:
            if u.balance <= float(u.price) or u.guard_pending:
                return False
            if name == "continuity_break" and not u.logged:
                return False
            return name != "ledger_break" or u.cur.vat_rate > 0
        return self.population.sample(self.population.subscribed, fits)
