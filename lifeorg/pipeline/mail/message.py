"""One email as the extractors need it: subject, ids, date, text, HTML and calendar parts.

Mail is untrusted input from anyone on the internet, so reading it never fails and never
costs more than the few parts an event can be in:

- only text/plain, text/html and calendar parts (text/calendar, application/ics, a
  ``*.ics`` file) are ever decoded, each up to a size limit. Before the stdlib parser
  sees the message, the bodies of every other part (photos, PDFs, a 30 MB video) and of
  oversized text parts are cut out of the raw bytes, so they are neither parsed nor
  decoded; their headers stay, so the structure is still the mail's;
- a charset that is unknown or wrong falls back to UTF-8, then Windows-1252 / Latin-1;
- a mail without a Message-ID gets a stable stand-in derived from its content
  (``message_id_derived`` says so), a mail without a usable Date gets ``date=None``;
- an HTML-only mail is turned into text (scripts and styles dropped, a line break at
  each block element); a mail with no text at all (only an image) reads as empty.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

log = logging.getLogger(__name__)

# A confirmation mail's text is a few KB; a text part over 1 MB is a pasted log or a
# newsletter archive, never an appointment, and is skipped rather than decoded.
MAX_TEXT_PART_BYTES = 1024 * 1024
# Real invitations are a few KB (a long recurring series with exceptions maybe 100 KB).
MAX_CALENDAR_PART_BYTES = 512 * 1024
# A part's header block beyond this is garbage; only this much is read to find its type.
MAX_PART_HEADER_BYTES = 64 * 1024
# Deeper MIME nesting than this is hostile, not a mail client; deeper parts are left to
# the stdlib parser as they are.
MAX_MIME_DEPTH = 16

TEXT_TYPES = frozenset({"text/plain", "text/html"})
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})
_ATTACHMENT = "attachment"
# When a mail has no Message-ID, its stand-in is derived from these headers and the body.
_IDENTITY_HEADERS = ("from", "to", "date", "subject")
_DERIVED_ID_DOMAIN = "lifeorg.derived"
_DERIVED_ID_HEX_CHARS = 32


@dataclass(frozen=True)
class MailPart:
    """One decodable part: its MIME type and transfer-decoded bytes (not yet characters)."""

    content_type: str
    payload: bytes
    charset: str | None = None
    filename: str | None = None
    attachment: bool = False


@dataclass(frozen=True)
class Mail:
    """What the extractors read from one email."""

    subject: str
    message_id: str
    sender: str
    date: dt.datetime | None
    text: str
    html: str | None = None
    calendars: list[str] = field(default_factory=list)
    message_id_derived: bool = False

    @classmethod
    def from_bytes(cls, raw: bytes) -> Mail:
        """Read a whole RFC 822 message; never raises for malformed mail."""
        message = BytesParser(policy=email.policy.default).parsebytes(without_unneeded_bodies(raw))
        return cls.from_parts(message, _decodable_parts(message))

    @classmethod
    def from_parts(cls, headers: bytes | Message, parts: Iterable[MailPart]) -> Mail:
        """Build a Mail from a header block and separately fetched parts (an IMAP poller's
        BODY[HEADER] and BODY[n] fetches); parts over their size limit are skipped."""
        if isinstance(headers, bytes | bytearray):
            headers = BytesHeaderParser(policy=email.policy.default).parsebytes(bytes(headers))
        texts: list[str] = []
        htmls: list[str] = []
        calendars: list[str] = []
        for part in parts:
            kind = _kind(part)
            if kind is None or len(part.payload) > _limit(kind):
                continue
            content = decode_text(part.payload, part.charset)
            {"text": texts, "html": htmls, "calendar": calendars}[kind].append(content)
        html = "\n".join(htmls) or None
        text = "\n\n".join(t.strip() for t in texts if t.strip())
        if not text and html:
            text = html_to_text(html)
        raw_headers = {name.lower(): value for name, value in _raw_header_items(headers)}
        subject = header_text(raw_headers.get("subject", ""))
        message_id = " ".join(raw_headers.get("message-id", "").split())
        derived = not message_id
        if derived:
            message_id = _derived_message_id(raw_headers, text, html, calendars)
            log.info("mail without Message-ID; using derived %s", message_id)
        return cls(
            subject=" ".join(subject.split()),
            message_id=message_id,
            sender=" ".join(header_text(raw_headers.get("from", "")).split()),
            date=_sent_at(raw_headers.get("date")),
            text=text,
            html=html,
            calendars=calendars,
            message_id_derived=derived,
        )


# --- decoding -------------------------------------------------------------------------------


def decode_text(payload: bytes, charset: str | None) -> str:
    """``payload`` as text: its declared charset, else UTF-8, else Windows-1252 / Latin-1."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return payload.decode(_codec_name(candidate))
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    mostly_utf8 = payload.decode("utf-8", errors="replace")
    if _looks_like_utf8(payload, mostly_utf8):
        return mostly_utf8  # UTF-8 with a few broken bytes: keep what is readable
    try:
        return payload.decode("cp1252")
    except UnicodeDecodeError:
        return payload.decode("latin-1")  # every byte is a Latin-1 character


