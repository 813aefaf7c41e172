"""Photos: stored safely, described and tagged (by a vision model, or offline by the caption).

Tags are only *suggested*: the reply shows them with [Confirm tags] [Edit]. Descriptions,
visible text and tags go into the memory's search document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import peewee
from pydantic import BaseModel, Field

from lifeorg.errors import LLMError, LLMUnavailable
from lifeorg.models import Memory, MemoryImage, MemoryTag, User
from lifeorg.models.audit import record
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, AuditActor, TagStatus
from lifeorg.pipeline import actions, replies, search, tags
from lifeorg.pipeline.formatting import escape
from lifeorg.pipeline.images import ImageRejected, prepare_image
from lifeorg.pipeline.outbox import say
from lifeorg.pipeline.prompts import TAG_IMAGE
from lifeorg.telegram import TelegramFileTooBig

CONFIRM_TAGS, EDIT_TAGS = "tgok", "tged"
# A description is for search and for the user to read: a paragraph, not an essay.
MAX_DESCRIPTION = 2000
MAX_VISIBLE_TEXT = 4000


class ModelTags(BaseModel):
    """What the model answers for TAG_IMAGE."""

    description: str = Field(max_length=MAX_DESCRIPTION)
    visible_text: str = Field("", max_length=MAX_VISIBLE_TEXT)
    tags: list[str] = Field(default_factory=list, max_length=12)


def vocabulary(owner_id: int) -> list[str]:
    """The user's tags, most used first."""
    query = (
        MemoryTag.select(MemoryTag.tag, peewee.fn.COUNT(MemoryTag.id).alias("uses"))
        .where(MemoryTag.owner == owner_id)
        .group_by(MemoryTag.tag)
        .order_by(peewee.fn.COUNT(MemoryTag.id).desc(), MemoryTag.tag)
    )
    return [row.tag for row in query]


def read_image(
    memory: Memory,
    file_id: str,
    *,
    messenger: Any,
    llm: Any,
    images_dir: Path,
    job: Any = None,
    last_attempt: bool = True,
) -> dict[str, Any]:
    """Download, store and describe one image (network work: outside any transaction)."""
    try:
        stored = prepare_image(messenger.download(file_id), images_dir, memory.owner_id)
    except (ImageRejected, TelegramFileTooBig) as rejected:
        return {"rejected": str(rejected)}
    reading: dict[str, Any] = {
        "stored": {
            "sha256": stored.sha256,
            "path": str(stored.path),
            "model_path": str(stored.model_path),
            "width": stored.width,
            "height": stored.height,
        },
        "tags": tags.from_caption(memory.content),
        "description": None,
        "source": "caption",
    }
    if llm is None or not llm.available():
        return reading
    data = {"caption": memory.content, "existing_tags": vocabulary(memory.owner_id)[:50]}
    try:
        answer = llm.complete(
            TAG_IMAGE, data, ModelTags, job=job, images=[Path(stored.model_path).read_bytes()]
        )
    except LLMUnavailable:
        if not last_attempt:
            raise
        return reading
    except LLMError:
        return reading  # the caption's words stand in
    description = answer.description.strip()
    if answer.visible_text.strip():
        description = f"{description}\n{answer.visible_text.strip()}".strip()
    reading.update(tags=answer.tags, description=description, source="model")
    return reading


def file_image(memory: Memory, file_id: str, reading: dict[str, Any], key: str) -> str:
    """Keep the image, its description and suggested tags, and show them to the user."""
    user = memory.owner
    if "rejected" in reading:
        say(
            user,
            f"⚠️ I couldn't read that image: {escape(reading['rejected'])} Your message is saved.",
            key=key,
            reply_to=memory.source_message_id,
        )
        return "rejected"
    stored = reading["stored"]
    MemoryImage.insert(
        memory=memory, owner=user, telegram_file_id=file_id, **stored
    ).on_conflict_ignore().execute()
    if reading.get("description"):
        memory.description = "\n".join(filter(None, [memory.description, reading["description"]]))[
            :8000
        ]
        memory.save()
    suggested = tags.tidy(reading["tags"], vocabulary(user.id))
    for tag in suggested:
        MemoryTag.insert(
            memory=memory, owner=user, tag=tag, status=TagStatus.SUGGESTED, suggested_at=utcnow()
        ).on_conflict_ignore().execute()
    search.index_memory(memory)
    record(
        memory,
        AuditAction.UPDATED,
        AuditActor.LLM if reading["source"] == "model" else AuditActor.SYSTEM,
        {"image": stored["sha256"], "tags": suggested},
    )
    say(user, *tag_reply(memory, user), key=key, reply_to=memory.source_message_id)
    return f"{len(suggested)} tags"


