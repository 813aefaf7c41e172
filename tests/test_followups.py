"""The daily digest at the user's time, once a day; a nudge once per overdue task."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from lifeorg import runtime
from lifeorg.models import Event, Job, Reminder, Task, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventSource, TaskState
from lifeorg.scheduler.followups import due_digests, overdue_nudges

ME = 111
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def user(database, monkeypatch, tmp_path) -> User:
    monkeypatch.setattr(runtime.current().settings, "data_dir", tmp_path)
    local = utcnow().astimezone(BERLIN)
    # The default time is a minute ago, so the digest is due now.
    default = (local - dt.timedelta(minutes=1)).strftime("%H:%M")
    return User.create(
        telegram_user_id=ME, chat_id=ME, timezone="Europe/Berlin", default_time=default
    )


def test_the_digest_lists_today_and_the_overdue_once_a_day(user, settle, messenger):
    """Events and reminders of the day and overdue tasks, sent once for the day."""
    noon = dt.datetime.combine(utcnow().astimezone(BERLIN).date(), dt.time(12, 0), BERLIN)
    user.default_time = "11:30"
    user.save()
    evening = noon + dt.timedelta(hours=6)
    Reminder.create(owner=user, text="call mum", fire_at=evening)
    Event.create(
        owner=user, description="dentist", starts_at=evening, source_type=EventSource.MANUAL
    )
    Task.create(owner=user, description="pay the bill", due_at=utcnow() - dt.timedelta(days=2))

    assert due_digests(noon) == 1
    assert due_digests(noon + dt.timedelta(minutes=1)) == 0  # once a day, however often
    settle()

    text = messenger.to(ME)[-1]["text"]
    assert "call mum" in text and "dentist" in text and "pay the bill" in text
    assert "18:00" in text
    assert Job.select().where(Job.kind == "digest").count() == 1


def test_an_empty_day_sends_no_digest(user, settle, messenger):
    """Nothing today and nothing overdue: no message."""
    due_digests()
    settle()
    assert messenger.to(ME) == []


def test_a_digest_is_not_sent_in_the_middle_of_the_night(user):
    """Hours after the user's time (everything was down) the day's digest is skipped."""
    assert due_digests(utcnow() + dt.timedelta(hours=3)) == 0


def test_an_overdue_task_is_nudged_once_and_a_done_one_never(user, settle, messenger):
    """A task just overdue gets one nudge with its buttons; a completed one gets none."""
    due = utcnow() - dt.timedelta(minutes=5)
    task = Task.create(owner=user, description="send the form", due_at=due)
    Task.create(owner=user, description="already done", due_at=due, state=TaskState.DONE)

    assert overdue_nudges() == 1
    assert overdue_nudges() == 0
    settle()

    sent = messenger.to(ME)
    assert len(sent) == 1 and "Overdue" in sent[0]["text"] and "send the form" in sent[0]["text"]
    assert [b[0] for row in sent[0]["buttons"] for b in row] == ["Done", "Change due", "Delete"]
    assert Task.get_by_id(task.id).state == TaskState.NOT_DONE
