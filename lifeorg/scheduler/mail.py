"""Asking for mailbox polls: the scheduler decides when, ``poll_mailbox`` does the reading."""

from __future__ import annotations

import datetime as dt

from lifeorg import ledger
from lifeorg.config import Settings
from lifeorg.models import Job
from lifeorg.models.base import utcnow

# A poll that failed (server down) is tried once more; the next interval's poll follows.
POLL_ATTEMPTS = 2


def submit_polls(settings: Settings, now: dt.datetime | None = None) -> int:
    """Ask for one poll of every configured mailbox, keyed per interval (a second scheduler
    asking in the same interval adds nothing); returns how many were new."""
    interval = int((now or utcnow()).timestamp()) // settings.mail_poll_s
    new = 0
    for mailbox in settings.mailboxes:
        key = f"poll_mailbox:{mailbox.key}:{interval}"
        if Job.get_or_none(Job.idempotency_key == key) is None:
            ledger.submit("poll_mailbox", key, {"mailbox": mailbox.key}, max_attempts=POLL_ATTEMPTS)
            new += 1
    return new
