"""Appointments written in a mail's prose, read with the project's own date grammars.

A false event bothers the user more than a missed one (the model, when configured, gets
the mails this finds nothing in), so an event needs all of:

- a line with an explicit calendar date ("03.12.2026", "3. Dezember", "December 3, 2026")
  and a clock time on it or on one of the next lines ("Uhrzeit: 14:30 Uhr");
- appointment wording in the subject or near the line ("appointment", "booking",
  "reservation", "Termin", "Buchung", "Reservierung", "confirmed", "bestätigt", ...);
- no wording near the line that makes the date something else (a due date, a delivery,
  a sale that ends, the date a quoted mail was sent);
- a mail that is not, as a whole, a newsletter, statement, invoice with a due date,
  shipping notice or password reset.

Dates are read as the parser reads them (day first: "03/12/2026" is 3 December); a date
without a year is the next one on or after the day the mail was sent. Weekday-only and
"tomorrow" phrasing is not trusted in mail: it depends on when the mail was written and
is as often a footer ("Guten Morgen") as an appointment. Quoted replies are not read;
forwarded mails are, minus the forwarded header block.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lifeorg.pipeline.clock import ClockSpec, PeriodSpec, take_clocks, take_periods, time_of_day
from lifeorg.pipeline.dates import DaySpec, place_day, take_days
from lifeorg.pipeline.durations import take_durations
from lifeorg.pipeline.lexicon import fold
from lifeorg.pipeline.mail.found import (
    CANCELLED,
    CONFIRMED,
    FoundEvent,
    clean_location,
    clean_title,
)
from lifeorg.pipeline.mail.message import Mail
from lifeorg.pipeline.scanner import Scanner, Span
from lifeorg.pipeline.text import content_text
from lifeorg.pipeline.zones import localize

SOURCE = "text"
# An appointment mail names one or two; a mail with more dated lines is a schedule or a
# newsletter, and the first few are the ones that matter.
MAX_TEXT_EVENTS = 3
# Confirmations say what matters at the top; reading further only finds footers.
MAX_READ_CHARS = 20_000
# How far from a dated line appointment wording (or spoiling wording) still counts, in
# non-blank lines: a heading "Your appointment" over "Date: ..." and "Time: ..." rows.
_LINES_BEFORE, _LINES_AFTER = 3, 2
# A time for a dated line may sit on the next lines ("Datum: ...", "Uhrzeit: ...").
_CLOCK_LOOKAHEAD_LINES = 2
# A bare hour on a day means the afternoon for 1 to 5 ("um 3 Uhr" is 15:00), as the parser
# reads a bare hour on a named day.
_AFTERNOON_HOURS = range(1, 6)
_NOON = 12


def _words(*patterns: str) -> re.Pattern[str]:
    """One case-folded regex for several alternatives (written folded: no accents)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# Mails that are never appointments, whatever dates they hold (matched on folded text).
