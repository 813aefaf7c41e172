"""Appointments in a mail's prose, asked of the configured model (the last extractor).

The mail is untrusted: it travels only in the data part of the request (``lifeorg.llm``
marks that part as material, never instructions), and the answer must fit a strict
schema: a few events, each a title, a local date and times. Nothing else can come out of
it: no cancellations (those need a calendar UID), no actions, and every result is only
a proposal the user confirms or rejects. A time that cannot exist drops that event.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lifeorg.errors import LLMError, LLMUnavailable
from lifeorg.pipeline.mail.found import (
    CONFIRMED,
    FoundEvent,
    clean_location,
    clean_title,
    local_midnight,
)
from lifeorg.pipeline.mail.message import Mail
from lifeorg.pipeline.prompts import EMAIL_EXTRACT
from lifeorg.pipeline.zones import localize

log = logging.getLogger(__name__)

SOURCE = "llm"
# A mail that really holds more appointments than this is a schedule, not a confirmation;
# an answer with more is rejected whole (a model told to "add 500 events" gets nothing).
MAX_MODEL_EVENTS = 5
# What the model is shown of a mail: confirmations say everything in the first screens,
# and the cost of a call grows with its length.
MAX_MODEL_TEXT_CHARS = 8000
# Longer than this is not a title the model was asked for; shorter ones are trimmed to
# the product's title length.
_MAX_MODEL_TITLE_CHARS = 1000
_MAX_MODEL_LOCATION_CHARS = 1000
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIME = r"^\d{2}:\d{2}$"
_OFFSET = r"^[+-]\d{2}:\d{2}$"
_ONE_DAY = dt.timedelta(days=1)


class ModelEvent(BaseModel):
    """One event as the model gives it: local parts, never an instant."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=_MAX_MODEL_TITLE_CHARS)
    date: str = Field(pattern=_DATE)
    start_time: str | None = Field(None, pattern=_TIME)
    end_time: str | None = Field(None, pattern=_TIME)
    utc_offset: str | None = Field(None, pattern=_OFFSET)
    location: str | None = Field(None, max_length=_MAX_MODEL_LOCATION_CHARS)


class ModelMailEvents(BaseModel):
    """What the model answers for EMAIL_EXTRACT."""

    model_config = ConfigDict(extra="forbid")

    events: list[ModelEvent] = Field(max_length=MAX_MODEL_EVENTS)


def extract_events_with_llm(
    mail: Mail,
    zone: dt.tzinfo,
    now: dt.datetime,
    llm: Any,
    *,
    job: Any = None,
    last_attempt: bool = True,
) -> list[FoundEvent]:
    """The events the model finds in ``mail``; nothing when it cannot be asked or fails.

    Raises LLMUnavailable only when ``last_attempt`` is false, so a retry may get the model.
    """
    if llm is None or not llm.available() or not (mail.text.strip() or mail.subject.strip()):
        return []
    try:
        answer = llm.complete(EMAIL_EXTRACT, _data(mail, zone, now), ModelMailEvents, job=job)
    except LLMUnavailable:
        if not last_attempt:
            raise
        log.info("model unavailable for %s; no events from prose", mail.message_id)
        return []
    except LLMError as exc:
        log.info("model gave no usable answer for %s: %s", mail.message_id, exc)
        return []
    found = (_found(event, zone) for event in answer.events)
    return [event for event in found if event is not None]


def _data(mail: Mail, zone: dt.tzinfo, now: dt.datetime) -> dict[str, Any]:
    """What the model is shown: the mail (untrusted) and the moments to resolve dates by."""
    local_now = now.astimezone(zone)
    return {
        "subject": mail.subject,
        "sender": mail.sender,
        "sent_local": mail.date.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if mail.date else None,
        "now_local": local_now.strftime("%Y-%m-%dT%H:%M"),
        "weekday": local_now.strftime("%A"),
        "timezone": str(zone),
        "text": mail.text[:MAX_MODEL_TEXT_CHARS],
    }


def _found(event: ModelEvent, zone: dt.tzinfo) -> FoundEvent | None:
    """One model event as a FoundEvent; None when its date or times cannot exist."""
    try:
        day = dt.date.fromisoformat(event.date)
        start_time = dt.time.fromisoformat(event.start_time) if event.start_time else None
        end_time = dt.time.fromisoformat(event.end_time) if event.end_time else None
    except ValueError:
        return None
    title = clean_title(event.title)
    if not title:
        return None
    if start_time is None:
        start = local_midnight(day, zone)
        end = local_midnight(day + _ONE_DAY, zone)
    else:
        offset = _offset(event.utc_offset)
        start = _instant(day, start_time, offset or zone)
        end = _instant(day, end_time, offset or zone) if end_time else None
        end = end if end is not None and end > start else None
    return FoundEvent(
        title=title,
        start=start,
        end=end,
        all_day=start_time is None,
        location=clean_location(event.location),
        source=SOURCE,
        status=CONFIRMED,
        uid=None,
    )


def _offset(text: str | None) -> dt.timezone | None:
    """A "+05:30" offset as a fixed zone; None when absent or impossible."""
    if not text:
        return None
    sign = -1 if text.startswith("-") else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    try:
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    except ValueError:
        return None


def _instant(day: dt.date, time: dt.time, zone: dt.tzinfo) -> dt.datetime:
    return localize(dt.datetime.combine(day, time), zone)
