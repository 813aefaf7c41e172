"""/forget: delete everything the organiser keeps for a user, once they confirm.

/forget says what will go and asks [Delete everything] [Cancel]. The confirmation deletes,
in the press's own transaction, every row the user owns (memories, tags, photo rows, tasks,
reminders, events, search documents, outgoing messages, jobs, used buttons), strips the
detail from their audit entries and the text from the updates they sent, resets their
settings, and records one ``forgotten`` entry with counts only. The ``forget_files`` step
then deletes their photos (and any export the terminal chat left) from disk, after that
commit.

What stays, and why:

- The user row, reset to the instance's defaults and not onboarded: it is how an
  allowlisted person reaches the bot at all, and keeping its id keeps the replies already
  on their way (this press's answer) deliverable. Their next /start onboards them again.
  Their Telegram name and language stay: Telegram sends both with every message.
- Audit entries, without detail: that changes happened, and when, not what they were.
- Dedupe keys: the ids of processed updates (no longer tied to the user) and mail
  Message-IDs (the mailbox is still read and must not suggest old mails again).
- Earlier backups, until they are rotated out; the confirmation says so.

The buttons carry the moment they were offered: a confirmation older than
``CONFIRM_WITHIN`` is refused, and so is one pressed again after it deleted everything, so a
second tap (or a late one on an old message) never deletes what was saved since.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

import peewee

from lifeorg import ledger, runtime
from lifeorg.backups import KEEP as BACKUPS_KEPT
from lifeorg.models import (
    ALL_MODELS,
    AuditEntry,
    ButtonPress,
    Event,
    Job,
    Memory,
    MemoryImage,
    MemoryTag,
    OutboxMessage,
    ProcessedUpdate,
    Reminder,
    SearchDoc,
    Task,
    User,
)
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, JobStatus
from lifeorg.pipeline import actions, buttons, replies
from lifeorg.pipeline.export import saved_exports_dir

FORGET_YES, FORGET_NO = "fgyes", "fgno"
FORGET_FILES = "forget_files"
INGEST = "ingest"
# A confirmation is for the question just asked; an old message's button must not delete.
CONFIRM_WITHIN = dt.timedelta(minutes=15)
# Every table with rows a user owns, children first, with the name its count is kept under.
# Tables added later that have an ``owner`` are deleted too (``_other_owned``).
OWNED = (
    ("search_docs", SearchDoc),
    ("tags", MemoryTag),
    ("photos", MemoryImage),
    ("reminders", Reminder),
    ("tasks", Task),
    ("events", Event),
    ("memories", Memory),
    ("messages", OutboxMessage),
    ("jobs", Job),
    ("button_presses", ButtonPress),
)
# The parts of an update that carry its sender (as ingest reads them).
_SENDER_PARTS = ("message", "edited_message", "callback_query", "my_chat_member")

Reply = tuple[str, Any]


def command(user: User, _: str) -> Reply:
    """/forget: say what would be deleted, with [Delete everything] [Cancel]."""
    notes = Memory.select().where(Memory.owner == user).count()
    photos = MemoryImage.select().where(MemoryImage.owner == user).count()
    tasks = Task.select().where(Task.owner == user).count()
    reminders = Reminder.select().where(Reminder.owner == user).count()
    events = Event.select().where(Event.owner == user).count()
    offered = int(utcnow().timestamp())
    minutes = int(CONFIRM_WITHIN.total_seconds() // 60)
    text = (
        "🗑 <b>Delete all your data?</b>\n"
        f"This deletes for good everything I keep for you: {_n(notes, 'note')} "
        f"({_n(photos, 'photo')}), {_n(tasks, 'task')}, {_n(reminders, 'reminder')} and "
        f"{_n(events, 'event')}, with their tags and search index. Your settings go back to "
        "the defaults, and your history keeps only that changes happened, not what they were.\n"
        f"Backups made before now keep a copy until they are replaced, within "
        f"{BACKUPS_KEPT} nights.\n"
        f"It cannot be undone: /export first if you want a copy. The button works for "
        f"{minutes} minutes."
    )
    return text, [
        [
            replies.button(user, "Delete everything", FORGET_YES, offered),
            replies.button(user, "Cancel", FORGET_NO, offered),
        ]
    ]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _confirm(user: User, offered: int) -> tuple[str, Any]:
    asked = dt.datetime.fromtimestamp(offered, dt.UTC)
    if _forgotten_since(user, asked):
        raise buttons.ButtonRejected("Everything was deleted already.")
    if utcnow() - asked > CONFIRM_WITHIN:
        raise buttons.ButtonRejected("That question has expired: send /forget again.")
    counts = forget_everything(user)
    return "Deleted.", (
        "🗑 Deleted everything I kept for you: "
        f"{_n(counts['memories'], 'note')}, {_n(counts['photos'], 'photo')}, "
        f"{_n(counts['tasks'], 'task')}, {_n(counts['reminders'], 'reminder')} and "
        f"{_n(counts['events'], 'event')}. Your settings are back to the defaults; "
        "/start sets you up again.",
        None,
    )


def _cancel(user: User, offered: int) -> tuple[str, Any]:
    if _forgotten_since(user, dt.datetime.fromtimestamp(offered, dt.UTC)):
        raise buttons.ButtonRejected("Too late: everything was deleted already.")
    return "Cancelled.", ("👍 Kept everything; nothing was deleted.", None)


def _forgotten_since(user: User, moment: dt.datetime) -> bool:
    return (
        AuditEntry.select()
        .where(
            (AuditEntry.owner_id == user.id)
            & (AuditEntry.action == AuditAction.FORGOTTEN)
            & (AuditEntry.at >= moment)
        )
        .exists()
    )


def forget_everything(user: User) -> dict[str, int]:
    """Delete every row ``user`` owns and reset their settings; returns counts (no text).

    Runs inside the caller's transaction (the button press's) and asks ``forget_files`` to
    delete the photo files once it commits.
    """
    now = utcnow()
    counts = {name: model.delete().where(model.owner == user).execute() for name, model in OWNED}
    counts["other"] = sum(
        model.delete().where(model.owner == user).execute() for model in _other_owned()
    )
    counts["history"] = (
        AuditEntry.update(detail=None).where(AuditEntry.owner_id == user.id).execute()
    )
    counts["updates"] = _scrub_updates(user)
    _reset(user)
    entry = record(user, AuditAction.FORGOTTEN, AuditActor.USER, {"deleted": counts}, user.id)
    # Not the user's job: a later /forget deleting their jobs must not cancel this one.
    ledger.submit(
        FORGET_FILES,
        f"{FORGET_FILES}:{entry.id}",
        {"user_id": user.id, "before": now.isoformat()},
    )
    return counts


def _other_owned() -> list[Any]:
    """Tables with an ``owner`` besides those in OWNED (added after this module was)."""
    known = {model for _, model in OWNED}
    return [
        model
        for model in ALL_MODELS
        if model not in known
        and isinstance(model._meta.fields.get("owner"), peewee.ForeignKeyField)
        and model._meta.fields["owner"].rel_model is User
    ]


def _scrub_updates(user: User) -> int:
    """Strip what the user sent from the ledger's finished ingest jobs; untie their update
    ids. The ids stay, so Telegram redelivering an old update still finds it taken."""
    telegram_id = user.telegram_user_id
    ProcessedUpdate.update(telegram_user_id=None).where(
        ProcessedUpdate.telegram_user_id == telegram_id
    ).execute()
    candidates = Job.select(Job.id, Job.payload).where(
        (Job.kind == INGEST)
        & Job.owner.is_null()
        & Job.status.in_([JobStatus.COMPLETED, JobStatus.FAILED])
        # A cheap filter on the JSON text; the sender is then checked exactly.
        & Job.payload.cast("text").contains(f'"id":{telegram_id}')
    )
    scrubbed = 0
    for job in candidates:
        update = (job.payload or {}).get("update") or {}
        if _sender_id(update) != telegram_id:
            continue
        Job.update(
            payload={"update": {"update_id": update.get("update_id")}, "forgotten": True},
            last_error=None,
        ).where(Job.id == job.id).execute()
        scrubbed += 1
    return scrubbed


def _sender_id(update: dict[str, Any]) -> int | None:
    for kind in _SENDER_PARTS:
        part = update.get(kind)
        if isinstance(part, dict) and isinstance(part.get("from"), dict):
            return part["from"].get("id")
    return None


def _reset(user: User) -> None:
    """The user's settings as a new user's: the instance's defaults, not onboarded."""
    settings = runtime.current().settings
    user.timezone = settings.timezone
    user.default_time = settings.default_reminder_time
    user.quiet_start = user.quiet_end = None
    user.onboarded_at = None
    user.awaiting = None
    user.save()


