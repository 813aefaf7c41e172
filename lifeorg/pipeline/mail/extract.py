"""Find the events a mail announces: calendar invites, then reservations, then prose.

The extractors run in order of how much they can be trusted, and the first that finds
anything wins: an ICS invitation (exact, with a UID to update it by), schema.org JSON-LD
(exact, from the sender's systems), the offline reading of the text (conservative), and
last, when a model is configured, the model. Cancellations are results too. Events that
were over more than a day before ``now`` are dropped: an old mail proposes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lifeorg.pipeline.mail.found import CANCELLED, FoundEvent
from lifeorg.pipeline.mail.ics import extract_events_from_ics
from lifeorg.pipeline.mail.jsonld import extract_events_from_jsonld
from lifeorg.pipeline.mail.message import Mail
from lifeorg.pipeline.mail.text import extract_events_from_text
from lifeorg.pipeline.zones import resolve_zone

__all__ = ["FoundEvent", "Mail", "extract_events"]

# An event that ended less than this long ago is still shown (a late mail about
# yesterday's appointment is news); older ones are history.
PAST_GRACE = dt.timedelta(days=1)
# More events than this from one mail is a calendar export, not an invitation: the user
# is asked about the first ones only.
MAX_EVENTS_PER_MAIL = 20


def extract_events(
    mail: Mail | bytes,
    *,
    tz: str | dt.tzinfo,
    now: dt.datetime,
    llm: Any = None,
    job: Any = None,
    last_attempt: bool = True,
) -> list[FoundEvent]:
    """The events in ``mail`` (raw RFC 822 bytes or a Mail) for a user in zone ``tz``.

    ``llm`` is a ``lifeorg.llm.LLMClient`` (or None for offline only); its cost goes on
    ``job``. Raises ValueError for an unknown zone or a naive ``now``, and LLMUnavailable
    only when ``last_attempt`` is false (so the step can retry the model later).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = resolve_zone(tz)
    if isinstance(mail, bytes | bytearray):
        mail = Mail.from_bytes(bytes(mail))
    found = _offline(mail, zone, now)
    if not found and llm is not None:
        from lifeorg.pipeline.mail.llm import extract_events_with_llm  # pydantic: only if used

        found = extract_events_with_llm(mail, zone, now, llm, job=job, last_attempt=last_attempt)
    return [event for event in found if not _over(event, now)][:MAX_EVENTS_PER_MAIL]


def _offline(mail: Mail, zone: dt.tzinfo, now: dt.datetime) -> list[FoundEvent]:
    """The first offline extractor's events (ICS, then JSON-LD, then the text)."""
    calendars = extract_events_from_ics(mail.calendars, zone, fallback_title=mail.subject)
    if calendars:
        return calendars
    reservations = extract_events_from_jsonld(mail.html, zone)
    if reservations:
        return reservations
    return extract_events_from_text(mail, zone, now)


def _over(event: FoundEvent, now: dt.datetime) -> bool:
    """Whether ``event`` ended more than ``PAST_GRACE`` before ``now``."""
    last = event.last_moment()
    if last is None:
        return event.status != CANCELLED  # a cancellation by UID alone still counts
    return last < now - PAST_GRACE
