"""Reminders going off: claimed once, sent with their buttons, recurring across DST, missed."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest

from lifeorg import runtime
from lifeorg.models import Reminder, User
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import ReminderState
from lifeorg.scheduler.reminders import claim_due, next_occurrence
from lifeorg.scheduler.ticker import Ticker
from tests.conftest import wait_for

BERLIN = "Europe/Berlin"
ME = 111


@pytest.fixture
def user(database, monkeypatch, tmp_path) -> User:
    monkeypatch.setattr(runtime.current().settings, "allowed_users", [ME])
    monkeypatch.setattr(runtime.current().settings, "data_dir", tmp_path)
    return User.create(telegram_user_id=ME, chat_id=ME, timezone=BERLIN, default_time="09:00")


def reminder(user: User, fire_at: dt.datetime, text: str = "call mum", rule: str | None = None):
    return Reminder.create(owner=user, text=text, fire_at=fire_at, recurrence=rule)


def test_a_due_reminder_is_sent_once_with_its_buttons(user, settle, messenger):
    """Claimed, sent with [Done] [Snooze 10 min] [Snooze 1 h] [Tomorrow], marked fired."""
    item = reminder(user, utcnow() - dt.timedelta(seconds=5))
    future = reminder(user, utcnow() + dt.timedelta(hours=1), text="later")

    assert claim_due() == [item.id]
    assert claim_due() == []  # a second pass finds nothing left to claim
    settle()

    sent = messenger.to(ME)
    assert len(sent) == 1 and sent[0]["text"] == "⏰ call mum"
    labels = [b[0] for row in sent[0]["buttons"] for b in row]
    assert labels == ["Done", "Snooze 10 min", "Snooze 1 h", "Tomorrow"]
    assert Reminder.get_by_id(item.id).state == ReminderState.FIRED
    assert Reminder.get_by_id(future.id).state == ReminderState.SCHEDULED


def test_two_schedulers_at_once_fire_each_reminder_once(user, settle, messenger):
    """Concurrent claim passes (two scheduler processes, say) never claim a reminder twice."""
    items = [reminder(user, utcnow() - dt.timedelta(seconds=1), text=f"r{i}") for i in range(30)]
    results: list[list[int]] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        with db.connection_context():
            barrier.wait()
            results.append(claim_due(batch=10))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while claim_due():  # whatever the batches left
        pass
    settle()

    claimed = [i for batch in results for i in batch]
    assert len(claimed) == len(set(claimed))
    texts = sorted(m["text"] for m in messenger.to(ME))
    assert texts == sorted(f"⏰ r{i}" for i in range(30))
    assert all(Reminder.get_by_id(i.id).state == ReminderState.FIRED for i in items)


def test_a_daily_reminder_keeps_its_local_time_across_dst(user, settle):
    """Firing a daily 09:00 on the day before DST starts schedules 09:00 local the next day."""
    zone = ZoneInfo(BERLIN)
    first = dt.datetime(2026, 3, 28, 9, 0, tzinfo=zone)
    following = next_occurrence("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", first, BERLIN, after=first)
    assert following == dt.datetime(2026, 3, 29, 9, 0, tzinfo=zone)
    assert following.utcoffset() == dt.timedelta(hours=2)

    item = reminder(user, utcnow() - dt.timedelta(seconds=1), rule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    claim_due()
    settle()
    after = Reminder.get_by_id(item.id)
    assert after.state == ReminderState.SCHEDULED
    local = after.fire_at.astimezone(zone)
    assert (local.hour, local.minute) == (9, 0) and after.fire_at > utcnow()


def test_a_missed_reminder_is_sent_once_late_and_its_series_continues(user, settle, messenger):
    """Down for three days: one late message, then the next future occurrence, no burst."""
    three_days_ago = utcnow() - dt.timedelta(days=3)
    rule = f"FREQ=DAILY;BYHOUR={three_days_ago.astimezone(ZoneInfo(BERLIN)).hour};BYMINUTE=0"
    item = reminder(user, three_days_ago.replace(minute=0, second=0, microsecond=0), rule=rule)
    one_off = reminder(user, three_days_ago, text="once")

    claim_due()
    settle()

    texts = [m["text"] for m in messenger.to(ME)]
    assert len(texts) == 2 and all("(late: this was due" in t for t in texts)
    assert Reminder.get_by_id(item.id).fire_at > utcnow()
    assert Reminder.get_by_id(item.id).state == ReminderState.SCHEDULED
    assert Reminder.get_by_id(one_off.id).state == ReminderState.FIRED
    assert claim_due() == []


def test_snooze_sends_it_again_later(user, settle, messenger):
    """[Snooze 10 min] moves the reminder ten minutes on; it fires again then."""
    from tests.test_conversation import Chat

    item = reminder(user, utcnow() - dt.timedelta(seconds=1))
    claim_due()
    settle()
    Chat(messenger, settle).press("Snooze 10 min")

    snoozed = Reminder.get_by_id(item.id)
    assert snoozed.state == ReminderState.SNOOZED
    assert dt.timedelta(minutes=9) < snoozed.fire_at - utcnow() <= dt.timedelta(minutes=10)
    assert claim_due(utcnow() + dt.timedelta(minutes=11)) == [item.id]


def test_the_ticker_fires_a_reminder_within_seconds_of_its_time(user, settle, messenger):
    """The one-process ticker sends a reminder due in a second without being asked."""
    reminder(user, utcnow() + dt.timedelta(seconds=1), text="soon")
    ticker = Ticker(runtime.current().settings)
    ticker.start()
    try:
        wait_for(lambda: messenger.to(ME), timeout=10, what="the reminder to go out")
    finally:
        ticker.stop()
    assert messenger.to(ME)[0]["text"] == "⏰ soon"


def test_a_recurring_task_done_moves_to_its_next_due_date(user, settle, messenger):
    """[Done] on 'every monday' keeps the task open, due the following Monday."""
    from lifeorg.models import Task
    from lifeorg.models.states import TaskState
    from lifeorg.pipeline.outbox import say
    from lifeorg.pipeline.replies import task as task_reply
    from tests.test_conversation import Chat

    zone = ZoneInfo(BERLIN)
    due = dt.datetime(2026, 11, 23, 9, 0, tzinfo=zone)  # a Monday
    item = Task.create(
        owner=user,
        description="put the bins out",
        due_at=due,
        recurrence="FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
    )
    say(user, *task_reply(item, user), key="task-reply")
    settle()
    Chat(messenger, settle).press("Done")

    after = Task.get_by_id(item.id)
    assert after.state == TaskState.NOT_DONE
    local = after.due_at.astimezone(zone)
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    assert after.due_at > max(due, utcnow())
    assert "Next due" in messenger.answers[-1][1]
