"""/export: everything the organiser keeps for a user, sent to them as zip files.

The command only asks for an ``export`` step (one at a time per user). The step builds the
archive (``export_archive``) and uploads it with sendDocument in its prepare phase, outside
any transaction, paced like every other send.

Sent once: each part's upload is followed at once by a marker, an outbox row keyed by the
job and the part, committed on its own; a retry (a later part failed, the worker died)
skips every part with a marker. What is left is the moment between Telegram accepting an
upload and the marker's commit: a crash there sends that part again on the retry (at least
once, never lost). The step's own completion cannot close that gap, since it commits after
every part is sent.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from lifeorg import ledger
from lifeorg.errors import StepDeferred
from lifeorg.models import Job, OutboxMessage, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, JobStatus, OutboxStatus
from lifeorg.pipeline import export_archive
from lifeorg.pipeline.export_archive import Archive
from lifeorg.pipeline.formatting import MAX_CAPTION, escape, when_text
from lifeorg.pipeline.outbox import say
from lifeorg.telegram import MAX_UPLOAD_BYTES, TelegramBadRequest, TelegramForbidden

EXPORT = "export"
SEND_DOCUMENT = "sendDocument"
# How long one part waits for a sending turn under the rate limits before the step is
# deferred (and tried again without spending an attempt).
TURN_WAIT_S = 5.0
DEFER_S = 1.0
# Where a messenger that cannot upload (the terminal chat) leaves the files instead.
EXPORTS_FOLDER = "exports"

Reply = tuple[str, Any]


def command(user: User, _: str) -> Reply:
    """/export: ask for the export step, unless one is under way for this user."""
    mine = Job.select().where((Job.kind == EXPORT) & (Job.owner == user))
    if mine.where(Job.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING])).exists():
        return "📦 Your export is on its way already.", None
    # Numbered per user: two /export commands racing in two workers make one job.
    ledger.submit(
        EXPORT, f"export:{user.id}:{mine.count() + 1}", {"user_id": user.id}, owner_id=user.id
    )
    return (
        "📦 Putting everything you saved into a zip file: notes, tasks, reminders, events and "
        "photos, as data and as text you can read. It comes in a moment.",
        None,
    )


def send_export(
    job: Job,
    *,
    messenger: Any,
    pacer: Any,
    images_dir: Path,
    data_dir: Path,
    part_limit: int | None = None,
) -> dict[str, Any]:
    """Build the user's export and send its parts not sent yet (network: no transaction).

    ``part_limit`` bounds each zip (default ``export_archive.PART_LIMIT``, under Telegram's
    upload limit).
    """
    part_limit = part_limit or export_archive.PART_LIMIT
    user = User.get_or_none(User.id == job.payload["user_id"])
    if user is None:
        return {"skipped": "no such user"}
    if not user.active:
        return {"skipped": "the user has blocked the bot"}
    with tempfile.TemporaryDirectory(prefix="lifeorg-export-") as scratch:
        archive = export_archive.build(user, images_dir, Path(scratch), part_limit=part_limit)
        outcome: dict[str, Any] = {
            "parts": archive.part_count,
            "bytes": archive.total_bytes,
            **archive.counts,
        }
        if archive.first.stat().st_size > part_limit:
            return outcome | {"failed": "too big", "too_big": True}
        return outcome | _send_parts(job, archive, messenger, pacer, data_dir)


def _send_parts(
    job: Job, archive: Archive, messenger: Any, pacer: Any, data_dir: Path
) -> dict[str, Any]:
    """Send each part that has no sent marker yet; a refusal ends the sending."""
    user = archive.user
    saved: dict[str, Any] = {}
    for number in range(1, archive.part_count + 1):
        key = f"export:{job.id}:{number}"
        if OutboxMessage.select().where(OutboxMessage.idempotency_key == key).exists():
            continue  # sent by an earlier attempt
        path = archive.part(number)
        name, caption = archive.file_name(number), caption_for(archive, number)
        try:
            sent = _deliver(messenger, pacer, user, path, name, caption, data_dir)
        except TelegramForbidden as exc:
            return {"failed": str(exc), "blocked": True}
        except TelegramBadRequest as exc:
            return {"failed": str(exc)}
        _mark_sent(user, key, name, caption, sent)
        if "saved_to" in sent:
            saved["saved_to"] = str(Path(sent["saved_to"]).parent)
        path.unlink(missing_ok=True)  # only one part on disk at a time
    return saved


def saved_exports_dir(data_dir: Path, user_id: int) -> Path:
    """Where exports are left for a user whose messenger cannot upload (the terminal)."""
    return data_dir / EXPORTS_FOLDER / str(int(user_id))


def _deliver(
    messenger: Any,
    pacer: Any,
    user: User,
    path: Path,
    file_name: str,
    caption: str,
    data_dir: Path,
) -> dict[str, Any]:
    upload = getattr(messenger, "send_document", None)
    if upload is None:
        # The terminal chat shows text only: the file goes where the user can open it.
        folder = saved_exports_dir(data_dir, user.id)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / file_name
        shutil.copyfile(path, target)
        return {"saved_to": str(target)}
    if not pacer.wait_turn(user.chat_id, TURN_WAIT_S):
        raise StepDeferred(f"no sending turn for chat {user.chat_id} yet", DEFER_S)
    return {"message_id": upload(user.chat_id, path, file_name, caption)}


def _mark_sent(user: User, key: str, file_name: str, caption: str, sent: dict[str, Any]) -> None:
    """Record a sent part at once, in its own commit: a retry must not send it again."""
    OutboxMessage.insert(
        owner=user.id,
        chat_id=user.chat_id,
        idempotency_key=key,
        method=SEND_DOCUMENT,
        payload={"file_name": file_name, "caption": caption, **sent},
        status=OutboxStatus.SENT,
        attempts=1,
        telegram_message_id=sent.get("message_id"),
        sent_at=utcnow(),
    ).on_conflict_ignore().execute()


def caption_for(archive: Archive, number: int) -> str:
    """What a part says about itself (plain text: captions are sent without HTML)."""
    counts = archive.counts
    if number > 1:
        photos = len(archive.groups[number - 1])
        return (
            f"📦 Part {number} of {archive.part_count} of your export: {photos} more photos. "
            "Unzip it into the same folder as part 1."
        )
    made = when_text(utcnow(), archive.user.timezone)
    lines = [
        f"📦 Everything you saved, as of {made}: {_n(counts['memories'], 'note')}, "
        f"{_n(counts['tasks'], 'task')}, {_n(counts['reminders'], 'reminder')}, "
        f"{_n(counts['events'], 'event')}, {_n(counts['photos'], 'photo')}. "
        "Open notes.md to read it; json/ has it all as data."
    ]
    if archive.part_count > 1:
        megabytes = archive.total_bytes / 2**20
        lines.append(
            f"At {megabytes:.0f} MB it is over the {MAX_UPLOAD_BYTES // 2**20} MB Telegram lets "
            f"a bot send, so it comes in {archive.part_count} parts: this one has your notes, "
            "data and the first photos, the others the rest. Unzip them all into one folder."
        )
    left_out = counts["missing_photos"] + counts["oversized_photos"]
    if left_out:
        lines.append(f"{_n(left_out, 'photo')} could not be included (see README.md).")
    return "\n".join(lines)[:MAX_CAPTION]


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def finish_export(job: Job, outcome: dict[str, Any]) -> dict[str, Any]:
    """After the sends: tell the user what went wrong, or where the files are."""
    user = User.get_or_none(User.id == job.payload["user_id"])
    if user is None or "skipped" in outcome:
        return outcome
    key = f"export:{job.id}:done"
    if outcome.get("blocked"):
        user.active = False
        user.save()
        record(user, AuditAction.UPDATED, AuditActor.SYSTEM, {"active": False, "why": "403"})
    elif outcome.get("too_big"):
        say(
            user,
            "⚠️ Your notes and data alone are over the "
            f"{MAX_UPLOAD_BYTES // 2**20} MB Telegram lets a bot send, so I can't send your "
            "export. Ask whoever runs this organiser for a copy. Nothing was changed.",
            key=key,
        )
    elif "failed" in outcome:
        say(
            user,
            f"⚠️ I couldn't send your export: {escape(outcome['failed'])}. "
            "Nothing was changed; /export tries again.",
            key=key,
        )
    elif "saved_to" in outcome:
        say(
            user,
            f"📦 Your export is saved in {escape(outcome['saved_to'])} "
            f"({_n(outcome['parts'], 'zip file')}).",
            key=key,
        )
    return outcome
