"""Due work inside a one-process setup (``lifeorg chat``, ``lifeorg run``): reminders as they
fall due, the ledger sweep, and expiring unanswered suggestions.

It sleeps until the next reminder is due, but never longer than ``MAX_SLEEP_S``, so a new
reminder set by a message is seen within that time and a due one goes out within it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from lifeorg import ledger
from lifeorg.config import Settings
from lifeorg.models.base import db, utcnow
from lifeorg.scheduler.expiry import expire_suggestions
from lifeorg.scheduler.followups import due_digests, nightly_backup, overdue_nudges
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
        self.dispatch_lease = dt.timedelta(seconds=settings.job_dispatch_lease_s)
        self._halt = threading.Event()
        self._last_sweep = 0.0
        self._last_expiry = 0.0

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
            if time.monotonic() - self._last_sweep >= SWEEP_EVERY_S:
                self._last_sweep = time.monotonic()
                ledger.sweep(dispatch_lease=self.dispatch_lease)
            if time.monotonic() - self._last_expiry >= EXPIRE_EVERY_S:
                self._last_expiry = time.monotonic()
                expire_suggestions()
                due_digests()
                overdue_nudges()
                nightly_backup()
            upcoming = next_due()
        if upcoming is None:
            return MAX_SLEEP_S
        return max(0.0, min(MAX_SLEEP_S, (upcoming - utcnow()).total_seconds()))
