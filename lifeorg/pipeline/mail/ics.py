"""Calendar invitations (RFC 5545) read with ``icalendar``: one result per VEVENT.

Times with a TZID or in UTC keep their offset; floating times (no zone at all, or a TZID
nobody defined) are read in the user's zone; DATE values are all-day events, given as
local midnight of the day with an exclusive end. ``METHOD:CANCEL`` or ``STATUS:CANCELLED``
make a cancellation; UID and SEQUENCE travel with the result so the caller can update or
withdraw an event it proposed from an earlier invitation. A calendar that cannot be
parsed gives nothing (the next extractor gets its chance), never an error.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import icalendar

from lifeorg.pipeline.mail.found import (
    CANCELLED,
    CONFIRMED,
    FoundEvent,
    aware,
    clean_location,
    clean_title,
    local_midnight,
)

log = logging.getLogger(__name__)

SOURCE = "ics"
# RFC 5545 3.6.1: an all-day event without DTEND or DURATION lasts one day.
_DEFAULT_ALL_DAY_LENGTH = dt.timedelta(days=1)


def extract_events_from_ics(
    calendars: list[str], zone: dt.tzinfo, *, fallback_title: str
) -> list[FoundEvent]:
    """Every VEVENT in ``calendars``, once each (an invite often comes inline and attached)."""
    found: list[FoundEvent] = []
    seen: set[tuple[Any, ...]] = set()
    for text in calendars:
        for event in _events_in(text, zone, fallback_title):
            key = (event.uid or event.title, event.start, event.status)
            if key not in seen:
                seen.add(key)
                found.append(event)
    return found


def _events_in(text: str, zone: dt.tzinfo, fallback_title: str) -> list[FoundEvent]:
    """The events of one calendar; nothing when it is not a readable calendar."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        components = calendar.walk("VEVENT")
    except Exception as exc:  # icalendar raises many types on malformed input
        log.info("unreadable calendar part: %s", str(exc)[:200])
        return []
    cancelled_by_method = str(calendar.get("METHOD", "")).strip().upper() == "CANCEL"
    events = []
    for component in components:
        try:
            event = _event(component, zone, fallback_title, cancelled_by_method)
        except Exception as exc:  # one bad VEVENT does not spoil its siblings
            log.info("unreadable VEVENT: %s", str(exc)[:200])
            continue
        if event is not None:
            events.append(event)
    return events


def _event(
    component: Any, zone: dt.tzinfo, fallback_title: str, cancelled_by_method: bool
) -> FoundEvent | None:
    """One VEVENT as a FoundEvent; None when it has no usable start (unless cancelled)."""
    cancelled = cancelled_by_method or _text(component, "STATUS").upper() == "CANCELLED"
    start_value = _moment(component, "DTSTART")
    if start_value is None and not cancelled:
        return None
    all_day = isinstance(start_value, dt.date) and not isinstance(start_value, dt.datetime)
    start, end = _span(component, start_value, zone) if start_value is not None else (None, None)
    return FoundEvent(
        title=clean_title(_text(component, "SUMMARY") or fallback_title),
        start=start,
        end=end,
        all_day=all_day,
        location=clean_location(_text(component, "LOCATION")),
        source=SOURCE,
        status=CANCELLED if cancelled else CONFIRMED,
        uid=_text(component, "UID") or None,
        sequence=_sequence(component),
    )


def _span(
    component: Any, start: dt.date, zone: dt.tzinfo
) -> tuple[dt.datetime, dt.datetime | None]:
    """Start and end as aware times, from DTEND or DURATION."""
    end_value = _moment(component, "DTEND")
    duration = _duration(component)
    if not isinstance(start, dt.datetime):
        if isinstance(end_value, dt.date) and not isinstance(end_value, dt.datetime):
            last = end_value
        else:
            last = start + (duration or _DEFAULT_ALL_DAY_LENGTH)
        begins = local_midnight(start, zone)
        ends = local_midnight(last, zone) if last > start else None
        return begins, ends
    begins = aware(start, zone)
    if isinstance(end_value, dt.datetime):
        ends: dt.datetime | None = aware(end_value, zone)
    elif duration is not None:
        ends = begins + duration
    else:
        ends = None  # RFC 5545: a timed event without an end is an instant
    return begins, ends if ends is not None and ends >= begins else None


def _moment(component: Any, name: str) -> dt.date | None:
    """A DATE or DATE-TIME property, or None when missing or not a time at all."""
    if name not in component:
        return None
    try:
        value = component.decoded(name)
    except Exception:
        return None
    return value if isinstance(value, dt.date) else None


def _duration(component: Any) -> dt.timedelta | None:
    if "DURATION" not in component:
        return None
    try:
        value = component.decoded("DURATION")
    except Exception:
        return None
    return value if isinstance(value, dt.timedelta) and value >= dt.timedelta(0) else None


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _sequence(component: Any) -> int:
    try:
        return max(0, int(str(component.get("SEQUENCE", 0)).strip()))
    except ValueError:
        return 0
