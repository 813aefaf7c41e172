"""Mail to event suggestions: ``poll_mailbox`` finds new mail, ``extract_email`` reads one.

A poll holds its mailbox's lease (``MailboxState``), so overlapping polls (two schedulers,
a slow server) never read the same mailbox at once; it hands each new UID to a keyed
``extract_email`` job and advances the mailbox's high-water UID in the same transaction.
``extract_email`` fetches the mail (peek, size-capped) and extracts its events outside the
transaction, then writes the processed marker and the suggestions in one: a mail is marked
processed exactly when its events exist. Dedupe is by (mailbox, UIDVALIDITY, UID) and by
Message-ID within the mailbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import peewee

from lifeorg import ledger, runtime
from lifeorg.actors.step import step
from lifeorg.config import Mailbox
from lifeorg.errors import PermanentStepError
from lifeorg.imap import MailboxUnavailable, session
from lifeorg.models import Job, MailboxState, ProcessedEmail, User
from lifeorg.models.base import db, utcnow
from lifeorg.pipeline import email_events

log = logging.getLogger(__name__)

# A poll holds its mailbox this long at most; a worker that died mid-poll frees it then.
POLL_LEASE = dt.timedelta(minutes=5)
# Reading a mail may wait on the model; a poll only lists UIDs.
EXTRACT_TIME_LIMIT_S = 180
POLL_TIME_LIMIT_S = 120


def mailbox_named(key: str) -> Mailbox:
    """The configured mailbox ``key``; a job for one no longer configured fails for good."""
    for mailbox in runtime.current().settings.mailboxes:
        if mailbox.key == key:
            return mailbox
    raise PermanentStepError(f"mailbox {key!r} is not configured any more")


def owner_of(mailbox: Mailbox) -> User | None:
    """The user the mailbox's suggestions go to, once they have talked to the bot."""
    return User.get_or_none((User.telegram_user_id == mailbox.owner) & User.active)


def _take_lease(key: str) -> MailboxState | None:
    """The mailbox's state row, leased to this poll; None while another poll holds it."""
    now = utcnow()
    with db.atomic():
        MailboxState.insert(name=key).on_conflict_ignore().execute()
    taken = (
        MailboxState.update(lease_until=now + POLL_LEASE)
        .where(
            (MailboxState.name == key)
            & (MailboxState.lease_until.is_null() | (MailboxState.lease_until < now))
        )
        .execute()
    )
    return MailboxState.get(MailboxState.name == key) if taken else None


def _release(key: str, **values: Any) -> None:
    MailboxState.update(lease_until=None, **values).where(MailboxState.name == key).execute()


def list_new_mail(job: Job) -> dict[str, Any]:
    """Under the mailbox's lease: the UIDs not yet handed on, and the after-action done."""
    mailbox = mailbox_named(job.payload["mailbox"])
    if owner_of(mailbox) is None:
        # Nothing is read until there is someone to ask: the mail waits in the mailbox.
        return {"skipped": "the mailbox's owner has not started the bot"}
    state = _take_lease(mailbox.key)
    if state is None:
        return {"skipped": "another poll holds the mailbox"}
    try:
        with session(mailbox, write=mailbox.after != "none") as imap:
            validity = imap.uidvalidity()
            fresh = validity != state.uidvalidity
            after_uid = 0 if fresh else state.last_uid
            since = (utcnow() - dt.timedelta(days=mailbox.since_days)).date() if fresh else None
            uids = imap.new_uids(after_uid, since)
            handled = imap.apply_after(imap.present(_processed_uids(mailbox.key, validity)))
    except MailboxUnavailable as exc:
        _release(mailbox.key, last_error=str(exc)[:1000], last_poll_at=utcnow())
        log.warning("mailbox %s: %s", mailbox.key, exc)
        raise
    except BaseException:
        _release(mailbox.key)
        raise
    return {"uidvalidity": validity, "uids": uids, "after_uid": after_uid, "handled": handled}


def _processed_uids(key: str, validity: int) -> list[int]:
    """UIDs of mail already handled here (for the opt-in flag or move)."""
    rows = ProcessedEmail.select(ProcessedEmail.uid).where(
        (ProcessedEmail.mailbox == key) & (ProcessedEmail.uidvalidity == validity)
    )
    return [uid for (uid,) in rows.tuples()]


