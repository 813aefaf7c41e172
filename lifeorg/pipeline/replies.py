"""What the bot shows for each thing it filed: the text and its buttons.

The same functions draw a reply when something is filed and redraw it after a button
changes it, so a message always shows the current state.
"""

from __future__ import annotations

from lifeorg import runtime
from lifeorg.models import Event, Memory, Reminder, Task, User
from lifeorg.models.states import ReminderState, TaskState
from lifeorg.pipeline import buttons
from lifeorg.pipeline.formatting import escape, when_text
from lifeorg.pipeline.match import MAX_CANDIDATES
from lifeorg.telegram import Buttons

# Button actions: short codes, because callback data has 64 bytes.
PIN, DELETE_MEMORY, MAKE_TASK, REMIND_ME = "pin", "mdel", "mtask", "mrem"
TASK_DONE, TASK_DUE, TASK_DELETE = "tdone", "tdue", "tdel"
REMINDER_CANCEL, REMINDER_TIME = "rcxl", "rtime"
EVENT_DELETE, EVENT_TIME = "edel", "etime"
MATCH_NO = "mno"
# "That one": the candidate at this place in the match_task step's result.
MATCH_PICKS = tuple(f"mp{place}" for place in range(MAX_CANDIDATES))
AS_NOTE, AS_TASK, AS_REMINDER = "anote", "atask", "arem"
SOON_HOUR, SOON_EVENING, SOON_TOMORROW = "q1h", "qeve", "qtom"
FIRED_DONE, SNOOZE_10, SNOOZE_60, SNOOZE_TOMORROW = "rdone", "rs10", "rs60", "rstom"

Reply = tuple[str, Buttons | None]


def button(user: User, label: str, action: str, entity_id: int = 0) -> tuple[str, str]:
    """A signed button for ``user``."""
    return buttons.make(runtime.current().settings.button_key(), user, label, action, entity_id)


def _moment(moment, user: User, all_day: bool = False) -> str:
    return when_text(moment, user.timezone, all_day=all_day)


def note(memory: Memory, user: User) -> Reply:
    pinned = "📌 Pinned note." if memory.pinned else "📝 Saved."
    return pinned, [
        [
            button(user, "Unpin" if memory.pinned else "Pin", PIN, memory.id),
            button(user, "Delete", DELETE_MEMORY, memory.id),
        ],
        [
            button(user, "Make task", MAKE_TASK, memory.id),
            button(user, "Remind me", REMIND_ME, memory.id),
        ],
    ]


def task(item: Task, user: User) -> Reply:
    lines = [f"✅ Task: <b>{escape(item.description)}</b>"]
    if item.due_at is not None:
        lines.append(f"Due {_moment(item.due_at, user)}")
    if item.recurrence:
        lines.append(f"Repeats ({escape(item.recurrence)})")
    if item.state == TaskState.DONE:
        lines[0] = f"☑️ Done: <s>{escape(item.description)}</s>"
        return "\n".join(lines), None
    return "\n".join(lines), [
        [
            button(user, "Done", TASK_DONE, item.id),
            button(user, "Change due", TASK_DUE, item.id),
            button(user, "Delete", TASK_DELETE, item.id),
        ]
    ]


def reminder(item: Reminder, user: User) -> Reply:
    if item.state == ReminderState.CANCELLED:
        return f"🚫 Cancelled: {escape(item.text)}", None
    when = _moment(item.fire_at, user)
    text = f"⏰ I'll remind you {when}:\n{escape(item.text) or '(no text)'}"
    if item.recurrence:
        text += f"\nRepeats ({escape(item.recurrence)})"
    return text, [
        [
            button(user, "Cancel", REMINDER_CANCEL, item.id),
            button(user, "Change time", REMINDER_TIME, item.id),
        ]
    ]


def fired(item: Reminder, user: User, *, late: bool = False, due_at=None) -> Reply:
    """The reminder itself, when it goes off."""
    text = f"⏰ {escape(item.text) or 'Reminder'}"
    if late and due_at is not None:
        text += f"\n(late: this was due {_moment(due_at, user)})"
    return text, [
        [
            button(user, "Done", FIRED_DONE, item.id),
            button(user, "Snooze 10 min", SNOOZE_10, item.id),
        ],
        [
            button(user, "Snooze 1 h", SNOOZE_60, item.id),
            button(user, "Tomorrow", SNOOZE_TOMORROW, item.id),
        ],
    ]


def event(item: Event, user: User) -> Reply:
    if item.all_day_date is not None:
        when = f"{item.all_day_date:%a} {item.all_day_date.day} {item.all_day_date:%b}"
    elif item.starts_at is not None:
        when = _moment(item.starts_at, user)
    else:
        when = "no date yet"
    text = f"📅 {escape(item.description)}\n{when}"
    if item.location:
        text += f"\n📍 {escape(item.location)}"
    return text, [
        [
            button(user, "Change time", EVENT_TIME, item.id),
            button(user, "Delete", EVENT_DELETE, item.id),
        ]
    ]


def unclear(memory: Memory, user: User) -> Reply:
    return "Should I keep this as a note, a task or a reminder?", [
        [
            button(user, "Note", AS_NOTE, memory.id),
            button(user, "Task", AS_TASK, memory.id),
            button(user, "Reminder", AS_REMINDER, memory.id),
        ]
    ]


def ask_when(memory: Memory, user: User, about: str) -> Reply:
    return f"⏰ When should I remind you about “{escape(about)}”? Send a time, or tap:", [
        [
            button(user, "In 1 hour", SOON_HOUR, memory.id),
            button(user, "This evening", SOON_EVENING, memory.id),
            button(user, "Tomorrow", SOON_TOMORROW, memory.id),
        ]
    ]
