"""Mail to event suggestions against a real Dovecot: polling, dedupe, confirm, updates."""

from __future__ import annotations

import datetime as dt
import email.utils
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from imap_tools import AND, MailBoxUnencrypted
from pydantic import SecretStr

from lifeorg import runtime
from lifeorg.config import Mailbox
from lifeorg.models import (
    Event,
    Job,
    MailboxState,
    ProcessedEmail,
    Reminder,
    User,
)
from lifeorg.models.base import utcnow
from lifeorg.models.states import EventStatus, JobStatus, ReminderState
from lifeorg.scheduler.expiry import expire_suggestions
from lifeorg.scheduler.mail import submit_polls
from tests.test_conversation import ME, OTHER

BERLIN = ZoneInfo("Europe/Berlin")


def invite(
    start: dt.datetime,
    *,
    uid: str = "dentist-1@example.com",
    sequence: int = 0,
    method: str = "REQUEST",
    summary: str = "Dentist check-up",
    message_id: str | None = None,
    attachment: bytes | None = None,
) -> bytes:
    """A calendar invite as mail clients send them: text, then the text/calendar part."""
    local = start.astimezone(BERLIN)
    end = local + dt.timedelta(minutes=45)
    status = "CANCELLED" if method == "CANCEL" else "CONFIRMED"
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Example Corp//Calendar//EN",
            "VERSION:2.0",
            f"METHOD:{method}",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"SEQUENCE:{sequence}",
            f"DTSTAMP:{utcnow():%Y%m%dT%H%M%SZ}",
            f"DTSTART;TZID=Europe/Berlin:{local:%Y%m%dT%H%M%S}",
            f"DTEND;TZID=Europe/Berlin:{end:%Y%m%dT%H%M%S}",
            f"SUMMARY:{summary}",
            "LOCATION:Praxis Dr. Weber\\, Hauptstr. 5",
            f"STATUS:{status}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    mail = EmailMessage()
    mail["From"] = "Praxis Dr. Weber <termine@praxis.example>"
    mail["To"] = "ann@example.com"
    mail["Subject"] = ("Cancelled: " if method == "CANCEL" else "Invitation: ") + summary
    mail["Date"] = email.utils.format_datetime(utcnow())
    mail["Message-ID"] = message_id or email.utils.make_msgid(domain="praxis.example")
    mail.set_content(f"{summary} on {local:%d.%m.%Y} at {local:%H:%M}.")
    mail.add_alternative(calendar, subtype="calendar", params={"method": method})
    if attachment is not None:
        mail.make_mixed()
        mail.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="anamnese.pdf"
        )
    return mail.as_bytes()


@pytest.fixture
def mailbox(imap_server, chat, monkeypatch):
    """ME's mailbox on the throwaway Dovecot, configured; ME has started the bot."""
    box = new_mailbox(imap_server, ME)
    monkeypatch.setattr(runtime.current().settings, "mailboxes", [box])
    chat.send("hello")  # ME exists, with a time zone
    return box


def new_mailbox(imap_server, owner: int) -> Mailbox:
    """A fresh account on the throwaway Dovecot, as a plaintext (loopback) mailbox."""
    account = imap_server.new_account()
    return Mailbox(
        owner=owner,
        host=imap_server.host,
        port=imap_server.port,
        username=account.user,
        password=account.password,
        security="plain",
    )


def poll(chat, when: dt.datetime | None = None) -> None:
    """One scheduler pass asking for polls, and everything it sets off, done."""
    submit_polls(runtime.current().settings, when)
    chat.settle()


def suggestions(chat) -> list[dict]:
    return [m for m in chat.messenger.to(ME) if "From email" in m["text"] and not m["edit"]]


def press_on(chat, title: str, label: str) -> None:
    """Press ``label`` on the (first) suggestion about ``title``."""
    message = next(m for m in suggestions(chat) if title in m["text"])
    data = next(b[1] for row in message["buttons"] for b in row if b[0] == label)
    chat.update(
        {
            "callback_query": {
                "id": f"cb-{title}-{label}",
                "data": data,
                "from": {"id": ME, "is_bot": False},
                "message": {"message_id": message["id"], "chat": {"id": ME}},
            }
        }
    )


def flags(imap_server, box: Mailbox, folder: str = "INBOX") -> list[tuple[str, ...]]:
    with MailBoxUnencrypted(imap_server.host, imap_server.port).login(
        box.username, box.password.get_secret_value(), initial_folder=folder
    ) as client:
        return [
            tuple(f for f in m.flags if f != "\\Recent")  # \\Recent is the server's own
            for m in client.fetch(AND(all=True), mark_seen=False, headers_only=True)
        ]


