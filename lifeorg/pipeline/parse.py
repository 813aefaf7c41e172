"""Read one message offline: what it wants, what it is about, and when.

``parse_message`` is pure: the same text, ``now``, zone and default time always give the
same answer. The grammars run in a fixed order (repeats, durations, parts of the day,
days, clock times), each taking what it understands out of the text; ``intent`` decides
what the message wants; what is left, minus trigger and connector words, is its content.

Times without a day: a time still ahead today is today, a passed one is tomorrow; a bare
hour ("at 5") is the next 5 o'clock, 05:00 or 17:00 today, else 05:00 tomorrow. A bare hour
on a named day is read as written, except 1 to 5, which are afternoon hours (nobody means
3 at night without saying so), and 7 to 11 for dinners, parties and the like. A day
without a time uses ``default_time`` and is ``all_day``. Anything impossible ("25:00",
"february 30") gives ``when=None``: the message is still classified, never guessed at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from lifeorg.pipeline.clock import ClockSpec, PeriodSpec, take_clocks, take_periods, time_of_day
from lifeorg.pipeline.dates import DaySpec, place_day, take_days
from lifeorg.pipeline.durations import DurationSpec, add_duration, take_durations
from lifeorg.pipeline.intent import Intent, classify_by_content, find_trigger
from lifeorg.pipeline.lexicon import fold
from lifeorg.pipeline.recurrence import RecurrenceSpec, Rule, occurrences, take_recurrences
from lifeorg.pipeline.scanner import Scanner
from lifeorg.pipeline.text import content_text
from lifeorg.pipeline.wording import mentions_evening
from lifeorg.pipeline.zones import localize, resolve_zone

__all__ = ["Intent", "ParsedMessage", "parse_message"]

OCCURRENCES_SHOWN = 3
_END_OF_DAY = dt.time(23, 59, 59)


@dataclass(frozen=True)
class ParsedMessage:
    """What one message says: its intent, its content, and when (if at all)."""

    intent: Intent
    text: str
    when: dt.datetime | None = None
    all_day: bool = False
    recurrence: str | None = None
    next: list[dt.datetime] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The message as plain JSON values (ISO 8601 times with their offset)."""
        return {
            "intent": str(self.intent),
            "text": self.text,
            "when": self.when.isoformat() if self.when else None,
            "all_day": self.all_day,
            "recurrence": self.recurrence,
            "next": [moment.isoformat() for moment in self.next],
        }


@dataclass
class _Found:
    """Everything the grammars took out of one message."""

    repeats: list[RecurrenceSpec]
    durations: list[DurationSpec]
    periods: list[PeriodSpec]
    days: list[DaySpec]
    clocks: list[ClockSpec]

    @property
    def timed(self) -> bool:
        return bool(self.repeats or self.durations or self.periods or self.days or self.clocks)

    @property
    def invalid(self) -> bool:
        return any(d.invalid for d in self.days) or any(c.invalid for c in self.clocks)

    def day(self, *roles: str) -> DaySpec | None:
        return next((d for d in self.days if d.role in roles), None)


def parse_message(
    text: str, now: dt.datetime, tz: str | dt.tzinfo, default_time: dt.time
) -> ParsedMessage:
    """Parse ``text`` as written at ``now`` in zone ``tz``; raises ValueError for a bad zone."""
    zone = resolve_zone(tz)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(zone)
    scanner = Scanner(text)
    found = _Found(
        repeats=take_recurrences(scanner),
        durations=take_durations(scanner),
        periods=take_periods(scanner),
        days=take_days(scanner),
        clocks=take_clocks(scanner),
    )
    time_spans = list(scanner.taken)
    evening = mentions_evening(scanner.remaining_words())
    intent, keep_whole = _decide(scanner, found)
    if keep_whole:
        content = text.strip()
    else:
        content = content_text(
            text, scanner.taken if intent != Intent.SEARCH else scanner.taken[len(time_spans) :]
        )
    if found.invalid:
        return ParsedMessage(intent, content)
    if found.repeats:
        return _repeating(intent, content, found, now, zone, default_time)
    when, all_day = _one_off(found, now, zone, default_time, evening=evening)
    return ParsedMessage(intent, content, when, all_day, None, [when] if when else [])


def _decide(scanner: Scanner, found: _Found) -> tuple[Intent, bool]:
    """The intent, and whether the text is kept whole (questions are searched as asked)."""
    accented = "".join(c.lower() if len(c.lower()) == 1 else c for c in scanner.text)
    hit = find_trigger(fold(scanner.text), accented)
    if hit is not None:
        trigger, match = hit
        if trigger.strip:
            scanner.take_span(*match.span())
        elif trigger.intent == Intent.SEARCH:
            return Intent.SEARCH, True
        return trigger.intent, False
    if any(d.role == "deadline" for d in found.days) or any(c.deadline for c in found.clocks):
        return Intent.TASK, False
    day_and_clock = bool(found.days and found.clocks)
    words = scanner.remaining_words()
    return classify_by_content(words, timed=found.timed, day_and_clock=day_and_clock), False