_NEVER_APPOINTMENTS = _words(
    # marketing and newsletters
    r"\bunsubscribe\b|\bnewsletter\b|\babmelden\b|\babbestellen\b|\bopt[- ]out\b",
    r"view (?:this (?:e-?mail|message) )?in (?:your|a) browser",
    r"im browser (?:ansehen|anzeigen|offnen)",
    # bank and card statements, transfers
    r"statement period|account statement|statement balance|minimum payment|available credit",
    r"kontoauszug|abrechnungszeitraum|kreditkartenabrechnung|kontostand|\biban\b|lastschrift",
    # parcels
    r"tracking number|track your (?:package|parcel|order|shipment)|out for delivery",
    r"has (?:been )?shipped|delivered by|estimated delivery|sendungsnummer|sendungsverfolgung",
    r"voraussichtliche zustellung|wurde versandt|ihr paket|your package|your parcel",
    # accounts
    r"reset your password|password reset|passwort zurucksetzen|neues passwort|verify your e-?mail",
)
# An invoice is only excluded when it asks for payment by a date.
_INVOICE = _words(r"\binvoice\b|\brechnung\b|\bbill\b")
_PAYMENT_DUE = _words(
    r"due date|payment due|amount due|due on|zahlbar bis|\bfallig|zahlungsziel|bitte uberweisen"
)
# Wording that makes a date an appointment.
_APPOINTMENT = _words(
    r"\bappointments?\b|\bbooking\b|\bbooked\b|\breservations?\b|\breserved\b|\bconfirmed\b",
    r"\byour visit\b|\blook forward to (?:seeing|welcoming) you\b|\bsee you\b|\bcheck-?in\b",
    r"\btermin(?:e|s|bestatigung|vereinbarung)?\b|\w+termin(?:e|s)?\b|\bbuchung|\bgebucht\b",
    r"\breservierung|\breserviert\b|\bbestatigt\b|\bbesuch\b|ihr besuch|freuen uns auf sie",
)
# Wording near a date that makes it something other than an appointment.
_SPOILERS = _words(
    r"\bdue\b|\bfallig|\bzahlbar|\bpayment\b|\bzahlung|\bdeliver|\blieferung|\bzustellung",
    r"\bsale\b|\bangebot|\boffer\b|\bexpires?\b|\bvalid (?:until|through)\b|\bgultig bis",
    r"\bends?\b|\bendet\b|\bdeadline\b|\bfrist\b|\bsent\b|\bgesendet\b|\bwrote\b|\bschrieb\b",
    r"\bdiscount\b|\brabatt\b|\bgutschein\b|\bcoupon\b|\bpromo\b",
)
_CANCELLATION = _words(
    r"\bcancell?ed\b|\bcancell?ation\b|\bstorniert\b|\bstornierung\b|\babgesagt\b|\babsage\b"
)
# Lines that give the place, e.g. "Ort: Praxis Dr. Weber, Hauptstr. 5".
_LOCATION_LINE = re.compile(
    r"^\s*(?:location|where|venue|address|ort|adresse|wo|treffpunkt|standort|filiale)\s*:\s*(.+)$"
)
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|aw|antw|sv)\s*:", re.IGNORECASE)
# Where a reply's quoted original starts; nothing from there on is read.
_QUOTE_START = _words(
    r"^on .{0,200} wrote:$|^am .{0,200} schrieb .{0,200}:$",
    r"^-{2,}\s*(?:original message|ursprungliche nachricht)\s*-{2,}$",
)
# The header block of a forwarded mail ("From: ... Sent: ... Subject: ...") is not read.
_FORWARD_MARKER = _words(
    r"^-{2,}\s*(?:forwarded message|weitergeleitete nachricht|original message"
    r"|ursprungliche nachricht)\s*-{2,}$",
    r"^begin forwarded message:$|^anfang der weitergeleiteten nachricht:$",
)
_HEADER_LINE = re.compile(
    r"^\s*(?:from|sent|date|to|cc|subject|von|gesendet|datum|an|betreff)\s*:", re.IGNORECASE
)
# Subject beginnings that say nothing about the event, stripped (matched folded) until none
# is left: "AW: Fwd: Terminbestätigung Bürgeramt: ..." -> "Bürgeramt: ...".
_OWNER = r"(?:your|ihre?|dein|deine)\s+"
_KIND = r"(?:appointment|booking|reservation|termin|buchung|reservierung)"
_CONFIRMING = r"(?:confirmation|confirmed|bestatigung|bestatigt|reminder|erinnerung)"
_SUBJECT_HEADS = (
    re.compile(
        r"^\s*(?:re|aw|antw|sv|fwd?|wg|tr|confirmation|confirmed|bestatigung|reminder"
        r"|erinnerung|info)\s*:\s*"
    ),
    re.compile(
        rf"^\s*(?:{_OWNER})?{_KIND}?s?\s*{_CONFIRMING}"
        r"(?:\s*[:|\-\u2013\u2014]\s*|\s+(?:for|fur|bei|at|with|mit)\s+|\s+)"
    ),
    re.compile(rf"^\s*{_OWNER}{_KIND}\s+(?:at|with|bei|mit|im|in)\s+"),
)
_SUBJECT_TAIL = re.compile(
    r"\s+(?:(?:is|has\s+been|wurde|ist)\s+)?(?:confirmed|bestatigt|booked|gebucht|reserviert)"
    r"\s*[.!]?\s*$"
)
_SUBJECT_OWNER = re.compile(rf"^\s*{_OWNER}")
# A subject that is nothing but "Your appointment" / "Terminbestätigung" names no event.
_GENERIC_SUBJECT = re.compile(rf"(?:{_OWNER})?{_KIND}?s?\s*{_CONFIRMING}?")
_RANGE_BETWEEN = re.compile(r"^\s*(?:-|\u2013|\u2014|to|until|till|bis)?\s*$")
_RANGE_WORD = re.compile(r"^\s*(?:to|until|till|bis)\b")
# "zwischen 08:00 und 12:00 Uhr", "between 10 am and 2 pm": a window, its end the second time.
_BETWEEN_OPENING = re.compile(r"\b(?:zwischen|between)\s*$")
_BETWEEN_AND = re.compile(r"^\s*(?:und|and)\s*$")
# A bare hour opening a range whose end the clock grammar read: "von 14 bis 15:30 Uhr".
_FROM_BARE_HOUR = re.compile(r"\b(?:von|from)\s+(?P<h>\d{1,2})\s*$")
_HOURS_IN_DAY = 24
_DEFAULT_TITLE = "Appointment"


