"""Undo of the user's last change, from the audit log.

A change the user made is recorded with ``detail["undo"]``: ``delete`` (undo a creation),
``update`` (put back the previous values) or ``restore`` (recreate a deleted row). Undoing
one records a new entry ``{"undoes": <entry id>}`` and has no undo of its own: /undo walks
back through the user's changes, newest first, and never redoes. Only the user's own
entries and rows are touched; a status goes back only along its transition table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from lifeorg.errors import InvalidTransition
from lifeorg.models import AuditEntry, Event, Memory, Reminder, Task, User
from lifeorg.models.audit import record
from lifeorg.models.base import InstantField, StateField
from lifeorg.models.states import AuditAction, AuditActor
from lifeorg.pipeline import search
from lifeorg.pipeline.formatting import escape, when_text

# The rows an undo may touch, by table name; users only through their settings.
UNDOABLE = {model._meta.table_name: model for model in (Memory, Task, Reminder, Event, User)}
USER_SETTINGS = frozenset({"timezone", "default_time", "quiet_start", "quiet_end"})
# /undo is for recent slips: it looks this far back through the user's audit entries.
LOOKBACK = 200
NOUNS = {"memory": "note", "task": "task", "reminder": "reminder", "event": "event"}
FIELD_NAMES = {
    "timezone": "time zone",
    "default_time": "default time",
    "quiet_start": "quiet hours start",
    "quiet_end": "quiet hours end",
    "due_at": "due time",
    "fire_at": "time",
    "starts_at": "time",
    "content": "text",
    "completed_at": None,  # follows the state; naming it twice reads oddly
}


class CannotUndo(Exception):
    """The change cannot be undone any more; the message says why."""


def undo_last(user: User) -> str:
    """Revert ``user``'s newest change not yet undone; returns what to tell them (HTML)."""
    entry = _last_undoable(user)
    if entry is None:
        return "Nothing to undo."
    undo = entry.detail["undo"]
    try:
        action, row, said = _apply(user, undo)
    except CannotUndo as reason:
        # Marked as undone all the same, so the next /undo goes on to the change before.
        AuditEntry.create(
            owner_id=user.id,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            action=AuditAction.UPDATED,
            actor=AuditActor.USER,
            detail={"undoes": entry.id, "skipped": str(reason)},
        )
        return f"Could not undo: {reason}"
    record(row, action, AuditActor.USER, {"undoes": entry.id}, owner_id=user.id)
    return f"↩️ Undone: {said}"


def _last_undoable(user: User) -> AuditEntry | None:
    undone: set[int] = set()
    recent = (
        AuditEntry.select()
        .where((AuditEntry.owner_id == user.id) & (AuditEntry.actor == AuditActor.USER))
        .order_by(AuditEntry.id.desc())
        .limit(LOOKBACK)
    )
    for entry in recent:
        detail = entry.detail if isinstance(entry.detail, dict) else {}
        if "undoes" in detail:
            undone.add(detail["undoes"])  # an undo is newer than what it undid
        elif isinstance(detail.get("undo"), dict) and entry.id not in undone:
            return entry
    return None


def _apply(user: User, undo: dict[str, Any]) -> tuple[AuditAction, peewee.Model, str]:
    model = UNDOABLE.get(undo.get("model"))
    op = undo.get("op")
    if model is None or (model is User and op != "update"):
        raise CannotUndo("that kind of change can't be undone.")
    if op == "delete":
        row = _own_row(model, user, undo.get("id"))
        said = f"deleted {_label(row)}"
        row.delete_instance()
        return AuditAction.DELETED, row, said
    if op == "update":
        row = _own_row(model, user, undo.get("id"))
        changed = _update(row, user, undo.get("values") or {})
        return AuditAction.UPDATED, row, _describe_update(row, user, changed)
    if op == "restore":
        row = _restore(model, user, undo.get("values") or {})
        return AuditAction.CREATED, row, f"restored {_label(row)}"
    raise CannotUndo("that kind of change can't be undone.")


