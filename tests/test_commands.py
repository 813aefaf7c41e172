"""The slash commands, onboarding, settings and /undo, through the conversation pipeline."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from lifeorg.models import AuditEntry, Event, Job, Memory, OutboxMessage, Reminder, Task, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import (
    AuditAction,
    AuditActor,
    EventSource,
    EventStatus,
    ReminderState,
    TaskState,
)
from lifeorg.pipeline import commands, listings, route, settings_flow
from lifeorg.pipeline.formatting import when_text
from tests.test_conversation import ME, OTHER, Chat, chat  # noqa: F401  (the fixture)


@pytest.fixture
def talk(chat: Chat):  # noqa: F811
    """The conversation, failing the test if any pipeline step raised along the way."""
    yield chat
    errors = [j.last_error for j in Job.select().where(Job.last_error.is_null(False))]
    assert errors == []


def labels(message: dict) -> list[str]:
    return [b[0] for row in message["buttons"] for b in row]


def me() -> User:
    return User.get(User.telegram_user_id == ME)


def forge(entity, owner: User, undo: dict) -> None:
    """An audit entry written straight to ``owner``'s log, as a bug elsewhere might."""
    record(entity, AuditAction.UPDATED, AuditActor.USER, {"undo": undo}, owner_id=owner.id)


def sender(language: str | None = None) -> dict:
    person = {"id": ME, "is_bot": False, "first_name": "Ann"}
    return {"from": person | ({"language_code": language} if language else {})}


# -- /help, unknown commands, the command list


def test_help_lists_every_command_whatever_the_case_or_bot_name(talk):
    talk.send("/HELP@LifeOrgBot")
    text = talk.last()["text"]
    assert all(f"/{name}" in text for name, _ in commands.COMMANDS)
    assert "remind me" in text


def test_the_menu_and_the_handlers_agree():
    assert {name for name, _ in commands.COMMANDS} == set(commands._RUN)
    assert all(description for _, description in commands.COMMANDS)


def test_an_unknown_command_points_at_help_and_files_nothing(talk):
    talk.send("/frobnicate now")
    assert talk.last()["text"] == "I don't know /frobnicate. /help lists what I can do."
    assert Memory.select().count() == 0


def test_a_retried_command_replies_once(database):
    user = User.create(telegram_user_id=ME, chat_id=ME, timezone="UTC", default_time="09:00")
    message = {"message_id": 7, "chat": {"id": ME}}
    commands.handle(user, "/help", message)
    commands.handle(user, "/help", message)
    assert OutboxMessage.select().count() == 1


# -- /start and onboarding


def test_start_offers_zones_from_the_language_and_a_button_sets_one(talk):
    talk.send("/start", **sender("fr"))
    reply = talk.last()
    assert "Hi, Ann" in reply["text"] and "Europe/Berlin" in reply["text"]
    assert {"Europe/Paris", "UTC"} <= set(labels(reply))
    assert me().onboarded_at is None

    talk.press("Europe/Paris")
    user = me()
    assert (user.timezone, user.awaiting) == ("Europe/Paris", None)
    assert user.onboarded_at is not None
    assert "Time zone set to Europe/Paris" in talk.last()["text"]


@pytest.mark.parametrize(
    ("answer", "zone"),
    [
        ("berlin", "Europe/Berlin"),
        ("Europe/Paris", "Europe/Paris"),
        ("new york", "America/New_York"),
    ],
)
def test_start_takes_a_city_or_zone_name_as_text(talk, answer, zone):
    talk.send("/start")
    talk.send(answer)
    user = me()
    assert (user.timezone, user.awaiting) == (zone, None)
    assert user.onboarded_at is not None
    assert f"Time zone set to {zone}" in talk.last()["text"]
    assert Memory.select().count() == 0  # an answer is not a note