@step("poll_mailbox", time_limit_s=POLL_TIME_LIMIT_S, prepare=list_new_mail)
def poll_mailbox(job: Job, listed: dict[str, Any]) -> dict[str, Any]:
    """Hand each new mail to ``extract_email``, and record how far the mailbox was read."""
    if "skipped" in listed:
        return listed
    key = job.payload["mailbox"]
    validity = listed["uidvalidity"]
    owner = owner_of(mailbox_named(key))
    for uid in listed["uids"]:
        ledger.submit(
            "extract_email",
            f"extract_email:{key}:{validity}:{uid}",
            {"mailbox": key, "uidvalidity": validity, "uid": uid},
            # Its result holds the mail's subject and titles: the owner's, for /forget.
            owner_id=owner.id if owner is not None else None,
        )
    last_uid = max(listed["uids"], default=listed["after_uid"])
    _release(key, uidvalidity=validity, last_uid=last_uid, last_poll_at=utcnow(), last_error=None)
    return {"new": len(listed["uids"]), "handled": listed["handled"], "last_uid": last_uid}


def read_mail(job: Job) -> dict[str, Any]:
    """Fetch the mail (peek, size-capped) and extract its events: the slow part."""
    from lifeorg.pipeline.mail.extract import extract_events
    from lifeorg.pipeline.mail.message import Mail

    mailbox = mailbox_named(job.payload["mailbox"])
    user = owner_of(mailbox)
    if user is None:
        raise PermanentStepError(f"the owner of {mailbox.key!r} has not started the bot")
    with session(mailbox) as imap:
        if imap.uidvalidity() != job.payload["uidvalidity"]:
            return {"gone": "the mailbox was rebuilt (new UIDVALIDITY)"}
        fetched = imap.fetch(job.payload["uid"])
    if fetched is None:
        return {"gone": "the mail was deleted before it was read"}
    mail = Mail.from_bytes(fetched.raw)
    llm = runtime.current().llm
    found = extract_events(
        mail,
        tz=user.timezone,
        now=utcnow(),
        llm=llm if llm.available() else None,
        job=job,
        # A model outage retries the step; on its last attempt the offline reading stands.
        last_attempt=job.attempts >= job.max_attempts,
    )
    return {
        "message_id": mail.message_id,
        "subject": mail.subject,
        "truncated": fetched.truncated,
        "events": [_plain(event) for event in found],
    }


def _plain(event: Any) -> dict[str, Any]:
    """A found event as JSON for the job's result (and the next step), with its invite
    identity (UID and SEQUENCE) besides what `lifeorg extract-email` prints."""
    return {**event.to_json(), "uid": event.uid, "sequence": event.sequence}


@step("extract_email", time_limit_s=EXTRACT_TIME_LIMIT_S, prepare=read_mail)
def extract_email(job: Job, read: dict[str, Any]) -> dict[str, Any]:
    """Mark the mail processed and suggest its events, in one transaction."""
    if "gone" in read:
        return read
    key = job.payload["mailbox"]
    mailbox = mailbox_named(key)
    message_id = read["message_id"][:998]
    seen_before = (
        ProcessedEmail.select()
        .where((ProcessedEmail.mailbox == key) & (ProcessedEmail.message_id == message_id))
        .exists()
    )
    try:
        with db.atomic():
            ProcessedEmail.create(
                mailbox=key,
                uidvalidity=job.payload["uidvalidity"],
                uid=job.payload["uid"],
                message_id=message_id,
            )
    except peewee.IntegrityError:
        return {"skipped": "processed already"}
    if seen_before:
        return {"skipped": "the same Message-ID was processed already", **_summary(read)}
    user = owner_of(mailbox)
    if user is None:
        raise PermanentStepError(f"the owner of {key!r} has not started the bot")
    outcome = email_events.take(
        user, read["events"], subject=read["subject"], message_id=message_id
    )
    return {**_summary(read), **outcome}


def _summary(read: dict[str, Any]) -> dict[str, Any]:
    return {"found": len(read["events"]), "truncated": read["truncated"]}