def _codec_name(charset: str) -> str:
    """The Python codec for a MIME charset label ("x-unknown" raises LookupError)."""
    label = charset.strip().strip("\"'").lower()
    # Mail labels "iso-8859-1" text that is really Windows-1252 (curly quotes, €): decode it
    # as the superset, as browsers and mail clients do.
    return "cp1252" if label in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii") else label


def _looks_like_utf8(payload: bytes, decoded: str) -> bool:
    """Whether bytes that failed strict UTF-8 still hold more valid UTF-8 than garbage."""
    broken = decoded.count("\ufffd")
    multibyte = sum(1 for char in decoded if ord(char) > 0x7F) - broken
    return multibyte > broken


def header_text(value: str) -> str:
    """A header's value with encoded words decoded, whatever their (possibly bogus) charset."""
    raw = value.encode("utf-8", "surrogateescape") if _has_surrogates(value) else None
    if raw is not None:
        return decode_text(raw, None)  # 8-bit header bytes sent without encoding
    try:
        chunks = decode_header(value)
    except Exception:  # the stdlib raises assorted errors on malformed encoded words
        return value
    words = []
    for chunk, charset in chunks:
        words.append(decode_text(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return "".join(words)


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in value)


def _raw_header_items(message: Message) -> list[tuple[str, str]]:
    """Header names and undecoded values (the policy's own decoding may choke on bad mail)."""
    items = []
    for name, value in message.raw_items():
        items.append((name, value if isinstance(value, str) else str(value)))
    return items


def _sent_at(value: str | None) -> dt.datetime | None:
    """The Date header as an aware time; None when missing or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(" ".join(value.split()))
    except (TypeError, ValueError, IndexError):
        return None
    # "-0000" means the sender's zone is unknown; the time itself is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _derived_message_id(
    headers: dict[str, str], text: str, html: str | None, calendars: list[str]
) -> str:
    """A stand-in Message-ID that is the same every time the same mail is read."""
    digest = hashlib.sha256()
    for name in _IDENTITY_HEADERS:
        digest.update(" ".join(headers.get(name, "").split()).encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    for body in (text, html or "", *calendars):
        digest.update(body.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return f"<{digest.hexdigest()[:_DERIVED_ID_HEX_CHARS]}@{_DERIVED_ID_DOMAIN}>"


# --- which parts are read -------------------------------------------------------------------


def _kind(part: MailPart) -> str | None:
    """Which list a part belongs to: text, html, calendar, or None (not read)."""
    content_type = part.content_type.lower()
    filename = (part.filename or "").lower()
    if content_type in CALENDAR_TYPES or filename.endswith(".ics"):
        return "calendar"
    if part.attachment or content_type not in TEXT_TYPES:
        return None
    return "html" if content_type == "text/html" else "text"


def _limit(kind: str) -> int:
    return MAX_CALENDAR_PART_BYTES if kind == "calendar" else MAX_TEXT_PART_BYTES


def _decodable_parts(message: Message) -> list[MailPart]:
    """The leaf parts worth decoding, transfer-decoded (base64, quoted-printable)."""
    parts = []
    for leaf in message.walk():
        if leaf.is_multipart():
            continue
        try:
            filename = leaf.get_filename()
        except Exception:  # a malformed RFC 2231 filename is no reason to lose the mail
            filename = None
        part = MailPart(
            content_type=leaf.get_content_type(),
            payload=b"",
            charset=leaf.get_content_charset(),
            filename=filename,
            attachment=leaf.get_content_disposition() == _ATTACHMENT,
        )
        kind = _kind(part)
        encoded = leaf.get_payload()
        if kind is None or not isinstance(encoded, str) or len(encoded) > _limit(kind):
            continue  # not needed, or too big to be what we look for: never decoded
        payload = leaf.get_payload(decode=True) or b""
        parts.append(MailPart(part.content_type, payload, part.charset, filename, part.attachment))
    return parts


# --- cutting out what is never read, before parsing -------------------------------------------


def without_unneeded_bodies(raw: bytes) -> bytes:
    """``raw`` with the bodies of unread or oversized parts removed (headers kept).

    The stdlib parser holds every line of every part in memory several times over; a
    30 MB attachment would cost hundreds of MB to parse before it could be skipped.
    """
    cuts: list[tuple[int, int]] = []
    _collect_cuts(raw, 0, len(raw), cuts, depth=0)
    if not cuts:
        return raw
    pieces, cursor = [], 0
    for start, end in sorted(cuts):
        pieces.append(raw[cursor:start])
        cursor = end
    pieces.append(raw[cursor:])
    return b"".join(pieces)


def _collect_cuts(raw: bytes, start: int, end: int, cuts: list, depth: int) -> None:
    """Add to ``cuts`` the body spans in ``raw[start:end]`` (one MIME entity) not to read."""
    body = _body_start(raw, start, end)
    header_bytes = raw[start : min(body, start + MAX_PART_HEADER_BYTES)]
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(header_bytes)
    content_type = headers.get_content_type()
    if depth >= MAX_MIME_DEPTH:
        return
    if content_type.startswith("multipart/"):
        boundary = headers.get_boundary()
        if boundary:
            for part_start, part_end in _part_spans(raw, body, end, boundary):
                _collect_cuts(raw, part_start, part_end, cuts, depth + 1)
        return
    if content_type == "message/rfc822":
        _collect_cuts(raw, body, end, cuts, depth + 1)
        return
    try:
        filename = headers.get_filename()
    except Exception:
        filename = None
    part = MailPart(
        content_type,
        b"",
        filename=filename,
        attachment=headers.get_content_disposition() == _ATTACHMENT,
    )
    kind = _kind(part)
    if kind is None or end - body > _limit(kind):
        cuts.append((body, end))


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Where the body of the entity at ``start`` begins (after the first empty line)."""
    for blank in (b"\r\n", b"\n"):
        if raw.startswith(blank, start):
            return start + len(blank)  # no headers at all
    found = [
        (index + len(separator))
        for separator in (b"\n\r\n", b"\n\n")
        if (index := raw.find(separator, start, end)) >= 0
    ]
    return min(found) if found else end


def _part_spans(raw: bytes, body: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """The (start, end) of each part between the ``--boundary`` lines of a multipart body."""
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    lines: list[tuple[int, int, bool]] = []  # (delimiter line start, next line start, closing)
    search = body
    while (at := raw.find(delimiter, search, end)) >= 0:
        search = at + len(delimiter)
        if at != body and raw[at - 1 : at] != b"\n":
            continue  # the boundary text inside a line is not a delimiter
        line_end = raw.find(b"\n", at, end)
        line_end = end if line_end < 0 else line_end + 1
        rest = raw[at + len(delimiter) : line_end].strip()
        if rest not in (b"", b"--"):
            continue  # a longer boundary that starts with this one
        lines.append((at, line_end, rest == b"--"))
        if rest == b"--":
            break
    if not lines:
        return []  # no delimiter at all: nothing to cut, the stdlib reads it as it can
    spans = []
    for (_, content_start, closing), following in zip(lines, [*lines[1:], None], strict=True):
        if closing:
            break
        content_end = following[0] if following else end
        # The line break before a delimiter belongs to the delimiter.
        if raw[content_end - 1 : content_end] == b"\n":
            content_end -= 1
            if raw[content_end - 1 : content_end] == b"\r":
                content_end -= 1
        spans.append((content_start, max(content_start, content_end)))
    return spans


# --- HTML to text -------------------------------------------------------------------------------

# Elements whose content is never text a reader sees.
_INVISIBLE = frozenset({"script", "style", "title", "noscript", "template", "head"})
# Elements that start a new line when rendered.
_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "center", "dd", "div", "dl"),
        *("dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4"),
        *("h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section"),
        *("table", "tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_CELLS = frozenset({"td", "th"})


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document, with line breaks at blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if self._hidden == "head" and tag == "body":
            self._hidden = None  # an unclosed <head> ends where the body begins
        if self._hidden:
            return
        if tag in _INVISIBLE:
            self._hidden = tag
        elif tag in _BLOCKS:
            self.out.append("\n")
        elif tag in _CELLS:
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if not self._hidden and tag in _BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._hidden:
            if tag == self._hidden or (self._hidden == "head" and tag == "body"):
                self._hidden = None
            return
        if tag in _BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """The visible text of ``html``: one line per block, blank lines collapsed."""
    reader = _HtmlText()
    try:
        reader.feed(html)
        reader.close()
    except Exception:  # HTMLParser is lenient, but an AssertionError on junk is possible
        log.info("unreadable HTML part; using what was read before the error")
    lines = (" ".join(line.split()) for line in "".join(reader.out).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