def test_an_unknown_zone_is_refused_and_asked_again(talk):
    talk.send("/start")
    talk.send("Mars/Base")
    assert "I don't know the time zone “Mars/Base”" in talk.last()["text"]
    user = me()
    assert (user.timezone, user.onboarded_at) == ("Europe/Berlin", None)
    assert user.awaiting["kind"] == settings_flow.TIMEZONE

    talk.send("tokyo")
    assert me().timezone == "Asia/Tokyo"


def test_a_message_that_is_no_zone_is_filed_as_usual(talk):
    talk.send("/start")
    talk.send("pay the electricity bill by friday")
    assert Task.get().description == "pay the electricity bill"
    assert me().awaiting is None


def test_start_again_after_onboarding_only_greets(talk):
    talk.send("/start")
    talk.press("UTC")
    talk.send("/start")
    assert "Your time zone is UTC" in talk.last()["text"]
    assert me().awaiting is None


def test_every_zone_offered_exists():
    available = zoneinfo.available_timezones()
    assert set(settings_flow.ZONE_CHOICES) <= available
    assert {z for zones in settings_flow.LANGUAGE_ZONES.values() for z in zones} <= set(
        settings_flow.ZONE_CHOICES
    )


# -- /settings


def test_settings_shows_the_values_with_buttons(talk):
    talk.send("/settings")
    reply = talk.last()
    assert "Time zone: Europe/Berlin" in reply["text"]
    assert "Default time: 09:00" in reply["text"] and "Quiet hours: off" in reply["text"]
    assert labels(reply) == ["Time zone", "Default time", "Quiet hours"]


def test_settings_arguments_change_each_setting_audited(talk):
    talk.send("/settings tz america/new_york")
    talk.send("/settings time 8:30")
    talk.send("/settings quiet 22:00-07:00")
    user = me()
    assert (user.timezone, user.default_time) == ("America/New_York", "08:30")
    assert (user.quiet_start, user.quiet_end) == ("22:00", "07:00")
    assert "Quiet hours: 22:00-07:00" in talk.last()["text"]
    undo = AuditEntry.select().where(AuditEntry.entity_type == "users").order_by(AuditEntry.id)
    assert [e.detail["undo"]["values"] for e in undo if "undo" in (e.detail or {})] == [
        {"timezone": "Europe/Berlin"},
        {"default_time": "09:00"},
        {"quiet_start": None, "quiet_end": None},
    ]
    talk.send("/settings quiet off")
    assert (me().quiet_start, me().quiet_end) == (None, None)


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("/settings tz Mars/Base", "I don't know the time zone"),
        ("/settings time 25:00", "is not a time of day"),
        ("/settings quiet 22:00", "as a range"),
        ("/settings quiet 22:00-22:00", "different start and end"),
        ("/settings colour blue", "/settings tz Europe/Berlin"),
        ("/settings tz", "/settings tz Europe/Berlin"),
    ],
)
def test_invalid_settings_change_nothing(talk, command, says):
    talk.send(command)
    assert says in talk.last()["text"]
    user = me()
    assert (user.timezone, user.default_time, user.quiet_start) == ("Europe/Berlin", "09:00", None)
    assert not AuditEntry.select().where(AuditEntry.action == AuditAction.UPDATED).exists()


def test_settings_buttons_ask_and_the_answer_sets(talk):
    talk.send("/settings")
    talk.press("Default time")
    assert "Which time should I use" in talk.last()["text"]
    talk.send("7:15")
    assert me().default_time == "07:15"

    talk.send("/settings quiet 23:00-06:00")
    talk.send("/settings")
    talk.press("Quiet hours")
    talk.press("No quiet hours")
    assert (me().quiet_start, me().awaiting) == (None, None)


def test_a_new_zone_shows_in_later_replies(talk):
    talk.send("remind me tomorrow at 9 to call mum")
    fire_at = Reminder.get().fire_at
    talk.send("/settings tz America/New_York")
    talk.send("/reminders")
    assert when_text(fire_at, "America/New_York") in talk.last()["text"]
    assert when_text(fire_at, "Europe/Berlin") not in talk.last()["text"]


# -- the lists


