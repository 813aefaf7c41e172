"""The conversation in one process: updates in, memories and replies out, buttons pressed."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from lifeorg import ledger, runtime
from lifeorg.models import Event, Memory, OutboxMessage, ProcessedUpdate, Reminder, Task, User
from lifeorg.models.states import MemoryStatus, OutboxStatus, ReminderState, TaskState
from tests.conftest import RecordingMessenger

ME, OTHER, STRANGER = 111, 222, 999


class Chat:
    """Sends updates the way the bot process hands them over, and reads the replies."""

    def __init__(self, messenger: RecordingMessenger, settle) -> None:
        self.messenger = messenger
        self.settle = settle
        self.update_ids = itertools.count(1)
        self.message_ids = itertools.count(1)

    def update(self, payload: dict) -> int:
        update_id = next(self.update_ids)
        ledger.submit(
            "ingest", f"update:{update_id}", {"update": {"update_id": update_id, **payload}}
        )
        self.settle()
        return update_id

    def send(self, text: str, user: int = ME, **extra) -> int:
        message = {
            "message_id": next(self.message_ids),
            "date": 0,
            "text": text,
            "from": {"id": user, "is_bot": False, "first_name": "Ann"},
            "chat": {"id": user, "type": "private"},
            **extra,
        }
        self.update({"message": message})
        return message["message_id"]

    def press(self, label: str, user: int = ME, chat: int = ME) -> dict:
        message = next(
            m
            for m in reversed(self.messenger.to(chat))
            for row in m["buttons"]
            for b in row
            if b[0] == label
        )
        data = next(b[1] for row in message["buttons"] for b in row if b[0] == label)
        self.update(
            {
                "callback_query": {
                    "id": f"cb{len(self.messenger.answers)}",
                    "data": data,
                    "from": {"id": user, "is_bot": False},
                    "message": {"message_id": message["id"], "chat": {"id": chat}},
                }
            }
        )
        return message

    def last(self, chat: int = ME) -> dict:
        return self.messenger.to(chat)[-1]


@pytest.fixture
def chat(settle, messenger, monkeypatch, tmp_path):
    rt = runtime.current()
    monkeypatch.setattr(rt.settings, "allowed_users", [ME, OTHER])
    monkeypatch.setattr(rt.settings, "timezone", "Europe/Berlin")
    monkeypatch.setattr(rt.settings, "data_dir", tmp_path)
    return Chat(messenger, settle)


def test_a_note_is_saved_and_answered_with_its_buttons(chat):
    """Text with no intent becomes a confirmed memory; the reply offers the note's buttons."""
    chat.send("the wifi password is hunter2")

    memory = Memory.get()
    assert (memory.content, memory.status) == (
        "the wifi password is hunter2",
        MemoryStatus.CONFIRMED,
    )
    reply = chat.last()
    assert reply["text"] == "📝 Saved."
    assert [b[0] for row in reply["buttons"] for b in row] == [
        "Pin",
        "Delete",
        "Make task",
        "Remind me",
    ]


def test_a_reminder_states_its_time_in_the_users_zone(chat):
    """The reply says when, in the user's zone, with one tap to change it."""
    chat.send("remind me tomorrow at 9 to call mum")

    reminder = Reminder.get()
    assert reminder.text == "call mum"
    local = reminder.fire_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.time() == dt.time(9, 0)
    reply = chat.last()
    assert f"{local:%a} {local.day} {local:%b}, 09:00" in reply["text"]
    assert "call mum" in reply["text"]
    assert [b[0] for row in reply["buttons"] for b in row] == ["Cancel", "Change time"]


def test_task_event_and_button_flow(chat):
    """A task and an event are filed; [Done] completes the task and redraws the message."""
    chat.send("pay the electricity bill by friday")
    chat.send("dentist on december 3 at 14:30")

    task = Task.get()
    assert task.description == "pay the electricity bill" and task.due_at is not None
    assert Event.get().description == "dentist"

    chat.press("Done")
    assert Task.get_by_id(task.id).state == TaskState.DONE
    assert chat.last()["edit"] and "Done" in chat.last()["text"]


def test_a_repeated_update_is_taken_once(chat):
    """Telegram redelivering an update makes no second memory and no second reply."""
    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": 0,
            "text": "buy milk",
            "from": {"id": ME, "is_bot": False},
            "chat": {"id": ME, "type": "private"},
        },
    }
    ledger.submit("ingest", "update:77", {"update": update})
    ledger.submit("ingest", "update:77b", {"update": update})  # a second bot process, say
    chat.settle()
    assert Memory.select().count() == 1
    assert ProcessedUpdate.select().count() == 1
    assert len(chat.messenger.to(ME)) == 1