def remove_files(
    user_id: int, images_dir: Path, data_dir: Path, before: dt.datetime
) -> dict[str, int]:
    """Delete a forgotten user's files from before ``before``: their photos no photo row
    uses any more, and the exports left for them on disk (the terminal chat's).

    A file written since belongs to something sent after the forget, and a row still using
    a file (the same photo sent again) keeps it.
    """
    in_use: set[str] = set()
    for image in MemoryImage.select(MemoryImage.path, MemoryImage.model_path).where(
        MemoryImage.owner == user_id
    ):
        in_use |= {Path(image.path).name, Path(image.model_path).name}
    photos = images_dir / str(int(user_id))  # an int cannot climb out of images_dir
    return {
        "photos": _remove_tree(photos, in_use, before),
        "exports": _remove_tree(saved_exports_dir(data_dir, user_id), set(), before),
    }


def _remove_tree(folder: Path, keep: set[str], before: dt.datetime) -> int:
    """Delete the files under ``folder`` not named in ``keep`` and older than ``before``,
    then the folders left empty; returns how many files went."""
    if not folder.is_dir():
        return 0
    cutoff = before.timestamp()
    removed = 0
    for root, folders, files in os.walk(folder, topdown=False):
        for name in files:
            path = Path(root, name)
            with contextlib.suppress(FileNotFoundError):
                if name not in keep and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        for name in folders:
            with contextlib.suppress(OSError):  # not empty: something was written since
                Path(root, name).rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
    return removed


actions.register(FORGET_YES, _confirm)
actions.register(FORGET_NO, _cancel)
