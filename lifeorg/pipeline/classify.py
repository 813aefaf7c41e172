"""Deciding what a message is: the offline parser first, then the model where it helps.

The model may fill in what the parser could not read (an intent it could only guess, a
date in words the grammar lacks), but never overrides a date or time the parser read. It
returns local date and time parts; the instant is computed here, in the user's zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from lifeorg.errors import LLMError, LLMUnavailable
from lifeorg.pipeline.parse import Intent, ParsedMessage, parse_message
from lifeorg.pipeline.prompts import CLASSIFY

# The parser's catch-all: a message it filed as a note may be anything, so the model is asked.
_UNSURE_INTENTS = {Intent.NOTE}
# Intents that need a moment; without one the model may find the date in words the grammar
# lacks.
_TIMED_INTENTS = {Intent.REMINDER, Intent.EVENT}


class ModelClassification(BaseModel):
    """What the model answers for CLASSIFY."""

    intent: Literal["note", "task", "reminder", "event", "complete_task", "search"]
    text: str = Field(max_length=4096)
    date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    time: str | None = Field(None, pattern=r"^\d{2}:\d{2}$")
    confidence: float = Field(ge=0, le=1)


@dataclass(frozen=True)
class Classification:
    """A parsed message and where its intent came from (offline or the model)."""

    parsed: ParsedMessage
    source: Literal["offline", "llm"] = "offline"
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.parsed.to_json(), "source": self.source, "notes": self.notes}


def worth_asking(parsed: ParsedMessage) -> bool:
    """Whether the model could improve on the parser for this message."""
    if parsed.intent in _UNSURE_INTENTS:
        return True
    return parsed.intent in _TIMED_INTENTS and parsed.when is None


def classify(
    text: str,
    *,
    now: dt.datetime,
    tz: str,
    default_time: dt.time,
    llm: Any = None,
    job: Any = None,
    last_attempt: bool = True,
) -> Classification:
    """Classify ``text``; raises LLMUnavailable only when a retry may still get the model."""
    parsed = parse_message(text, now, tz, default_time)
    if llm is None or not llm.available() or not worth_asking(parsed):
        return Classification(parsed)
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    data = {
        "message": text,
        "now_local": local_now.strftime("%Y-%m-%dT%H:%M"),
        "weekday": local_now.strftime("%A"),
        "timezone": tz,
    }
    try:
        answer = llm.complete(CLASSIFY, data, ModelClassification, job=job)
    except LLMUnavailable as exc:
        if not last_attempt:
            raise
        return Classification(parsed, notes=[f"model unavailable: {exc}"])
    except LLMError as exc:
        # Refused, invalid output, breaker open, misconfigured: the offline answer stands.
        return Classification(parsed, notes=[f"model not used: {exc}"])
    return Classification(merge(parsed, answer, zone, default_time), source="llm")


def merge(
    parsed: ParsedMessage, answer: ModelClassification, zone: ZoneInfo, default_time: dt.time
) -> ParsedMessage:
    """The parser's reading with the model's intent and, where the parser found none, moment."""
    merged = replace(parsed, intent=Intent(answer.intent))
    if parsed.when is not None or answer.date is None:
        return merged
    when = local_instant(answer.date, answer.time or default_time.strftime("%H:%M"), zone)
    if when is None:
        return merged  # the model's date is impossible: no moment rather than a wrong one
    return replace(
        merged,
        when=when,
        all_day=answer.time is None,
        text=answer.text.strip() or parsed.text,
        next=[when] if parsed.recurrence is None else parsed.next,
    )


def local_instant(date_text: str, time_text: str, zone: ZoneInfo) -> dt.datetime | None:
    """A local date and time as an aware instant; None when either is impossible.

    A time that does not exist (the hour skipped by daylight saving) moves forward by the
    gap; a time that exists twice takes the first.
    """
    try:
        naive = dt.datetime.combine(
            dt.date.fromisoformat(date_text), dt.time.fromisoformat(time_text)
        )
    except ValueError:
        return None
    # Through UTC and back: fold=0 reads a skipped time with the offset before the gap,
    # which lands it the gap's length later, and a repeated time as its first occurrence.
    return naive.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
