"""Due work inside a one-process setup (``lifeorg chat``, ``lifeorg run``): the scheduler's
passes in a thread, without a separate process.

The passes are the scheduler process's own (``periodic_passes`` is the one list both run).
The thread sleeps until the next reminder is due, but never longer than ``MAX_SLEEP_S``, so
a new reminder set by a message is seen within that time and a due one goes out within it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from lifeorg import ledger
from lifeorg.config import Settings
from lifeorg.models.base import db, utcnow
from lifeorg.scheduler.expiry import expire_suggestions
from lifeorg.scheduler.followups import due_digests, nightly_backup, overdue_nudges
from lifeorg.scheduler.mail import submit_polls
from lifeorg.scheduler.reminders import claim_due, next_due

log = logging.getLogger(__name__)

# A reminder goes out within this long of its time; also how soon a new one is noticed.
MAX_SLEEP_S = 1.0
# Unfinished jobs are looked at this often; their leases are minutes long.
SWEEP_EVERY_S = 30.0
# Suggestions expire after days; a minute late is no one's loss.
EXPIRE_EVERY_S = 60.0


class Ticker(threading.Thread):
    """A daemon thread running the due-work passes until stopped."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="lifeorg-ticker", daemon=True)
        self.passes = periodic_passes(settings)
        self._halt = threading.Event()
        self._last_run = dict.fromkeys((name for name, _, _ in self.passes), 0.0)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                sleep_s = self.tick()
            except Exception:
                log.exception("due-work pass failed; trying again")
                sleep_s = MAX_SLEEP_S
            self._halt.wait(sleep_s)

    def tick(self) -> float:
        """One pass; returns how long to sleep before the next."""
        with db.connection_context():
            claim_due()
            for name, work, every_s in self.passes:
                if time.monotonic() - self._last_run[name] >= every_s:
                    self._last_run[name] = time.monotonic()
                    work()
            upcoming = next_due()
        if upcoming is None:
            return MAX_SLEEP_S
        return max(0.0, min(MAX_SLEEP_S, (upcoming - utcnow()).total_seconds()))


def periodic_passes(settings: Settings) -> list[tuple[str, Callable[[], Any], float]]:
    """The passes besides due reminders, with how often each runs: one list for the
    scheduler process and the ticker, so the two never differ in what they do."""
    lease = dt.timedelta(seconds=settings.job_dispatch_lease_s)
    passes = [
        ("sweep", lambda: ledger.sweep(dispatch_lease=lease), SWEEP_EVERY_S),
        ("expiry", lambda: expire_suggestions(settings=settings), EXPIRE_EVERY_S),
        ("digests", due_digests, EXPIRE_EVERY_S),
        ("nudges", overdue_nudges, EXPIRE_EVERY_S),
        ("backups", nightly_backup, EXPIRE_EVERY_S),
    ]
    if settings.mailboxes:
        passes.append(("mail", lambda: submit_polls(settings), float(settings.mail_poll_s)))
    return passes