def _own_row(model: type[peewee.Model], user: User, row_id: Any) -> peewee.Model:
    if model is User:
        if row_id != user.id:
            raise CannotUndo("those were not your settings.")
        return user  # the caller's copy, so what it shows next has the settings restored
    row = model.get_or_none((model.id == row_id) & (model.owner == user))
    if row is None:
        raise CannotUndo(f"that {NOUNS.get(model._meta.table_name, 'item')} is gone.")
    return row


def _value(field: peewee.Field, value: Any) -> Any:
    """A value from the audit log's JSON as the field holds it."""
    if value is None:
        return None
    if isinstance(field, InstantField):
        return dt.datetime.fromisoformat(value)
    if isinstance(field, peewee.DateField):
        return dt.date.fromisoformat(value)
    if isinstance(field, StateField):
        return field.enum_class(value)
    return value


def _update(row: peewee.Model, user: User, values: dict[str, Any]) -> list[str]:
    fields = row._meta.fields
    allowed = USER_SETTINGS if isinstance(row, User) else set(fields) - {"id", "owner"}
    if not values or not set(values) <= allowed:
        raise CannotUndo("that change touched something undo may not.")
    try:
        for name, value in values.items():
            setattr(row, name, _value(fields[name], value))  # a status is checked here
    except InvalidTransition:
        raise CannotUndo("it has moved on since (a reminder that fired, say).") from None
    except (ValueError, TypeError):
        raise CannotUndo("its record is damaged.") from None
    row.save()
    _reindex(row)
    return list(values)


def _restore(model: type[peewee.Model], user: User, values: dict[str, Any]) -> peewee.Model:
    fields = model._meta.fields
    if values.get("owner") != user.id or "id" not in values or not set(values) <= set(fields):
        raise CannotUndo("that was not yours to restore.")
    if model.get_or_none(model.id == values.get("id")) is not None:
        raise CannotUndo("it is there already.")
    try:
        data = {name: _value(fields[name], value) for name, value in values.items()}
    except (ValueError, TypeError):
        raise CannotUndo("its record is damaged.") from None
    memory_id = data.get("memory")
    if memory_id is not None and not Memory.select().where(Memory.id == memory_id).exists():
        data["memory"] = None  # its memory was deleted since: as its foreign key would do
    model.insert(**data).execute()
    row = model.get_by_id(data["id"])
    _reindex(row)
    return row


def _reindex(row: peewee.Model) -> None:
    if isinstance(row, Memory):
        search.index_memory(row)
    elif isinstance(row, Event):
        search.index_event(row)


def _label(row: peewee.Model) -> str:
    text = {
        Memory: lambda r: r.content or "(photo)",
        Task: lambda r: r.description,
        Reminder: lambda r: r.text,
        Event: lambda r: r.description,
    }[type(row)](row)
    text = " ".join(text.split())
    short = text if len(text) <= 60 else text[:59] + "…"
    return f"{NOUNS[row._meta.table_name]} “{escape(short)}”"


def _describe_update(row: peewee.Model, user: User, changed: list[str]) -> str:
    parts = []
    if {"quiet_start", "quiet_end"} <= set(changed):
        changed = [n for n in changed if n not in ("quiet_start", "quiet_end")]
        quiet = f"{row.quiet_start}-{row.quiet_end}" if row.quiet_start else "off"
        parts.append(f"quiet hours back to {quiet}")
    for name in changed:
        label = FIELD_NAMES.get(name, name.replace("_", " "))
        if label is None:
            continue
        value = getattr(row, name)
        if isinstance(value, dt.datetime):
            shown = when_text(value, user.timezone)
        elif name == "state" and str(value) == "NOT_DONE":
            shown = "not done"
        elif name == "pinned":
            label, shown = ("pinned", "") if value else ("unpinned", "")
        else:
            shown = "none" if value is None else escape(str(value))
        parts.append(f"{label} back to {shown}" if shown else label)
    subject = "your settings" if isinstance(row, User) else _label(row)
    return f"{subject}: {', '.join(parts)}"