@dataclass(frozen=True)
class _Moment:
    """A day and the times read for it (the end only when a range was written)."""

    day: dt.date
    start: dt.time
    end: dt.time | None


def extract_events_from_text(mail: Mail, zone: dt.tzinfo, now: dt.datetime) -> list[FoundEvent]:
    """Appointments stated in the mail's text; nothing for mail that is not about one."""
    reply = bool(_REPLY_SUBJECT.match(mail.subject))
    lines = readable_lines(mail.text[:MAX_READ_CHARS], reply=reply)
    whole = fold(f"{mail.subject}\n" + "\n".join(lines))
    if _never_an_appointment(whole):
        return []
    subject_says_appointment = bool(_APPOINTMENT.search(fold(mail.subject)))
    reference = (mail.date or now).astimezone(zone).date()
    lines = [mail.subject, *lines]
    events: list[FoundEvent] = []
    for index, line in enumerate(lines):
        moments = _moments(line, lines[index + 1 : index + 1 + _CLOCK_LOOKAHEAD_LINES], reference)
        if not moments:
            continue
        nearby = fold(" \n".join(lines[max(0, index - _LINES_BEFORE) : index + 1 + _LINES_AFTER]))
        if _SPOILERS.search(nearby):
            continue
        if not (subject_says_appointment or _APPOINTMENT.search(nearby)):
            continue
        status = CANCELLED if _CANCELLATION.search(nearby) else CONFIRMED
        title = _title(mail, line)
        location = _location(lines[max(1, index - _LINES_BEFORE) : index + 1 + 2 * _LINES_AFTER])
        for moment in moments:
            events.append(_found(moment, title, location, status, zone))
        if len(events) >= MAX_TEXT_EVENTS:
            break
    return _distinct(events)[:MAX_TEXT_EVENTS]


def _never_an_appointment(folded: str) -> bool:
    """Whether the whole mail is of a kind that never announces an appointment."""
    if _NEVER_APPOINTMENTS.search(folded):
        return True
    return bool(_INVOICE.search(folded) and _PAYMENT_DUE.search(folded))


