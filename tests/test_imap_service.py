"""The throwaway Dovecot the mail tests use: mails put in by APPEND read back with imap-tools.

Given a fresh account, When mails are appended, Then imap-tools sees exactly them, with the
UIDs the server gave, and peeking leaves them unread.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from imap_tools import AND, MailboxLoginError, MailBoxUnencrypted

from tests import services

SEEN = "\\Seen"
FLAGGED = "\\Flagged"
# How Dovecot's log marks trouble (its other lines say "Info:").
PROBLEMS = (" Warning: ", " Error: ", " Fatal: ", " Panic: ")


def build_mail(subject: str, body: str) -> EmailMessage:
    """A plain-text mail with its own Message-ID, as a sender would build it."""
    mail = EmailMessage()
    mail["From"] = "Clinic <bookings@clinic.example>"
    mail["To"] = "me@example.org"
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="clinic.example")
    mail.set_content(body)
    return mail


def open_mailbox(imap_server, account) -> MailBoxUnencrypted:
    """Plaintext IMAP is fine on loopback: the throwaway server has no TLS."""
    return MailBoxUnencrypted(imap_server.host, imap_server.port).login(*account)


def server_problems(imap_server, since: int) -> list[str]:
    """Error lines Dovecot logged after byte `since` (a misconfigured service shows here)."""
    text = imap_server.log.read_bytes()[since:].decode(errors="replace")
    return [line for line in text.splitlines() if any(word in line for word in PROBLEMS)]


def test_appended_mails_read_back_with_uids_and_stay_unseen(imap_server):
    log_start = imap_server.log.stat().st_size
    account = imap_server.new_account()
    first = build_mail("Dentist confirmed", "Tuesday 3 December at 14:30.")
    second = build_mail("Flight booked", "LIS to AMS on 5 December, 07:10.")

    uids = [imap_server.append(account.user, mail.as_bytes()) for mail in (first, second)]

    assert uids[0] < uids[1]
    with open_mailbox(imap_server, account) as mailbox:
        uidvalidity = mailbox.folder.status("INBOX")["UIDVALIDITY"]
        fetched = list(mailbox.fetch(mark_seen=False))
        flags_after_peek = [m.flags for m in mailbox.fetch(headers_only=True, mark_seen=False)]
    assert uidvalidity > 0
    assert [int(m.uid) for m in fetched] == uids
    message_ids = [m.headers["message-id"][0] for m in fetched]
    assert message_ids == [first["Message-ID"], second["Message-ID"]]
    assert [m.subject for m in fetched] == ["Dentist confirmed", "Flight booked"]
    assert fetched[0].text.strip() == "Tuesday 3 December at 14:30."
    assert all(SEEN not in flags for flags in flags_after_peek)
    # A second session sees the same UIDVALIDITY: (UIDVALIDITY, UID) names a mail for good.
    with open_mailbox(imap_server, account) as mailbox:
        assert mailbox.folder.status("INBOX")["UIDVALIDITY"] == uidvalidity
    assert server_problems(imap_server, log_start) == []


def test_fetch_without_peek_marks_seen(imap_server):
    """The contrast to the peek above: the server really records \\Seen on a plain fetch."""
    account = imap_server.new_account()
    imap_server.append(account.user, build_mail("Hello", "Hi.").as_bytes())

    with open_mailbox(imap_server, account) as mailbox:
        list(mailbox.fetch(mark_seen=True))
        flags = [m.flags for m in mailbox.fetch(headers_only=True, mark_seen=False)]

    assert len(flags) == 1
    assert SEEN in flags[0]


def test_each_account_is_a_separate_empty_mailbox(imap_server):
    mine, theirs = imap_server.new_account(), imap_server.new_account()
    imap_server.append(mine.user, build_mail("Only mine", "x").as_bytes())

    assert mine.user != theirs.user
    with open_mailbox(imap_server, theirs) as mailbox:
        assert mailbox.uids() == []
    with open_mailbox(imap_server, mine) as mailbox:
        assert [m.subject for m in mailbox.fetch(mark_seen=False)] == ["Only mine"]


def test_append_makes_the_folder_and_keeps_flags_and_internal_date(imap_server):
    account = imap_server.new_account()
    received = datetime(2024, 11, 28, 9, 15, tzinfo=UTC)

    uid = imap_server.append(
        account.user,
        build_mail("Archived invite", "x").as_bytes(),
        folder="Archive/2024",
        flags=(FLAGGED,),
        internal_date=received,
    )

    with open_mailbox(imap_server, account) as mailbox:
        mailbox.folder.set("Archive/2024")
        (message,) = mailbox.fetch(mark_seen=False)
        on_that_day = mailbox.uids(AND(date=received.date()))
        mailbox.folder.set("INBOX")
        inbox = mailbox.uids()
    assert int(message.uid) == uid
    assert FLAGGED in message.flags
    assert SEEN not in message.flags
    assert on_that_day == [str(uid)]
    assert inbox == []


def test_wrong_password_is_refused(imap_server):
    account = imap_server.new_account()

    with pytest.raises(MailboxLoginError):
        MailBoxUnencrypted(imap_server.host, imap_server.port).login(account.user, "wrong")


def test_missing_dovecot_is_reported_with_the_install_command(monkeypatch):
    """What a laptop's skip (or CI's failure) says when Dovecot is not installed."""
    monkeypatch.setattr(services, "dovecot_binary", lambda: None)

    with pytest.raises(services.ServiceUnavailable, match="make services"):
        services.dovecot_server.__wrapped__()


def test_an_unsupported_dovecot_series_is_refused_before_starting(monkeypatch):
    """A Dovecot 2.4 would reject the 2.3 config: say so instead of a cryptic start failure."""
    monkeypatch.setattr(services, "dovecot_binary", lambda: "/usr/sbin/dovecot")
    monkeypatch.setattr(services, "_dovecot_version", lambda binary: "2.4.1 (7e2e900c1a)")

    with pytest.raises(services.ServiceUnavailable, match=r"'2\.4\.1 .*2\.3 only"):
        services.dovecot_server.__wrapped__()