def test_an_invite_is_suggested_and_confirming_adds_it_with_a_reminder(chat, mailbox, imap_server):
    """The invite becomes one pending event and one question; [Confirm] adds it and sets
    a reminder an hour before; the mailbox is left as it was (no \\Seen flag)."""
    start = (utcnow() + dt.timedelta(days=9)).replace(hour=13, minute=30, second=0, microsecond=0)
    imap_server.append(mailbox.username, invite(start))
    poll(chat)
    [event] = Event.select()
    assert event.status == EventStatus.PENDING and event.starts_at == start
    assert event.description == "Dentist check-up"
    [asked] = suggestions(chat)
    assert "Dentist check-up" in asked["text"] and "Add it?" in asked["text"]
    assert [b[0] for row in asked["buttons"] for b in row] == ["Confirm", "Reject"]
    assert flags(imap_server, mailbox) == [()]
    chat.press("Confirm")
    event = Event.get_by_id(event.id)
    assert event.status == EventStatus.CONFIRMED and event.expires_at is None
    [reminder] = Reminder.select()
    lead = dt.timedelta(minutes=runtime.current().settings.event_reminder_minutes)
    assert reminder.event_id == event.id and reminder.fire_at == start - lead
    assert "Dentist check-up" in reminder.text
    chat.press("Reject")  # the other button of the answered question
    assert "decided already" in chat.messenger.answers[-1][1]
    assert Event.get_by_id(event.id).status == EventStatus.CONFIRMED


def test_no_mail_is_processed_twice(chat, mailbox, imap_server):
    """Polls in later intervals, and the same mail filed again under a new UID, add nothing."""
    start = utcnow() + dt.timedelta(days=5)
    raw = invite(start, message_id="<same@praxis.example>")
    imap_server.append(mailbox.username, raw)
    poll(chat)
    poll(chat, utcnow() + dt.timedelta(seconds=runtime.current().settings.mail_poll_s))
    assert Event.select().count() == 1 and ProcessedEmail.select().count() == 1
    imap_server.append(mailbox.username, raw)  # a copy: new UID, same Message-ID
    poll(chat, utcnow() + dt.timedelta(seconds=2 * runtime.current().settings.mail_poll_s))
    assert ProcessedEmail.select().count() == 2
    assert Event.select().count() == 1
    assert len(suggestions(chat)) == 1
    extract = Job.select().where(Job.kind == "extract_email")
    assert [j.status for j in extract] == [JobStatus.COMPLETED] * 2


def test_an_overlapping_poll_waits_for_the_lease(chat, mailbox, imap_server):
    """While another poll holds the mailbox, a poll reads nothing and hands on nothing."""
    imap_server.append(mailbox.username, invite(utcnow() + dt.timedelta(days=3)))
    MailboxState.create(name=mailbox.key, lease_until=utcnow() + dt.timedelta(minutes=1))
    poll(chat)
    [job] = Job.select().where(Job.kind == "poll_mailbox")
    assert job.result == {"skipped": "another poll holds the mailbox"}
    assert Job.select().where(Job.kind == "extract_email").count() == 0
    MailboxState.update(lease_until=None).execute()  # that poll ended
    poll(chat, utcnow() + dt.timedelta(seconds=runtime.current().settings.mail_poll_s))
    assert Event.select().count() == 1


def test_an_updated_invite_moves_the_event_and_a_cancellation_withdraws_it(
    chat, mailbox, imap_server
):
    """SEQUENCE 1 moves the confirmed event and its reminder; an older SEQUENCE changes
    nothing; METHOD:CANCEL rejects it and cancels the reminder."""
    start = (utcnow() + dt.timedelta(days=6)).replace(second=0, microsecond=0)
    imap_server.append(mailbox.username, invite(start))
    poll(chat)
    chat.press("Confirm")
    moved = start + dt.timedelta(hours=2)
    imap_server.append(mailbox.username, invite(moved, sequence=2))
    poll(chat, utcnow() + dt.timedelta(seconds=runtime.current().settings.mail_poll_s))
    [event] = Event.select()
    assert event.starts_at == moved and event.source_sequence == 2
    lead = dt.timedelta(minutes=runtime.current().settings.event_reminder_minutes)
    assert Reminder.get().fire_at == moved - lead
    assert "Changed by the organiser" in chat.last()["text"]
    imap_server.append(mailbox.username, invite(start, sequence=1))  # late, older news
    poll(chat, utcnow() + dt.timedelta(seconds=2 * runtime.current().settings.mail_poll_s))
    assert Event.get().starts_at == moved
    imap_server.append(mailbox.username, invite(moved, sequence=3, method="CANCEL"))
    poll(chat, utcnow() + dt.timedelta(seconds=3 * runtime.current().settings.mail_poll_s))
    assert Event.get().status == EventStatus.REJECTED
    assert Reminder.get().state == ReminderState.CANCELLED
    assert "Cancelled by the organiser" in chat.last()["text"]
    assert Event.select().count() == 1