def test_strangers_and_their_buttons_get_nothing(chat):
    """A user off the allowlist leaves no memory; a button pressed by another user is refused."""
    chat.send("hello", user=STRANGER)
    assert Memory.select().count() == 0 and User.select().count() == 0

    chat.send("pay the bill by friday")
    chat.press("Delete", user=OTHER, chat=ME)
    assert Task.select().count() == 1
    assert "not yours" in chat.messenger.answers[-1][1]


def test_a_button_works_once(chat):
    """Pressing [Cancel] twice cancels once and says the second press was already used."""
    chat.send("remind me tomorrow at 9 to call mum")
    message = chat.press("Cancel")
    assert Reminder.get().state == ReminderState.CANCELLED
    data = next(b[1] for row in message["buttons"] for b in row if b[0] == "Cancel")
    chat.update(
        {
            "callback_query": {
                "id": "again",
                "data": data,
                "from": {"id": ME},
                "message": {"message_id": message["id"], "chat": {"id": ME}},
            }
        }
    )
    assert chat.messenger.answers[-1] == ("again", "That button was already used.")


def test_a_forged_button_is_refused(chat):
    """Tampered callback data does nothing and says so."""
    chat.send("pay the bill by friday")
    task = Task.get()
    chat.update(
        {
            "callback_query": {
                "id": "forged",
                "data": f"tdel:{task.id}:AAAA:BBBBBBBBBBB",
                "from": {"id": ME},
                "message": {"message_id": 1, "chat": {"id": ME}},
            }
        }
    )
    assert Task.select().count() == 1
    assert "tampered" in chat.messenger.answers[-1][1]


def test_reminder_without_a_time_asks_and_the_answer_sets_it(chat):
    """'remind me to X' asks when; the next message with a time sets the reminder."""
    chat.send("remind me to water the plants")
    assert "When should I remind you" in chat.last()["text"]
    chat.send("tomorrow at 8")
    reminder = Reminder.get()
    assert reminder.text == "water the plants"
    assert reminder.fire_at.astimezone(ZoneInfo("Europe/Berlin")).time() == dt.time(8, 0)


def test_i_did_x_asks_before_completing(chat):
    """'I bought the milk' asks about 'buy milk'; only [Yes] completes it."""
    chat.send("buy milk")
    task = Task.get()
    chat.send("I bought the milk")
    assert "Mark “buy milk” as done?" in chat.last()["text"]
    assert Task.get_by_id(task.id).state == TaskState.NOT_DONE
    chat.press("Yes")
    assert Task.get_by_id(task.id).state == TaskState.DONE


def test_search_answers_from_the_users_own_memories(chat):
    """A question lists the owner's matching memories and never another user's."""
    chat.send("the wifi password is hunter2")
    chat.send("the wifi password is correcthorse", user=OTHER)
    chat.send("what's the wifi password?")
    reply = chat.last()["text"]
    assert "hunter2" in reply and "correcthorse" not in reply


def test_unclear_messages_stay_pending_with_choices(chat):
    """A moment without an intent keeps the memory pending; [Task] files it."""
    chat.send("the quarterly report friday")
    memory = Memory.get()
    if memory.status == MemoryStatus.PENDING:  # the parser may already call this a task
        assert [b[0] for row in chat.last()["buttons"] for b in row] == ["Note", "Task", "Reminder"]
        chat.press("Task")
        assert Task.select().count() == 1
    assert Memory.get_by_id(memory.id).status == MemoryStatus.CONFIRMED


def test_long_replies_are_split_in_order(chat, database):
    """A reply over 4096 characters goes out as several messages, in order."""
    from lifeorg.pipeline.outbox import say

    user = User.create(telegram_user_id=ME, chat_id=ME, timezone="UTC", default_time="09:00")
    paragraphs = [f"paragraph {i} " + "x" * 1500 for i in range(6)]
    say(user, "\n\n".join(paragraphs), key="long")
    chat.settle()
    sent = [m["text"] for m in chat.messenger.to(ME)]
    assert len(sent) == 3 and all(len(t) <= 4096 for t in sent)
    assert "".join(sent).replace("\n", "") == "".join(paragraphs)
    assert OutboxMessage.select().where(OutboxMessage.status == OutboxStatus.SENT).count() == 3