def test_tasks_lists_own_open_tasks_due_first_and_done_redraws(talk):
    talk.send("/start")
    talk.send("/start", user=OTHER)
    user, other = me(), User.get(User.telegram_user_id == OTHER)
    soon, later = utcnow() + dt.timedelta(days=1), utcnow() + dt.timedelta(days=3)
    route.create_task(user, None, "undated <b>chore</b>", None, None)
    route.create_task(user, None, "later thing", later, None)
    route.create_task(user, None, "soon thing", soon, None)
    route.create_task(other, None, "someone else's secret", soon, None)

    talk.send("/tasks")
    text = talk.last()["text"]
    assert text.index("soon thing") < text.index("later thing") < text.index("undated")
    assert "undated &lt;b&gt;chore&lt;/b&gt;" in text
    assert "secret" not in text
    assert f"due {when_text(soon, 'Europe/Berlin')}" in text
    assert labels(talk.last()) == ["Done 1", "Done 2", "Done 3"]

    talk.press("Done 1")
    assert Task.get(Task.description == "soon thing").state == TaskState.DONE
    redrawn = talk.last()
    assert redrawn["edit"] and "soon thing" not in redrawn["text"]
    assert labels(redrawn) == ["Done 1", "Done 2"]


def test_tasks_are_capped_with_a_count_of_the_rest(talk):
    talk.send("/tasks")
    assert "No open tasks" in talk.last()["text"]
    for n in range(listings.MAX_ROWS + 3):
        route.create_task(me(), None, f"chore {n}", None, None)
    talk.send("/tasks")
    text = talk.last()["text"]
    assert "…and 3 more." in text and "chore 19" in text and "chore 20" not in text
    assert len(labels(talk.last())) == listings.MAX_BUTTONS


def test_reminders_lists_the_next_first_and_cancel_removes_it(talk):
    talk.send("remind me tomorrow at 9 to call mum")
    talk.send("remind me in 2 hours to stretch")
    talk.send("/reminders")
    text = talk.last()["text"]
    assert text.index("stretch") < text.index("call mum")
    talk.press("Cancel 1")
    assert Reminder.get(Reminder.text == "stretch").state == ReminderState.CANCELLED
    assert "stretch" not in talk.last()["text"] and "call mum" in talk.last()["text"]


def test_events_lists_upcoming_and_marks_suggestions(talk):
    talk.send("/events")
    assert "No upcoming events" in talk.last()["text"]
    for description, days, extra in [
        ("old party", -2, {}),
        ("flight", 2, {"source_type": EventSource.EMAIL, "status": EventStatus.PENDING}),
        ("dentist", 1, {"location": "Main St"}),
    ]:
        starts_at = utcnow() + dt.timedelta(days=days)
        Event.create(
            **{"owner": me(), "description": description, "starts_at": starts_at}
            | {"source_type": EventSource.MANUAL}
            | extra
        )
    talk.send("/events")
    text = talk.last()["text"]
    assert "old party" not in text
    assert text.index("dentist") < text.index("flight")
    assert "📍 Main St" in text
    assert "flight <i>(suggested, not confirmed yet)</i>" in text


def test_pinned_shows_pinned_notes_only(talk):
    talk.send("/pinned")
    assert "Nothing pinned" in talk.last()["text"]
    talk.send("the wifi password is hunter2")
    talk.press("Pin")
    talk.send("the door code is 4711")
    talk.send("/pinned")
    text = talk.last()["text"]
    assert "hunter2" in text and "4711" not in text


# -- /search


def test_search_finds_own_memories_only(talk):
    talk.send("the wifi password is hunter2")
    talk.send("the wifi password is correcthorse", user=OTHER)
    talk.send("/search wifi password")
    text = talk.last()["text"]
    assert "hunter2" in text and "correcthorse" not in text
    talk.send("/search zebra")
    assert "I found nothing about “zebra”" in talk.last()["text"]