def test_rejected_and_ignored_suggestions(chat, mailbox, imap_server):
    """[Reject] rejects; an ignored suggestion expires and its message loses its buttons."""
    soon = utcnow() + dt.timedelta(days=20)
    imap_server.append(mailbox.username, invite(soon, uid="a@x", summary="Car service"))
    imap_server.append(mailbox.username, invite(soon, uid="b@x", summary="Haircut"))
    poll(chat)
    assert len(suggestions(chat)) == 2
    press_on(chat, "Haircut", "Reject")
    by_title = {e.description: e for e in Event.select()}
    assert by_title["Haircut"].status == EventStatus.REJECTED
    waiting = by_title["Car service"]
    assert waiting.expires_at <= utcnow() + runtime.current().settings.suggestion_ttl
    later = waiting.expires_at + dt.timedelta(minutes=1)
    assert expire_suggestions(later)["events"] == 1
    chat.settle()
    assert Event.get_by_id(by_title["Car service"].id).status == EventStatus.EXPIRED
    assert chat.last()["edit"] and chat.last()["buttons"] == []
    press_on(chat, "Car service", "Confirm")  # on the stale message
    assert "expired" in chat.messenger.answers[-1][1]
    assert Reminder.select().count() == 0


def test_the_after_actions_are_opt_in(chat, mailbox, imap_server, monkeypatch):
    """after=seen flags handled mail on the next poll; after=move moves it."""
    imap_server.append(mailbox.username, invite(utcnow() + dt.timedelta(days=4)))
    seen = mailbox.model_copy(update={"after": "seen"})
    monkeypatch.setattr(runtime.current().settings, "mailboxes", [seen])
    poll(chat)
    assert flags(imap_server, seen) == [()]  # handled in this poll, flagged in the next
    poll(chat, utcnow() + dt.timedelta(seconds=runtime.current().settings.mail_poll_s))
    assert flags(imap_server, seen) == [("\\Seen",)]
    imap_server.append(mailbox.username, b"Subject: placeholder\r\n\r\nx", folder="Handled")
    moving = mailbox.model_copy(update={"after": "move", "move_to": "Handled"})
    monkeypatch.setattr(runtime.current().settings, "mailboxes", [moving])
    poll(chat, utcnow() + dt.timedelta(seconds=2 * runtime.current().settings.mail_poll_s))
    assert flags(imap_server, moving) == []
    assert len(flags(imap_server, moving, folder="Handled")) == 2
    assert Event.select().count() == 1


def test_a_huge_attachment_is_not_downloaded(chat, mailbox, imap_server):
    """A 30 MB attachment after the invite: the fetch stops at the cap, the event is found."""
    from lifeorg.imap import MAX_FETCH_BYTES

    start = utcnow() + dt.timedelta(days=8)
    imap_server.append(mailbox.username, invite(start, attachment=b"%PDF" + b"\0" * 30_000_000))
    poll(chat)
    [job] = Job.select().where(Job.kind == "extract_email")
    assert job.result["truncated"] is True and job.result["found"] == 1
    assert Event.select().count() == 1
    assert MAX_FETCH_BYTES < 30_000_000


def test_a_mailbox_that_fails_is_recorded_without_its_password(chat, mailbox, monkeypatch):
    """A wrong password: the poll fails, the error is recorded, the password is nowhere."""
    wrong = mailbox.model_copy(update={"password": SecretStr("hunter2-not-it")})
    monkeypatch.setattr(runtime.current().settings, "mailboxes", [wrong])
    poll(chat)
    state = MailboxState.get(MailboxState.name == wrong.key)
    assert "refused the login" in state.last_error and state.lease_until is None
    [job] = Job.select().where(Job.kind == "poll_mailbox")
    assert job.status == JobStatus.FAILED
    assert "hunter2" not in (job.last_error or "") + state.last_error
    assert Event.select().count() == 0


def test_mail_waits_until_its_owner_has_started_the_bot(chat, imap_server, monkeypatch):
    """No suggestions for someone the bot cannot talk to; the mail is read once they can."""
    box = new_mailbox(imap_server, OTHER)
    monkeypatch.setattr(runtime.current().settings, "mailboxes", [box])
    imap_server.append(box.username, invite(utcnow() + dt.timedelta(days=2)))
    poll(chat)
    assert Event.select().count() == 0 and ProcessedEmail.select().count() == 0
    chat.send("hi", user=OTHER)
    poll(chat, utcnow() + dt.timedelta(seconds=runtime.current().settings.mail_poll_s))
    assert Event.get().owner.telegram_user_id == OTHER
    assert User.get(User.telegram_user_id == OTHER).id == Event.get().owner_id


def test_the_mail_pass_runs_in_the_scheduler_only_when_mailboxes_are_configured(tmp_path, mailbox):
    """The scheduler's list of passes has "mail" exactly when a mailbox is configured."""
    from lifeorg.scheduler.ticker import periodic_passes
    from tests.conftest import make_settings

    assert "mail" not in [name for name, _, _ in periodic_passes(make_settings(tmp_path))]
    configured = make_settings(tmp_path, mailboxes=[mailbox], mail_poll_s=120)
    [(_, _, every)] = [p for p in periodic_passes(configured) if p[0] == "mail"]
    assert every == 120
