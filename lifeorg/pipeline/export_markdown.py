"""The export's Markdown: what a person reads, every moment in their own time zone.

Pure functions of rows already loaded: no database. Memories arrive as a stream (the
archive reads them in chunks); tasks, reminders and events are sorted here by day, which
means holding them: they are a calendar, short rows in the hundreds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from lifeorg.models import Event, Memory, MemoryImage, MemoryTag, Reminder, Task, User
from lifeorg.models.states import EventSource, TagStatus, TaskState

IMAGES_FOLDER = "images"


def photo_name(image: MemoryImage) -> str:
    """A photo's name in the export (its content hash, as the image store names it)."""
    return f"{IMAGES_FOLDER}/{image.sha256}.jpg"


def day_heading(day: dt.date) -> str:
    return f"## {day:%A} {day.day} {day:%B %Y}"


def _moment(moment: dt.datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def _block(text: str) -> list[str]:
    """A user's text as the body of a list item: later lines indented under the first."""
    lines = (text or "").strip().splitlines() or [""]
    return [lines[0], *(f"  {line}" if line.strip() else "" for line in lines[1:])]


def _intro(title: str, zone: ZoneInfo) -> list[str]:
    return [f"# {title}", "", f"Times are in {zone.key}.", ""]


def notes(
    memories: Iterable[tuple[Memory, list[MemoryTag], list[MemoryImage]]],
    zone: ZoneInfo,
    included: set[str],
) -> Iterator[str]:
    """Every memory under the day it was saved, with its tags and photos (oldest first);
    ``included`` names the photos the export holds."""
    yield from _intro("Notes", zone)
    day = None
    empty = True
    for memory, tags, images in memories:
        empty = False
        local = memory.created_at.astimezone(zone)
        if local.date() != day:
            day = local.date()
            yield from (day_heading(day), "")
        marks = "📌 " if memory.pinned else ""
        first, *rest = _block(memory.content or "(photo)")
        yield f"- {local:%H:%M} {marks}{first}"
        yield from rest
        origin = _forwarded_from(memory.forward_origin)
        if origin:
            yield f"  (forwarded from {origin})"
        if memory.description:
            yield f"  Photo: {memory.description.strip().splitlines()[0]}"
        if tags:
            yield "  Tags: " + ", ".join(
                f"#{t.tag}" + ("" if t.status == TagStatus.CONFIRMED else " (suggested)")
                for t in tags
            )
        for name in dict.fromkeys(photo_name(image) for image in images):
            yield f"  ![photo]({name})" if name in included else "  (photo not included)"
        yield ""
    if empty:
        yield "Nothing saved."


def _forwarded_from(origin: Any) -> str | None:
    """Who a forwarded message came from, as Telegram's forward_origin names them."""
    if not isinstance(origin, dict):
        return None
    person = origin.get("sender_user") or {}
    chat = origin.get("chat") or origin.get("sender_chat") or {}
    named = (
        " ".join(filter(None, [person.get("first_name"), person.get("last_name")]))
        or origin.get("sender_user_name")
        or chat.get("title")
    )
    return str(named) if named else "someone"


def tasks(rows: Iterable[Task], zone: ZoneInfo) -> Iterator[str]:
    """Open tasks by due date, then done ones, newest first."""
    yield from _intro("Tasks", zone)
    tasks = list(rows)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    open_ = sorted(
        (t for t in tasks if t.state == TaskState.NOT_DONE), key=lambda t: (t.due_at or far, t.id)
    )
    done = sorted(
        (t for t in tasks if t.state == TaskState.DONE),
        key=lambda t: (t.completed_at or t.updated_at, t.id),
        reverse=True,
    )
    for title, listed, box in (("Open", open_, "[ ]"), ("Done", done, "[x]")):
        yield from (f"## {title}", "")
        for task in listed:
            first, *rest = _block(task.description)
            when = []
            if task.due_at:
                when.append(f"due {_moment(task.due_at, zone)}")
            if task.recurrence:
                when.append(f"repeats {task.recurrence}")
            if task.completed_at and task.state == TaskState.DONE:
                when.append(f"done {_moment(task.completed_at, zone)}")
            yield f"- {box} {first}" + (f" — {'; '.join(when)}" if when else "")
            yield from rest
        if not listed:
            yield "None."
        yield ""


def reminders(rows: Iterable[Reminder], zone: ZoneInfo) -> Iterator[str]:
    """Every reminder under the day it fires (or fired), with its state."""
    yield from _intro("Reminders", zone)
    listed = sorted(rows, key=lambda r: (r.fire_at, r.id))
    day = None
    for reminder in listed:
        local = reminder.fire_at.astimezone(zone)
        if local.date() != day:
            day = local.date()
            yield from ("", day_heading(day), "")
        first, *rest = _block(reminder.text)
        repeats = f"; repeats {reminder.recurrence}" if reminder.recurrence else ""
        yield f"- {local:%H:%M} {first} — {reminder.state}{repeats}"
        yield from rest
    if not listed:
        yield "None."


def events(rows: Iterable[Event], zone: ZoneInfo) -> Iterator[str]:
    """Every event under its day, all-day ones first, with place, source and status."""
    yield from _intro("Events", zone)

    def day_of(event: Event) -> tuple[dt.date, str]:
        if event.starts_at is None:
            return event.all_day_date or event.created_at.date(), ""
        local = event.starts_at.astimezone(zone)
        return local.date(), f"{local:%H:%M}"

    listed = sorted(rows, key=lambda e: (*day_of(e), e.id))
    day = None
    for event in listed:
        date, time = day_of(event)
        if date != day:
            day = date
            yield from ("", day_heading(day), "")
        if event.ends_at and time:
            time += f" to {event.ends_at.astimezone(zone):%H:%M}"
        first, *rest = _block(event.description)
        details = [str(event.status)]
        if event.location:
            details.append(f"at {event.location}")
        if event.source_type == EventSource.EMAIL:
            details.append("from email")
        yield f"- {time or 'all day'} {first} — {', '.join(details)}"
        yield from rest
    if not listed:
        yield "None."


def readme(user: User, now: dt.datetime, counts: dict[str, int], parts: int) -> list[str]:
    """What the export holds, for the person opening it."""
    name = f" for {user.display_name}" if user.display_name else ""
    lines = [
        "# Your Life Organiser export",
        "",
        f"Made {now:%a} {now.day} {now:%b %Y}, {now:%H:%M} ({user.timezone}){name}.",
        "",
        f"- notes.md ({counts['memories']} notes), tasks.md ({counts['tasks']}), "
        f"reminders.md ({counts['reminders']}), events.md ({counts['events']}): "
        f"to read, dated in {user.timezone}.",
        "- json/: everything as data, times in UTC (ISO 8601): user.json (your settings), "
        "memories.json (with tags and photos), tasks.json, reminders.json, events.json, "
        "audit.json (the history of changes).",
        f"- images/: your {counts['photos']} photos, named by their SHA-256 as memories.json "
        "names them.",
    ]
    if parts > 1:
        lines += [
            "",
            f"This export comes in {parts} parts (Telegram lets a bot send 50 MB at most). "
            "Unzip them all into the same folder.",
        ]
    left_out = counts["missing_photos"] + counts["oversized_photos"]
    if left_out:
        lines += ["", f"{left_out} photos are not included: {_left_out(counts)}."]
    return lines


def _left_out(counts: dict[str, int]) -> str:
    reasons = []
    if counts["missing_photos"]:
        reasons.append(f"{counts['missing_photos']} missing from the server's image store")
    if counts["oversized_photos"]:
        reasons.append(f"{counts['oversized_photos']} too big to send")
    return " and ".join(reasons)
