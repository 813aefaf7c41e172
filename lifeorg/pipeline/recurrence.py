"""Repeating times: "every day at 8", "every monday and thursday", "tous les lundis".

The grammar yields a frequency with its interval and weekdays; ``parse`` adds the day of
the month, the month and the time of day it found elsewhere in the message, and
``occurrences`` expands the rule with ``dateutil.rrule`` on *naive local* wall-clock times,
attaching the zone afterwards, so a daily 09:00 stays 09:00 across a clock change.

An interval above one ("every other day", "every 2 weeks on friday") counts from the
first occurrence at or after now, which is what people mean by "every other day".
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

from dateutil import rrule

from lifeorg.pipeline.lexicon import (
    DURATION_UNITS,
    NUMBER_WORDS,
    RRULE_DAYS,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    alternation,
)
from lifeorg.pipeline.scanner import Scanner
from lifeorg.pipeline.zones import localize, wall_clock

# How many candidate occurrences to look through for the first ones after now; a rule
# with fewer matches than this in range (say, until yesterday) simply has none.
_SEARCH_LIMIT = 2000
_FREQUENCIES = {
    "YEARLY": rrule.YEARLY,
    "MONTHLY": rrule.MONTHLY,
    "WEEKLY": rrule.WEEKLY,
    "DAILY": rrule.DAILY,
    "HOURLY": rrule.HOURLY,
    "MINUTELY": rrule.MINUTELY,
}
_UNIT_FREQUENCY = {
    "minutes": "MINUTELY",
    "hours": "HOURLY",
    "days": "DAILY",
    "weeks": "WEEKLY",
    "months": "MONTHLY",
    "years": "YEARLY",
}
_WORKWEEK = ("MO", "TU", "WE", "TH", "FR")
_WEEKEND_DAYS = ("SA", "SU")


@dataclass(frozen=True)
class RecurrenceSpec:
    """How often something repeats, before the time of day is known."""

    freq: str
    interval: int = 1
    weekdays: tuple[str, ...] = ()
    period: str | None = None


_EVERY = r"every|each|jeden|jede|jedes|tous\s+les|toutes\s+les|chaque|todos\s+los|todas\s+las|cada"
_DAY_NAMES = alternation([*WEEKDAYS, *WEEKDAY_ABBREVIATIONS])
_MORE_DAYS = rf"(?:\s*(?:,|and|und|et|y|&|/|or|oder|ou|o)\s*(?:{_DAY_NAMES})\b\.?)*"
_DAY_LIST = rf"(?:{_DAY_NAMES})\b\.?{_MORE_DAYS}"
_PLURAL_DAYS = alternation(n for n in WEEKDAYS if n.endswith("s") and n[:-1] in WEEKDAYS)
_ORDINALS = {
    "first": 1, "1st": 1, "erste": 1, "ersten": 1, "premier": 1, "primer": 1,
    "second": 2, "2nd": 2, "zweite": 2, "zweiten": 2, "deuxieme": 2, "segundo": 2,
    "third": 3, "3rd": 3, "dritte": 3, "dritten": 3, "troisieme": 3, "tercer": 3,
    "fourth": 4, "4th": 4, "vierte": 4, "vierten": 4, "quatrieme": 4, "cuarto": 4,
    "last": -1, "letzte": -1, "letzten": -1, "dernier": -1, "ultimo": -1,
}  # fmt: skip
_PERIOD_WORDS = {
    "morning": "morning", "mornings": "morning", "morgen": "morning", "matin": "morning",
    "matins": "morning", "manana": "morning", "mananas": "morning",
    "afternoon": "afternoon", "afternoons": "afternoon", "nachmittag": "afternoon",
    "apres-midi": "afternoon", "tarde": "afternoon", "tardes": "afternoon",
    "evening": "evening", "evenings": "evening", "abend": "evening", "soir": "evening",
    "soirs": "evening", "night": "night", "nights": "night", "nacht": "night",
    "nuit": "night", "nuits": "night", "noche": "night", "noches": "night",
}  # fmt: skip
_WORD_FREQUENCIES = (
    (r"every\s*day|each\s+day|daily|jeden\s+tag|taglich|tous\s+les\s+jours|chaque\s+jour"
     r"|quotidiennement|todos\s+los\s+dias|cada\s+dia|diariamente|a\s+diario", "DAILY"),
    (r"every\s+week|each\s+week|weekly|jede\s+woche|wochentlich|toutes\s+les\s+semaines"
     r"|chaque\s+semaine|hebdomadairement|cada\s+semana|todas\s+las\s+semanas"
     r"|semanalmente", "WEEKLY"),
    (r"(?:of\s+)?(?:every|each)\s+month|monthly|jeden\s+monat|monatlich|jedes\s+monats"
     r"|tous\s+les\s+mois|(?:de\s+)?chaque\s+mois|mensuellement|(?:de\s+)?cada\s+mes"
     r"|todos\s+los\s+meses|mensualmente", "MONTHLY"),
    (r"every\s+year|each\s+year|yearly|annually|jedes\s+jahr|jahrlich|tous\s+les\s+ans"
     r"|chaque\s+annee|annuellement|cada\s+ano|todos\s+los\s+anos|anualmente", "YEARLY"),
    (r"every\s+hour|each\s+hour|hourly|jede\s+stunde|stundlich|toutes\s+les\s+heures"
     r"|chaque\s+heure|cada\s+hora|todas\s+las\s+horas", "HOURLY"),
)  # fmt: skip
_OTHER = r"other|second|zweiten|zweite"
_GRAMMAR = (
    ("days", re.compile(
        r"\b(?:every\s+weekday|(?:on\s+)?weekdays|werktags|jeden\s+werktag|an\s+werktagen"
        r"|en\s+semaine|tous\s+les\s+jours\s+de\s+la\s+semaine|entre\s+semana"
        r"|(?:todos\s+)?los\s+dias\s+laborables|cada\s+dia\s+laborable|de\s+lunes\s+a\s+viernes"
        r"|monday\s+to\s+friday|montag\s+bis\s+freitag|du\s+lundi\s+au\s+vendredi)\b"), _WORKWEEK),
    ("days", re.compile(
        r"\b(?:every\s+weekend|(?:on\s+)?weekends|jedes\s+wochenende|(?:tous\s+les|chaque)\s+week-?ends?"
        r"|cada\s+fin\s+de\s+semana|los\s+fines\s+de\s+semana)\b"), _WEEKEND_DAYS),
    ("ordinal", re.compile(
        rf"\b(?:(?:{_EVERY}|on\s+the|the|am|le|el)\s+)?(?P<ord>{alternation(_ORDINALS)})\s+(?P<day>{_DAY_NAMES})\s+"
        r"(?:of\s+(?:every|each|the)\s+month|(?:jedes|des)\s+monats|(?:du|de\s+chaque)\s+mois"
        r"|de\s+cada\s+mes)\b"), None),
    ("other_day", re.compile(
        r"\b(?:every\s+(?:other|second)\s+day|jeden\s+zweiten\s+tag|alle\s+zwei\s+tage"
        r"|un\s+jour\s+sur\s+deux|dia\s+por\s+medio|cada\s+dos\s+dias)\b"), None),
    ("other_week", re.compile(
        r"\b(?:every\s+(?:other|second)\s+week|jede\s+zweite\s+woche|une\s+semaine\s+sur\s+deux"
        r"|cada\s+dos\s+semanas)\b"), None),
    ("interval", re.compile(
        rf"\b(?:{_EVERY}|alle)\s+(?P<n>\d+|{alternation(NUMBER_WORDS)})"
        rf"\s+(?P<u>{alternation(DURATION_UNITS)})\b"), None),
    ("weekday_list", re.compile(
        rf"\b(?:{_EVERY}|los)\s+(?P<other>(?:{_OTHER})\s+)?(?P<list>{_DAY_LIST})"), None),
    ("weekday_list", re.compile(rf"\b(?:on\s+)?(?P<list>(?:{_PLURAL_DAYS})\b{_MORE_DAYS})"), None),
    ("period", re.compile(rf"\b(?:{_EVERY})\s+(?P<p>{alternation(_PERIOD_WORDS)})\b"), None),
)  # fmt: skip
_WORD_PATTERNS = tuple((re.compile(rf"\b(?:{body})\b"), freq) for body, freq in _WORD_FREQUENCIES)
_DAY_NAME_PATTERN = re.compile(rf"\b(?:{_DAY_NAMES})\b")


def _weekday_codes(text: str) -> tuple[str, ...]:
    codes = []
    for name in _DAY_NAME_PATTERN.findall(text):
        code = RRULE_DAYS[WEEKDAYS.get(name, WEEKDAY_ABBREVIATIONS.get(name, 0))]
        if code not in codes:
            codes.append(code)
    return tuple(sorted(codes, key=RRULE_DAYS.index))


def _spec(kind: str, match: re.Match[str], days: tuple[str, ...] | None) -> RecurrenceSpec | None:
    if kind == "days":
        return RecurrenceSpec("WEEKLY", weekdays=days or ())
    if kind == "ordinal":
        day = RRULE_DAYS[WEEKDAYS.get(match["day"], WEEKDAY_ABBREVIATIONS.get(match["day"], 0))]
        return RecurrenceSpec("MONTHLY", weekdays=(f"{_ORDINALS[match['ord']]}{day}",))
    if kind == "other_day":
        return RecurrenceSpec("DAILY", interval=2)
    if kind == "other_week":
        return RecurrenceSpec("WEEKLY", interval=2)
    if kind == "interval":
        amount = int(match["n"]) if match["n"].isdigit() else NUMBER_WORDS[match["n"]]
        if amount < 1:
            return None
        return RecurrenceSpec(_UNIT_FREQUENCY[DURATION_UNITS[match["u"]]], interval=amount)
    if kind == "weekday_list":
        interval = 2 if match.groupdict().get("other") else 1
        return RecurrenceSpec("WEEKLY", interval=interval, weekdays=_weekday_codes(match["list"]))
    return RecurrenceSpec("DAILY", period=_PERIOD_WORDS[match["p"]])


def take_recurrences(scanner: Scanner) -> list[RecurrenceSpec]:
    """Take repeat expressions out of ``scanner``, most specific first."""
    found: list[tuple[int, RecurrenceSpec]] = []
    for kind, pattern, days in _GRAMMAR:
        for match in scanner.find(pattern):
            spec = _spec(kind, match, days)
            if spec is not None:
                found.append((match.start(), spec))
                scanner.take(match)
    for pattern, freq in _WORD_PATTERNS:
        for match in scanner.find(pattern):
            found.append((match.start(), RecurrenceSpec(freq)))
            scanner.take(match)
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]


@dataclass(frozen=True)
class Rule:
    """A complete repeat rule: what the RRULE value says, plus where it starts."""

    freq: str
    interval: int = 1
    weekdays: tuple[str, ...] = ()
    monthday: int | None = None
    month: int | None = None
    hour: int | None = None
    minute: int | None = None
    until: dt.datetime | None = None  # aware: the end of the last day

    def value(self) -> str:
        """The RFC 5545 RRULE value, without the "RRULE:" prefix."""
        parts = [f"FREQ={self.freq}"]
        if self.interval > 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}")
        if self.month:
            parts.append(f"BYMONTH={self.month}")
        if self.monthday:
            parts.append(f"BYMONTHDAY={self.monthday}")
        if self.weekdays:
            parts.append(f"BYDAY={','.join(self.weekdays)}")
        if self.hour is not None and self.freq not in ("HOURLY", "MINUTELY"):
            parts.append(f"BYHOUR={self.hour}")
        if self.minute is not None and self.freq != "MINUTELY":
            parts.append(f"BYMINUTE={self.minute}")
        return ";".join(parts)


def _weekday(code: str) -> rrule.weekday:
    day = getattr(rrule, code[-2:])
    return day(int(code[:-2])) if code[:-2] else day


def _build(rule: Rule, start: dt.datetime, interval: int, zone: dt.tzinfo) -> rrule.rrule:
    until = wall_clock(rule.until, zone) if rule.until else None
    return rrule.rrule(
        _FREQUENCIES[rule.freq],
        dtstart=start,
        interval=interval,
        until=until,
        bymonth=rule.month,
        bymonthday=rule.monthday,
        byweekday=[_weekday(code) for code in rule.weekdays] or None,
        byhour=rule.hour if rule.freq not in ("HOURLY", "MINUTELY") else None,
        byminute=rule.minute if rule.freq != "MINUTELY" else None,
        bysecond=0,
    )


def occurrences(
    rule: Rule, now: dt.datetime, zone: dt.tzinfo, start: dt.date | None = None, count: int = 3
) -> list[dt.datetime]:
    """The first ``count`` occurrences of ``rule`` at or after ``now`` (and ``start``)."""
    local_now = wall_clock(now, zone)
    if rule.freq == "MINUTELY":
        anchor = local_now.replace(second=0, microsecond=0) + dt.timedelta(minutes=rule.interval)
    elif rule.freq == "HOURLY":
        # "every hour" means from the next full hour, not the one just begun
        anchor = local_now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    else:
        anchor = dt.datetime.combine(local_now.date(), dt.time())
    if start is not None and start > anchor.date():
        anchor = dt.datetime.combine(start, dt.time())
    first = _after(_build(rule, anchor, 1, zone), now, zone, 1)
    if not first or rule.interval == 1:
        return first if count == 1 else _after(_build(rule, anchor, 1, zone), now, zone, count)
    return _after(_build(rule, wall_clock(first[0], zone), rule.interval, zone), now, zone, count)


def _after(
    recurrence: rrule.rrule, now: dt.datetime, zone: dt.tzinfo, count: int
) -> list[dt.datetime]:
    found: list[dt.datetime] = []
    for wall in itertools.islice(recurrence, _SEARCH_LIMIT):
        moment = localize(wall, zone)
        if moment >= now and (not found or moment > found[-1]):
            found.append(moment)
            if len(found) == count:
                break
    return found