def _one_off(
    found: _Found, now: dt.datetime, zone: dt.tzinfo, default_time: dt.time, *, evening: bool
) -> tuple[dt.datetime | None, bool]:
    """When a non-repeating message is due, and whether only its day was given."""
    clock = found.clocks[0] if found.clocks else None
    period = found.periods[0] if found.periods else None
    if found.durations:
        total = DurationSpec(
            sum(d.minutes for d in found.durations),
            sum(d.days for d in found.durations),
            sum(d.months for d in found.durations),
        )
        moved = add_duration(now, total, zone)
        if clock is not None and total.has_days:
            tod, _ = time_of_day(clock, period)
            return localize(dt.datetime.combine(moved.date(), tod or moved.time()), zone), False
        return moved, False
    spec = found.day("on", "deadline", "start", "until")
    today = now.date()
    tod, ambiguous = time_of_day(clock, period)
    if spec is None and period is not None and period.today:
        spec = DaySpec("offset", offset=0)
    if spec is None:
        return (_next_time(tod, ambiguous, now, zone), False) if tod else (None, False)
    day = place_day(spec, today)
    if day is None:
        return None, False
    all_day = tod is None
    if ambiguous and tod is not None and _afternoon_hour(tod.hour, evening=evening):
        tod = tod.replace(hour=tod.hour + 12)
    when = localize(dt.datetime.combine(day, tod or default_time), zone)
    if when < now and spec.kind == "weekday" and spec.this:
        when = localize(dt.datetime.combine(day + dt.timedelta(days=7), tod or default_time), zone)
    if when < now and ambiguous and tod is not None and tod.hour < 12:
        later = localize(dt.datetime.combine(day, tod.replace(hour=tod.hour + 12)), zone)
        when = later if later >= now else when
    return when, all_day


# Bare hours on a named day that mean the afternoon (6 is left as written: a morning run, an
# early train), and with an evening occasion, the evening.
_AFTERNOON_HOURS = range(1, 6)
_EVENING_HOURS = range(7, 12)


def _afternoon_hour(hour: int, *, evening: bool) -> bool:
    """Whether a bare hour on a named day means hour + 12."""
    return hour in _AFTERNOON_HOURS or (evening and hour in _EVENING_HOURS)


def _next_time(tod: dt.time, ambiguous: bool, now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The next time ``tod`` comes round: today if still ahead, else tomorrow."""
    today = now.date()
    candidates = [dt.datetime.combine(today, tod)]
    if ambiguous and tod.hour < 12:
        candidates.append(dt.datetime.combine(today, tod.replace(hour=tod.hour + 12)))
    candidates.append(dt.datetime.combine(today + dt.timedelta(days=1), tod))
    for candidate in candidates:
        moment = localize(candidate, zone)
        if moment >= now:
            return moment
    return localize(candidates[-1], zone)


def _repeating(
    intent: Intent,
    content: str,
    found: _Found,
    now: dt.datetime,
    zone: dt.tzinfo,
    default_time: dt.time,
) -> ParsedMessage:
    """A repeating message: its RRULE value and first occurrences."""
    repeat = found.repeats[0]
    for other in found.repeats[1:]:
        repeat = RecurrenceSpec(
            repeat.freq if repeat.freq != "DAILY" or not other.weekdays else other.freq,
            max(repeat.interval, other.interval),
            repeat.weekdays or other.weekdays,
            repeat.period or other.period,
        )
    today = now.date()
    weekdays, monthday, month = repeat.weekdays, None, None
    start_spec = found.day("start")
    on = found.day("on", "deadline")
    freq = repeat.freq
    if on is not None:
        if on.kind == "weekday" and freq in ("WEEKLY", "DAILY") and not weekdays:
            weekdays, freq = (("MO", "TU", "WE", "TH", "FR", "SA", "SU")[on.weekday],), "WEEKLY"
        elif on.kind == "monthday" and freq in ("MONTHLY", "DAILY"):
            monthday, freq = on.day, "MONTHLY"
        elif on.kind == "date" and freq == "MONTHLY":
            monthday = on.day
        elif (
            on.kind == "date" and freq in ("YEARLY", "DAILY", "WEEKLY") and repeat.freq == "YEARLY"
        ):
            monthday, month = on.day, on.month
        else:
            start_spec = start_spec or on
    start = place_day(start_spec, today) if start_spec else None
    until_spec = found.day("until")
    until_day = place_day(until_spec, today) if until_spec else None
    until = localize(dt.datetime.combine(until_day, _END_OF_DAY), zone) if until_day else None
    clock = found.clocks[0] if found.clocks else None
    period = (
        found.periods[0]
        if found.periods
        else (PeriodSpec(repeat.period) if repeat.period else None)
    )
    tod, _ = time_of_day(clock, period)
    all_day = tod is None and freq not in ("HOURLY", "MINUTELY")
    tod = tod or default_time
    hour, minute = tod.hour, tod.minute
    if freq == "HOURLY":
        hour, minute = None, clock.minute if clock else 0
    elif freq == "MINUTELY":
        hour, minute = None, None
    rule = Rule(freq, repeat.interval, weekdays, monthday, month, hour, minute, until)
    upcoming = occurrences(rule, now, zone, start, OCCURRENCES_SHOWN)
    when = upcoming[0] if upcoming else None
    return ParsedMessage(
        intent, content, when, all_day and when is not None, rule.value(), upcoming
    )