def tag_reply(memory: Memory, user: User) -> replies.Reply:
    """The memory's tags and description, with the buttons to confirm or edit them."""
    rows = list(MemoryTag.select().where(MemoryTag.memory == memory).order_by(MemoryTag.id))
    lines = ["🖼 Saved the photo."]
    if memory.description:
        lines.append(escape(memory.description[:500]))
    if not rows:
        return "\n".join(lines), None
    shown = ", ".join(
        f"#{escape(t.tag)}" + ("" if t.status == TagStatus.CONFIRMED else "?") for t in rows
    )
    lines.append(f"Tags: {shown}")
    if all(t.status == TagStatus.CONFIRMED for t in rows):
        return "\n".join(lines), [[replies.button(user, "Edit tags", EDIT_TAGS, memory.id)]]
    return "\n".join(lines), [
        [
            replies.button(user, "Confirm tags", CONFIRM_TAGS, memory.id),
            replies.button(user, "Edit", EDIT_TAGS, memory.id),
        ]
    ]


def _confirm(user: User, memory_id: int):
    memory = actions.owned(Memory, user, memory_id)
    moved = MemoryTag.move_where(
        MemoryTag.memory == memory, TagStatus.SUGGESTED, TagStatus.CONFIRMED, confirmed_at=utcnow()
    )
    record(memory, AuditAction.CONFIRMED, AuditActor.USER, {"tags": moved})
    return "Tags confirmed.", tag_reply(memory, user)


def _edit(user: User, memory_id: int):
    memory = actions.owned(Memory, user, memory_id)
    user.awaiting = {"kind": "tags", "memory": memory.id}
    user.save()
    return "Send the tags", ("🏷 Send the tags for this photo, separated by commas.", None)


def _answer_tags(user: User, text: str, message: dict[str, Any]) -> bool:
    memory = Memory.get_or_none(
        (Memory.id == (user.awaiting or {}).get("memory")) & (Memory.owner == user)
    )
    user.awaiting = None
    user.save()
    if memory is None:
        return False
    chosen = tags.tidy(text.split(","), vocabulary(user.id))
    MemoryTag.delete().where(MemoryTag.memory == memory).execute()
    for tag in chosen:
        MemoryTag.create(
            memory=memory,
            owner=user,
            tag=tag,
            status=TagStatus.CONFIRMED,
            suggested_at=utcnow(),
            confirmed_at=utcnow(),
        )
    search.index_memory(memory)
    record(memory, AuditAction.UPDATED, AuditActor.USER, {"tags": chosen})
    say(
        user,
        *tag_reply(memory, user),
        key=f"tags:{memory.id}:{message.get('message_id')}",
        reply_to=message.get("message_id"),
    )
    return True


TAGS_USAGE = "Use /tags to list your tags, or /tags merge OLD NEW to fold one tag into another."


def tags_command(user: User, args: str) -> replies.Reply:
    """/tags: the user's tag vocabulary; /tags merge OLD NEW folds one tag into another."""
    words = args.split()
    if not words:
        counts = (
            MemoryTag.select(MemoryTag.tag, peewee.fn.COUNT(MemoryTag.id).alias("uses"))
            .where(MemoryTag.owner == user)
            .group_by(MemoryTag.tag)
            .order_by(peewee.fn.COUNT(MemoryTag.id).desc(), MemoryTag.tag)
        )
        lines = [f"#{escape(row.tag)} ({row.uses})" for row in counts]
        if not lines:
            return "You have no tags yet. Photos get suggested tags when you send them.", None
        return "🏷 Your tags:\n" + "\n".join(lines) + f"\n\n{TAGS_USAGE}", None
    if words[0].lower() != "merge" or len(words) != 3:
        return TAGS_USAGE, None
    old, new = tags.normalise(words[1]), tags.normalise(words[2])
    if not old or not new or old == new:
        return TAGS_USAGE, None
    rows = list(MemoryTag.select().where((MemoryTag.owner == user) & (MemoryTag.tag == old)))
    if not rows:
        return f"You have no tag #{escape(old)}.", None
    for row in rows:
        taken = MemoryTag.get_or_none((MemoryTag.memory == row.memory_id) & (MemoryTag.tag == new))
        if taken is None:
            row.tag = new
            row.save()
        else:
            row.delete_instance()  # the memory has the new tag already
        search.index_memory(Memory.get_by_id(row.memory_id))
    record(
        user,
        AuditAction.UPDATED,
        AuditActor.USER,
        {"merged_tag": old, "into": new, "memories": len(rows)},
    )
    return f"Merged #{escape(old)} into #{escape(new)} ({len(rows)} memories).", None


actions.register(CONFIRM_TAGS, _confirm)
actions.register(EDIT_TAGS, _edit)
actions.register_answer("tags", _answer_tags)
