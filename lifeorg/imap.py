"""Reading a configured mailbox over IMAP (imap-tools): new UIDs, one mail, the after-action.

Reading never changes the mailbox: the folder is selected read-only and bodies are fetched
with ``BODY.PEEK``, so no \\Seen flag appears. Only an opt-in after-action (flag as seen,
move) selects the folder for writing. A mail is fetched up to ``MAX_FETCH_BYTES``: the text,
HTML and invite parts come first in every mail client's layout, and a 30 MB attachment is
never downloaded (the cut part is simply not read).
"""

from __future__ import annotations

import datetime as dt
import imaplib
import logging
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from lifeorg.config import Mailbox

log = logging.getLogger(__name__)

# The most of one mail that is downloaded. Invites, reservations and confirmations are a
# few hundred KB at most, HTML and inline images included.
MAX_FETCH_BYTES = 2 * 1024 * 1024
# A poll hands at most this many new mails to extraction; the next poll takes the rest.
MAX_NEW_PER_POLL = 200
# A server that does not answer within this long is down for this poll.
TIMEOUT_S = 30.0
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class MailboxUnavailable(Exception):
    """The server could not be reached or refused us; the message says which, no secrets."""


@dataclass(frozen=True)
class Fetched:
    """One mail as read: its bytes (cut at MAX_FETCH_BYTES) and whether it was cut."""

    uid: int
    raw: bytes
    size: int

    @property
    def truncated(self) -> bool:
        return self.size > len(self.raw)


@contextmanager
def session(mailbox: Mailbox, *, write: bool = False) -> Iterator[MailboxSession]:
    """A logged-in session on the mailbox's folder; read-only unless ``write``."""
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
    from imap_tools.errors import MailboxLoginError

    kinds = {"tls": MailBox, "starttls": MailBoxStartTls, "plain": MailBoxUnencrypted}
    options = {"ssl_context": ssl.create_default_context()} if mailbox.security != "plain" else {}
    where = f"{mailbox.host}:{mailbox.imap_port}"
    try:
        client = kinds[mailbox.security](
            mailbox.host, port=mailbox.imap_port, timeout=TIMEOUT_S, **options
        )
    except (OSError, ssl.SSLError, imaplib.IMAP4.error) as exc:
        raise MailboxUnavailable(f"cannot reach {where}: {exc}") from None
    try:
        try:
            client.login(mailbox.username, mailbox.password.get_secret_value(), initial_folder=None)
        except MailboxLoginError:
            raise MailboxUnavailable(
                f"{where} refused the login of {mailbox.username!r} (check the password)"
            ) from None
        client.folder.set(mailbox.folder, readonly=not write)
        yield MailboxSession(mailbox, client)
    except (OSError, imaplib.IMAP4.abort) as exc:  # TimeoutError is an OSError
        raise MailboxUnavailable(f"{where} went away: {exc}") from None
    finally:
        with suppress(Exception):  # the connection is gone already; nothing to close
            client.logout()


class MailboxSession:
    """What a poll and an extraction do on a selected folder."""

    def __init__(self, mailbox: Mailbox, client) -> None:
        self.mailbox = mailbox
        self.client = client

    def uidvalidity(self) -> int:
        return int(self.client.folder.status(self.mailbox.folder, ["UIDVALIDITY"])["UIDVALIDITY"])

    def new_uids(self, after_uid: int, since: dt.date | None) -> list[int]:
        """UIDs above ``after_uid`` (and, on a first look, received on or after ``since``)."""
        from imap_tools import AND, U

        criteria = AND(uid=U(str(after_uid + 1), "*"))
        if since is not None:
            criteria = AND(criteria, date_gte=since)
        # "N:*" always matches the newest mail, even below N: filter, per RFC 3501.
        uids = sorted(int(uid) for uid in self.client.uids(criteria) if int(uid) > after_uid)
        return uids[:MAX_NEW_PER_POLL]

    def present(self, uids: list[int]) -> list[int]:
        """Which of ``uids`` are still in the folder (and, for 'seen', not yet seen)."""
        from imap_tools import AND

        if not uids:
            return []
        criteria = AND(uid=[str(uid) for uid in uids])
        if self.mailbox.after == "seen":
            criteria = AND(criteria, seen=False)
        return sorted(int(uid) for uid in self.client.uids(criteria))

    def fetch(self, uid: int) -> Fetched | None:
        """The mail's first MAX_FETCH_BYTES, without setting \\Seen; None if it is gone."""
        status, data = self.client.client.uid(
            "FETCH", str(uid), f"(UID RFC822.SIZE BODY.PEEK[]<0.{MAX_FETCH_BYTES}>)"
        )
        if status != "OK":
            raise MailboxUnavailable(f"fetching UID {uid} failed: {status}")
        for item in data:
            if not isinstance(item, tuple):
                continue  # the closing ")" of a response, or an unsolicited FLAGS update
            found = _UID.search(item[0])
            if found and int(found[1]) == uid:
                size = _SIZE.search(item[0])
                raw = item[1] or b""
                return Fetched(uid, raw, int(size[1]) if size else len(raw))
        return None

    def apply_after(self, uids: list[int]) -> int:
        """Flag or move handled mail, as configured; returns how many were changed."""
        from imap_tools import MailMessageFlags

        if not uids or self.mailbox.after == "none":
            return 0
        ids = [str(uid) for uid in uids]
        if self.mailbox.after == "seen":
            self.client.flag(ids, MailMessageFlags.SEEN, True)
        else:
            self.client.move(ids, self.mailbox.move_to)
        return len(ids)
