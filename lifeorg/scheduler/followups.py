"""Follow-ups the scheduler asks for: the daily digest and nudges for overdue tasks.

Both are jobs keyed by what they are about (a user's local day, a task's due time), so
asking again, from any number of scheduler processes, changes nothing.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from lifeorg import ledger
from lifeorg.models import Job, Task, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import TaskState

# A digest that could not go out at the user's time (everything was down) still goes out
# within this window, and not in the middle of the night after it.
DIGEST_WINDOW = dt.timedelta(hours=2)
# Nightly backups start at this time (UTC), when a personal organiser is quiet.
BACKUP_AT = dt.time(3, 0)
# Tasks that fell overdue longer ago than this were nudged then (or the system was down
# for longer, and the digest lists them).
NUDGE_LOOKBACK = dt.timedelta(days=1)


def _submit_once(kind: str, key: str, payload: dict, owner_id: int | None) -> bool:
    if Job.select().where(Job.idempotency_key == key).exists():
        return False
    ledger.submit(kind, key, payload, owner_id=owner_id)
    return True


def due_digests(now: dt.datetime | None = None) -> int:
    """Ask for today's digest of each active user whose default time has come."""
    now = now or utcnow()
    asked = 0
    for user in User.select().where(User.active == True):  # noqa: E712 (SQL)
        local = now.astimezone(ZoneInfo(user.timezone))
        at = dt.datetime.combine(
            local.date(), dt.time.fromisoformat(user.default_time), local.tzinfo
        )
        if at <= local < at + DIGEST_WINDOW:
            day = local.date().isoformat()
            asked += _submit_once(
                "digest", f"digest:{user.id}:{day}", {"user_id": user.id, "day": day}, user.id
            )
    return asked


def overdue_nudges(now: dt.datetime | None = None) -> int:
    """Ask for a nudge about each task that has just fallen overdue."""
    now = now or utcnow()
    asked = 0
    overdue = Task.select(Task.id, Task.owner, Task.due_at).where(
        (Task.state == TaskState.NOT_DONE)
        & (Task.due_at <= now)
        & (Task.due_at > now - NUDGE_LOOKBACK)
    )
    for task in overdue:
        key = f"nudge:{task.id}:{task.due_at.isoformat()}"
        asked += _submit_once(
            "nudge", key, {"task_id": task.id, "due_at": task.due_at.isoformat()}, task.owner_id
        )
    return asked


def nightly_backup(now: dt.datetime | None = None) -> int:
    """Ask for today's backup once its time has come (once a day, whoever asks)."""
    now = (now or utcnow()).astimezone(dt.UTC)
    if now.time() < BACKUP_AT:
        return 0
    day = now.date().isoformat()
    return int(_submit_once("backup", f"backup:{day}", {"day": day}, None))