def readable_lines(text: str, *, reply: bool) -> list[str]:
    """The mail's own non-blank lines: no quoted text, no forwarded header blocks."""
    lines: list[str] = []
    in_forward_header = False
    for raw in text.splitlines():
        line = " ".join(raw.split())
        folded = fold(line)
        if reply and _QUOTE_START.search(folded):
            break
        if _FORWARD_MARKER.search(folded):
            in_forward_header = True
            continue
        if in_forward_header:
            if not line or _HEADER_LINE.match(line):
                continue
            in_forward_header = False  # the forwarded mail's own text begins
        if not line or line.startswith(">"):
            continue
        lines.append(line)
    return lines


# --- reading dates and times ----------------------------------------------------------------------


def _moments(line: str, following: list[str], reference: dt.date) -> list[_Moment]:
    """The dated, timed moments a line states (its time may sit on a following line)."""
    days, clocks, clock_spans, scanner = _read(line)
    dates = [d for d in days if d.kind == "date" and not d.invalid]
    if not dates:
        return []
    if not clocks:
        for other in following:
            other_days, clocks, clock_spans, scanner = _read(other)
            if any(d.kind == "date" for d in other_days):
                return []  # the next line is another date: this one has no time
            if clocks:
                break
    clocks_and_spans = [(c, s) for c, s in zip(clocks, clock_spans, strict=True) if not c.invalid]
    if not clocks_and_spans:
        return []
    first, first_span = clocks_and_spans[0]
    if first.deadline:
        # "bis 18 Uhr" is a deadline, unless it closes "von 14 bis 15:30 Uhr".
        opening = _FROM_BARE_HOUR.search(fold(scanner.text[: first_span.start]))
        if opening is None or int(opening["h"]) >= _HOURS_IN_DAY:
            return []
        start = ClockSpec(int(opening["h"]), 0, ambiguous=True)
        end = ClockSpec(first.hour, first.minute, first.ambiguous)
        pairs = [(dates[0], start, _range_end_after(start, end))]
    elif len(dates) > 1 and len(dates) == len(clocks_and_spans):
        pairs = [(d, c, None) for d, (c, _) in zip(dates, clocks_and_spans, strict=True)]
    else:
        end = _range_end(scanner.text, clocks_and_spans)
        pairs = [(dates[0], first, end)]
    moments = []
    for spec, clock, end in pairs:
        day = place_day(spec, reference)
        if day is None:
            continue
        start = _clock_time(clock)
        moments.append(_Moment(day, start, _clock_time(end) if end else None))
    return moments


def _read(line: str) -> tuple[list[DaySpec], list[ClockSpec], list[Span], Scanner]:
    """Days and clock times in ``line``, in the parser's order, with each clock's span."""
    scanner = Scanner(line)
    take_durations(scanner)  # "45 Minuten" is a length, not a time
    periods = take_periods(scanner)
    days = take_days(scanner)
    before = len(scanner.taken)
    clocks = take_clocks(scanner)
    spans = sorted(scanner.taken[before:], key=lambda span: span.start)
    if periods and clocks:
        clocks = [_with_period(clock, periods[0]) for clock in clocks]
    return days, clocks, spans, scanner


def _with_period(clock: ClockSpec, period: PeriodSpec) -> ClockSpec:
    """A bare hour with "abends" / "in the evening" written near it."""
    tod, ambiguous = time_of_day(clock, period)
    if tod is None:
        return clock
    return ClockSpec(tod.hour, tod.minute, ambiguous=ambiguous)


def _range_end(text: str, clocks: list[tuple[ClockSpec, Span]]) -> ClockSpec | None:
    """The second time of "10:00 - 10:30" / "von 10 bis 11 Uhr" / "2:30 PM to 3:00 PM"."""
    if len(clocks) < 2:
        return None
    (first, first_span), (second, second_span) = clocks[0], clocks[1]
    between = fold(text[first_span.end : second_span.start])
    second_text = fold(text[second_span.start : second_span.end])
    window = _BETWEEN_OPENING.search(fold(text[: first_span.start])) and _BETWEEN_AND.match(between)
    separated = _RANGE_BETWEEN.match(between) and (
        between.strip() or _RANGE_WORD.match(second_text)
    )
    if not (window or separated):
        return None
    return _range_end_after(first, second)