def test_search_alone_asks_and_the_next_message_is_searched(talk):
    talk.send("the wifi password is hunter2")
    talk.send("/search")
    assert "What should I search for?" in talk.last()["text"]
    talk.send("wifi")
    assert "hunter2" in talk.last()["text"]
    assert Memory.select().count() == 1  # the search words were not filed


# -- /undo


def test_undo_with_nothing_to_undo(talk):
    talk.send("/undo")
    assert talk.last()["text"] == "Nothing to undo."


def test_undo_after_creating_a_task_deletes_it(talk):
    talk.send("pay the electricity bill by friday")
    talk.send("/undo")
    assert Task.select().count() == 0
    assert talk.last()["text"] == "↩️ Undone: deleted task “pay the electricity bill”"
    undone = AuditEntry.select().order_by(AuditEntry.id.desc()).get()
    assert (undone.entity_type, undone.action, "undoes" in undone.detail) == (
        "task",
        AuditAction.DELETED,
        True,
    )


def test_undo_after_delete_restores_the_task(talk):
    talk.send("pay the electricity bill by friday")
    before = Task.get()
    talk.press("Delete")
    assert Task.select().count() == 0
    talk.send("/undo")
    after = Task.get()
    assert (after.id, after.description, after.due_at, after.state) == (
        before.id,
        before.description,
        before.due_at,
        TaskState.NOT_DONE,
    )
    assert "restored task “pay the electricity bill”" in talk.last()["text"]


def test_undo_after_cancel_schedules_the_reminder_again(talk):
    talk.send("remind me tomorrow at 9 to call mum")
    talk.press("Cancel")
    assert Reminder.get().state == ReminderState.CANCELLED
    talk.send("/undo")
    assert Reminder.get().state == ReminderState.SCHEDULED
    assert "state back to scheduled" in talk.last()["text"]


def test_undo_twice_undoes_two_changes_newest_first(talk):
    talk.send("buy milk")
    talk.press("Done")
    assert Task.get().state == TaskState.DONE
    talk.send("/undo")
    assert (Task.get().state, Task.get().completed_at) == (TaskState.NOT_DONE, None)
    talk.send("/undo")
    assert Task.select().count() == 0
    talk.send("/undo")  # then the memory the message made
    assert Memory.select().count() == 0


def test_undo_restores_a_setting(talk):
    talk.send("/settings time 06:45")
    talk.send("/undo")
    assert me().default_time == "09:00"
    assert "default time back to 09:00" in talk.last()["text"]


def test_undo_never_touches_another_users_rows(talk):
    talk.send("pay the electricity bill by friday")
    task = Task.get()
    talk.send("/undo", user=OTHER)
    assert talk.last(OTHER)["text"] == "Nothing to undo."
    # A forged entry in the other user's log that points at my task still cannot reach it.
    other = User.get(User.telegram_user_id == OTHER)
    forge(task, other, {"op": "delete", "model": "task", "id": task.id})
    planted = {"id": 999, "owner": me().id, "description": "planted", "state": "NOT_DONE"}
    forge(task, other, {"op": "restore", "model": "task", "values": planted})
    talk.send("/undo", user=OTHER)
    assert "Could not undo: that was not yours" in talk.last(OTHER)["text"]
    talk.send("/undo", user=OTHER)
    assert "Could not undo: that task is gone" in talk.last(OTHER)["text"]
    assert [t.id for t in Task.select()] == [task.id]
    talk.send("/undo", user=OTHER)
    assert talk.last(OTHER)["text"] == "Nothing to undo."


def test_undo_refuses_a_status_change_the_table_forbids(talk):
    talk.send("pay the electricity bill by friday")
    memory = Memory.get()
    undo = {"op": "update", "model": "memory", "id": memory.id, "values": {"status": "pending"}}
    forge(memory, me(), undo)
    talk.send("/undo")
    assert talk.last()["text"].startswith("Could not undo: it has moved on")
    assert Memory.get().status == "confirmed"
    talk.send("/undo")  # the refused one counts as handled: the change before it is next
    assert Task.select().count() == 0
