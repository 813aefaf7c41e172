"""What the extractors find: one event a mail announces, cancels or updates.

Kept apart from ``extract`` so each extractor (ICS, JSON-LD, text, the model) can build
results without importing the module that runs them all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lifeorg.pipeline.zones import localize

# Titles come from mail subjects, SUMMARY lines and model output: long enough for
# "Flight LH 123 Frankfurt → London" or a doctor's full name, short enough for a button.
TITLE_MAX_CHARS = 200
LOCATION_MAX_CHARS = 300

CONFIRMED = "confirmed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class FoundEvent:
    """An event found in a mail; times are aware, all-day events start at local midnight."""

    title: str
    start: dt.datetime | None
    end: dt.datetime | None
    all_day: bool
    location: str | None
    source: str  # ics | jsonld | text | llm
    status: str  # confirmed | cancelled
    uid: str | None  # ICS UID or JSON-LD reservationNumber, so a later mail can update it
    sequence: int = 0

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON values (ISO 8601 times with their offset, or null)."""
        return {
            "title": self.title,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "all_day": self.all_day,
            "location": self.location,
            "source": self.source,
            "status": self.status,
        }

    def last_moment(self) -> dt.datetime | None:
        """When the event is over: its end, else the end of an all-day start, else its start."""
        if self.end is not None:
            return self.end
        if self.start is not None and self.all_day:
            return self.start + dt.timedelta(days=1)
        return self.start


def clean_title(text: str | None) -> str:
    """One line, spaces collapsed, capped at ``TITLE_MAX_CHARS`` (with an ellipsis)."""
    return _one_line(text, TITLE_MAX_CHARS)


def clean_location(text: str | None) -> str | None:
    """A location as one capped line, or None when there is nothing in it."""
    return _one_line(text, LOCATION_MAX_CHARS) or None


def _one_line(text: str | None, limit: int) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The start of ``day`` in ``zone`` (how an all-day event is given as an instant)."""
    return localize(dt.datetime.combine(day, dt.time(0, 0)), zone)


def aware(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``moment`` as an aware time: a floating (naive) time is read in the user's ``zone``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return localize(moment, zone)
    return moment
