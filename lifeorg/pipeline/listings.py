"""The lists the commands show: open tasks, coming reminders, upcoming events, pinned notes.

Each list is the user's own rows only, capped at one screen with a count of the rest; the
first few rows have a button ([Done 2], [Cancel 1]) that acts and redraws the list.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from lifeorg.models import Event, Memory, Reminder, Task, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventStatus, ReminderState, TaskState
from lifeorg.pipeline import actions, replies
from lifeorg.pipeline.formatting import escape, when_text

# About one phone screen; a longer list is read less, and the rest are counted.
MAX_ROWS = 20
# One row of buttons: more would bury the list under them.
MAX_BUTTONS = 5
# A list line shows the start of a long text; the item itself shows all of it.
MAX_LINE_CHARS = 120
# Button actions (callback data has 64 bytes, so the codes are short).
LIST_TASK_DONE, LIST_REMINDER_CANCEL = "ltdone", "lrcxl"
ACTIVE_REMINDERS = (ReminderState.SCHEDULED, ReminderState.SNOOZED)
LISTED_EVENTS = (EventStatus.CONFIRMED, EventStatus.PENDING)

Reply = replies.Reply


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    return escape(text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…")


def _more(total: int, shown: int) -> str:
    return f"\n…and {total - shown} more." if total > shown else ""


def _button_rows(user: User, label: str, action: str, ids: list[int]) -> list | None:
    row = [replies.button(user, f"{label} {n}", action, i) for n, i in enumerate(ids, 1)]
    return [row[:MAX_BUTTONS]] if row else None


def tasks(user: User) -> Reply:
    """Open tasks, the dated ones first (soonest first), then the undated ones."""
    query = Task.select().where((Task.owner == user) & (Task.state == TaskState.NOT_DONE))
    total = query.count()
    if not total:
        return "No open tasks. Send me one, like “pay the bill by friday”.", None
    rows = list(query.order_by(Task.due_at.is_null(), Task.due_at, Task.id).limit(MAX_ROWS))
    now = utcnow()
    lines = [f"✅ <b>Open tasks</b> ({total})"]
    for n, item in enumerate(rows, 1):
        line = f"{n}. {_short(item.description)}"
        if item.due_at is not None:
            line += f" — due {when_text(item.due_at, user.timezone)}"
            line += " ⚠️ overdue" if item.due_at < now else ""
        lines.append(line + (" 🔁" if item.recurrence else ""))
    text = "\n".join(lines) + _more(total, len(rows))
    return text, _button_rows(user, "Done", LIST_TASK_DONE, [t.id for t in rows])


def reminders(user: User) -> Reply:
    """Scheduled and snoozed reminders, the next first."""
    query = Reminder.select().where((Reminder.owner == user) & Reminder.state.in_(ACTIVE_REMINDERS))
    total = query.count()
    if not total:
        return "No reminders coming. Try “remind me tomorrow at 9 to call mum”.", None
    rows = list(query.order_by(Reminder.fire_at, Reminder.id).limit(MAX_ROWS))
    lines = [f"⏰ <b>Reminders</b> ({total})"]
    for n, item in enumerate(rows, 1):
        snoozed = " (snoozed)" if item.state == ReminderState.SNOOZED else ""
        repeats = " 🔁" if item.recurrence else ""
        when = when_text(item.fire_at, user.timezone)
        lines.append(f"{n}. {when} — {_short(item.text) or '(no text)'}{snoozed}{repeats}")
    text = "\n".join(lines) + _more(total, len(rows))
    return text, _button_rows(user, "Cancel", LIST_REMINDER_CANCEL, [r.id for r in rows])


def _event_start(item: Event, zone: ZoneInfo) -> dt.datetime:
    if item.starts_at is not None:
        return item.starts_at
    return dt.datetime.combine(item.all_day_date, dt.time(), zone)


def events(user: User) -> Reply:
    """Upcoming confirmed events and pending suggestions (marked), the soonest first."""
    zone = ZoneInfo(user.timezone)
    now = utcnow()
    mine = (Event.owner == user) & Event.status.in_(LISTED_EVENTS)
    # Timed events still running count as upcoming; all-day ones until their day is over.
    timed = Event.select().where(
        mine & ((Event.starts_at >= now) | (Event.ends_at >= now)) & Event.all_day_date.is_null()
    )
    all_day = Event.select().where(mine & (Event.all_day_date >= now.astimezone(zone).date()))
    total = timed.count() + all_day.count()
    if not total:
        return "No upcoming events. Try “dentist on december 3 at 14:30”.", None
    found = list(timed.order_by(Event.starts_at).limit(MAX_ROWS))
    found += list(all_day.order_by(Event.all_day_date).limit(MAX_ROWS))
    rows = sorted(found, key=lambda e: (_event_start(e, zone), e.id))[:MAX_ROWS]
    lines = [f"📅 <b>Upcoming events</b> ({total})"]
    for n, item in enumerate(rows, 1):
        if item.starts_at is not None:
            when = when_text(item.starts_at, user.timezone)
        else:
            when = when_text(_event_start(item, zone), user.timezone, all_day=True)
        line = f"{n}. {when} — {_short(item.description)}"
        if item.location:
            line += f" 📍 {_short(item.location)}"
        if item.status == EventStatus.PENDING:
            line += " <i>(suggested, not confirmed yet)</i>"
        lines.append(line)
    return "\n".join(lines) + _more(total, len(rows)), None


def pinned(user: User) -> Reply:
    """Pinned memories, the newest first."""
    query = Memory.select().where((Memory.owner == user) & (Memory.pinned == True))  # noqa: E712
    total = query.count()
    if not total:
        return "Nothing pinned. Tap [Pin] under a saved note to keep it here.", None
    rows = list(query.order_by(Memory.created_at.desc(), Memory.id.desc()).limit(MAX_ROWS))
    lines = [f"📌 <b>Pinned</b> ({total})"]
    for item in rows:
        text = item.content or item.description or ""
        icon = "🖼" if item.media_type else "•"
        lines.append(f"{icon} {_short(text) or '(photo)'}")
    return "\n".join(lines) + _more(total, len(rows)), None


def _task_done(user: User, task_id: int) -> tuple[str, actions.Redraw]:
    # The [Done] button's handler owns the change and its audit; the list only redraws.
    notice, _ = actions._HANDLERS[replies.TASK_DONE](user, task_id)
    return notice, tasks(user)


def _reminder_cancel(user: User, reminder_id: int) -> tuple[str, actions.Redraw]:
    notice, _ = actions._HANDLERS[replies.REMINDER_CANCEL](user, reminder_id)
    return notice, reminders(user)


def register() -> None:
    """Add the list buttons to the conversation's handlers."""
    actions.register(LIST_TASK_DONE, _task_done)
    actions.register(LIST_REMINDER_CANCEL, _reminder_cancel)