def _range_end_after(first: ClockSpec, end: ClockSpec) -> ClockSpec | None:
    """``end`` as the end of a range starting at ``first``; None when it is not later."""
    if end.ambiguous and first.hour >= _NOON and end.hour < _NOON:
        end = ClockSpec(end.hour + _NOON, end.minute)  # "14 bis 4 Uhr" ends at 16:00
    start, finish = _clock_time(first), _clock_time(end)
    return end if finish > start else None


def _clock_time(clock: ClockSpec) -> dt.time:
    hour = clock.hour
    if clock.ambiguous and hour in _AFTERNOON_HOURS:
        hour += _NOON
    return dt.time(hour, clock.minute)


# --- the result -----------------------------------------------------------------------------------


def _found(
    moment: _Moment, title: str, location: str | None, status: str, zone: dt.tzinfo
) -> FoundEvent:
    start = localize(dt.datetime.combine(moment.day, moment.start), zone)
    end = localize(dt.datetime.combine(moment.day, moment.end), zone) if moment.end else None
    return FoundEvent(
        title=title,
        start=start,
        end=end,
        all_day=False,
        location=location,
        source=SOURCE,
        status=status,
        uid=None,
    )


def _distinct(events: list[FoundEvent]) -> list[FoundEvent]:
    """One event per start (a date in the subject and again in the body is one event)."""
    seen: set[dt.datetime | None] = set()
    unique = []
    for event in events:
        if event.start not in seen:
            seen.add(event.start)
            unique.append(event)
    return unique


def _title(mail: Mail, line: str) -> str:
    """The subject without prefixes, confirmation words and its date; else who sent it;
    else what the dated sentence says besides its date."""
    subject = _strip_subject(mail.subject)
    if subject:
        return clean_title(subject)
    name = re.sub(r"\s*<[^>]*>\s*$", "", mail.sender).strip().strip('"')
    if name and "@" not in name:
        return clean_title(name)
    content = _without_moments(line)
    if content and not _APPOINTMENT.fullmatch(fold(content)):
        return clean_title(content)
    return _DEFAULT_TITLE


def _strip_subject(subject: str) -> str:
    """What the subject says the event is ("Terminbestätigung: Dr. Weber" -> "Dr. Weber")."""
    text = _without_moments(subject)
    stripped = True
    while stripped:
        stripped = False
        for pattern in _SUBJECT_HEADS:
            match = pattern.match(fold(text))
            if match and match.group(0).strip():
                text, stripped = text[match.end() :], True
    tail = _SUBJECT_TAIL.search(fold(text))
    if tail:
        text = text[: tail.start()]
    owner = _SUBJECT_OWNER.match(fold(text))
    if owner:
        text = text[owner.end() :]
    text = text.strip(" -\u2013\u2014|:,.")
    if _GENERIC_SUBJECT.fullmatch(fold(text)):
        return ""
    return text[:1].upper() + text[1:]


def _without_moments(text: str) -> str:
    """``text`` without its date and time expressions and the words that tied them in."""
    scanner = Scanner(text)
    take_durations(scanner)
    take_periods(scanner)
    take_days(scanner)
    take_clocks(scanner)
    return content_text(text, scanner.taken).strip(" -\u2013\u2014|:,.")


def _location(lines: list[str]) -> str | None:
    """The first "Ort: ..." / "Location: ..." line near the dated line."""
    for line in lines:
        match = _LOCATION_LINE.match(fold(line))
        if match:
            return clean_location(line[match.start(1) :])
    return None
