"""What has already been taken in, so nothing is processed twice."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, utcnow


class ProcessedUpdate(BaseModel):
    """A Telegram update id that ingest has stored (its dedupe key)."""

    update_id = peewee.BigIntegerField(primary_key=True)
    telegram_user_id = peewee.BigIntegerField(null=True)
    received_at = InstantField(default=utcnow, index=True)


class ProcessedEmail(BaseModel):
    """A mail seen in a mailbox, keyed by (mailbox, UIDVALIDITY, UID) and by Message-ID."""

    mailbox = peewee.CharField(max_length=255)
    uidvalidity = peewee.BigIntegerField()
    uid = peewee.BigIntegerField()
    message_id = peewee.CharField(max_length=998, null=True)
    processed_at = InstantField(default=utcnow)

    class Meta:
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "message_id"), False),
        )


class MailboxState(BaseModel):
    """One configured mailbox's polling state: its lease (one poll at a time, whichever
    scheduler or worker asks) and how far it has been read."""

    name = peewee.CharField(max_length=255, unique=True)
    # A poll holds the mailbox until then; a crashed poll's lease simply runs out.
    lease_until = InstantField(null=True)
    uidvalidity = peewee.BigIntegerField(null=True)
    # Every UID up to this one (in this UIDVALIDITY) has been handed to extract_email.
    last_uid = peewee.BigIntegerField(default=0)
    last_poll_at = InstantField(null=True)
    last_error = peewee.TextField(null=True)
