"""Quiet hours hold unprompted messages (reminders going off) until they end."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from lifeorg.actors.notify import send
from lifeorg.errors import StepDeferred
from lifeorg.models import Job, OutboxMessage, User
from lifeorg.models.base import utcnow
from lifeorg.pipeline.outbox import say
from lifeorg.pipeline.quiet import quiet_until

BERLIN = ZoneInfo("Europe/Berlin")


def user_with(start: str | None, end: str | None, tz: str = "Europe/Berlin") -> User:
    return User(
        telegram_user_id=1,
        chat_id=1,
        timezone=tz,
        default_time="09:00",
        quiet_start=start,
        quiet_end=end,
    )


@pytest.mark.parametrize(
    ("local_now", "until"),
    [
        (dt.datetime(2026, 11, 24, 23, 30), dt.datetime(2026, 11, 25, 7, 0)),
        (dt.datetime(2026, 11, 25, 6, 59), dt.datetime(2026, 11, 25, 7, 0)),
        (dt.datetime(2026, 11, 25, 7, 0), None),
        (dt.datetime(2026, 11, 24, 21, 59), None),
    ],
)
def test_quiet_hours_that_wrap_midnight(local_now, until):
    """22:00-07:00: quiet from 22:00 until 07:00 the next morning, and not at 07:00."""
    user = user_with("22:00", "07:00")
    got = quiet_until(user, local_now.replace(tzinfo=BERLIN))
    assert got == (until.replace(tzinfo=BERLIN) if until else None)


def test_no_quiet_hours_means_never_quiet():
    """Unset or empty quiet hours hold nothing."""
    now = utcnow()
    assert quiet_until(user_with(None, None), now) is None
    assert quiet_until(user_with("08:00", "08:00"), now) is None


def test_an_end_in_the_dst_gap_moves_forward():
    """Quiet until 02:30 on the night clocks jump from 02:00 to 03:00 ends at 03:30 CEST."""
    user = user_with("01:00", "02:30")
    got = quiet_until(user, dt.datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN))
    assert got.isoformat() == "2026-03-29T03:30:00+02:00"


def test_a_reminder_in_quiet_hours_waits_but_a_reply_does_not(database):
    """The unprompted row is deferred until the quiet hours end; a reply goes out."""
    local = utcnow().astimezone(BERLIN)
    start = (local - dt.timedelta(hours=1)).strftime("%H:%M")
    end = (local + dt.timedelta(hours=1)).strftime("%H:%M")
    user = User.create(
        telegram_user_id=1,
        chat_id=1,
        timezone="Europe/Berlin",
        default_time="09:00",
        quiet_start=start,
        quiet_end=end,
    )
    reminder_row = say(user, "⏰ call mum", key="fired:1", unprompted=True)
    reply_row = say(user, "📝 Saved.", key="reply:1")

    def job_for(row: OutboxMessage) -> Job:
        return Job.get(Job.idempotency_key == f"notify:{row.idempotency_key}")

    with pytest.raises(StepDeferred) as held:
        send(job_for(reminder_row))
    assert 55 * 60 <= held.value.retry_after_s <= 61 * 60
    assert "message_id" in send(job_for(reply_row))
