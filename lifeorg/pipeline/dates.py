"""Calendar days: "tomorrow", "friday", "next monday", "december 3", "24/12", "15.12.2026".

Rules for days the user did not pin down completely:

- a bare weekday, "on friday" or "next friday" is the next such day strictly after today;
- "this friday" is today when today is Friday (if the time asked for is still ahead),
  otherwise the coming Friday;
- "this weekend" is the coming Saturday (today, on a Saturday or Sunday);
- a date without a year is this year's, or next year's once this year's has passed;
- numeric dates are day first (24/12, 15.12.); "12/24" is read month first only because
  no 24th month exists;
- "the 20th" is the next 20th of a month (today counts).

A date that cannot exist (february 30, 31/02) is marked invalid, never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from lifeorg.pipeline.lexicon import MONTHS, WEEKDAY_ABBREVIATIONS, WEEKDAYS, alternation
from lifeorg.pipeline.scanner import Scanner

# A year-less date may be up to this many years away (february 29 waits for a leap year).
_YEAR_SEARCH = 8
_MONTHS_IN_YEAR = 12

_MONTH = alternation(MONTHS)
_WEEKDAY = alternation(WEEKDAYS)
_WEEKDAY_SHORT = alternation(WEEKDAY_ABBREVIATIONS)
_DEADLINE = (
    r"by|due(?:\s+by|\s+on)?|before|no\s+later\s+than|bis(?:\s+zum|\s+spatestens)?"
    r"|avant(?:\s+le)?|d'ici(?:\s+le)?|antes\s+del?|para\s+el"
)
_START = (
    r"starting(?:\s+on|\s+from)?|beginning|from|ab(?:\s+dem|\s+)?|a\s+partir\s+du"
    r"|a\s+partir\s+de(?:l)?|desde\s+el|empezando\s+el"
)
_UNTIL = r"until|till|through|bis\s+zum|bis|jusqu'?au|jusqu'?a|jusqu'?en|hasta\s+el|hasta"
_ON = r"on|am|le|el|the|du|del"
_PREFIX = rf"(?:(?P<pre>{_DEADLINE}|{_START}|{_UNTIL}|{_ON})\s+)?"


@dataclass(frozen=True)
class DaySpec:
    """A calendar day as the user said it, not yet placed relative to today."""

    kind: str  # offset | weekday | date | monthday | weekend | month_end
    offset: int = 0
    weekday: int = 0
    this: bool = False
    year: int | None = None
    month: int | None = None
    day: int | None = None
    role: str = "on"  # on | deadline | start | until
    invalid: bool = False


def _role(prefix: str | None) -> str:
    """What a leading word makes of a day: a deadline, a start, an end, or just the day."""
    if not prefix:
        return "on"
    if re.fullmatch(_DEADLINE, prefix):
        return "deadline"
    if re.fullmatch(_UNTIL, prefix):
        return "until"
    if re.fullmatch(_START, prefix):
        return "start"
    return "on"


def _year(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text)
    return value + 2000 if value < 100 else value


def _date_spec(day: str, month: int | str, year: str | None, prefix: str | None) -> DaySpec:
    month_number = int(month)
    day_number = int(day)
    spec = DaySpec("date", year=_year(year), month=month_number, day=day_number, role=_role(prefix))
    if not exists(spec):
        # "12/24": no 24th month, so the writer meant month first.
        if isinstance(month, str) and 1 <= day_number <= 12 and 13 <= month_number <= 31:
            swapped = DaySpec(
                "date", year=spec.year, month=day_number, day=month_number, role=spec.role
            )
            if exists(swapped):
                return swapped
        return DaySpec("date", role=spec.role, invalid=True)
    return spec


def exists(spec: DaySpec) -> bool:
    """Whether a (month, day[, year]) can be a real date in some year."""
    if not (spec.month and 1 <= spec.month <= 12 and spec.day and 1 <= spec.day <= 31):
        return False
    years = [spec.year] if spec.year else [2024, 2025]  # a leap year and a common one
    for year in years:
        try:
            dt.date(year, spec.month, spec.day)
            return True
        except ValueError:
            continue
    return False


_NUMERIC = (
    # 2026-12-31
    re.compile(rf"\b{_PREFIX}(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}})\b"),
    # 15.12.2026, 15.12.26, 15.12.
    re.compile(
        rf"\b{_PREFIX}(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.(?:(?P<y>\d{{4}}|\d{{2}})\b)?(?!\d)"
    ),
    # "am 15.12" (a leading "on" tells it from the time 15.12)
    re.compile(r"\b(?P<pre>on|am|le|el|du|del|bis)\s+(?P<d>\d{1,2})\.(?P<m>\d{1,2})\b(?![.:]\d)"),
    # 24/12, 24/12/2026
    re.compile(rf"\b{_PREFIX}(?P<d>\d{{1,2}})/(?P<m>\d{{1,2}})(?:/(?P<y>\d{{4}}|\d{{2}}))?\b(?!/)"),
)
_NAMED = (
    # 3 Dec, 3rd of december, 3. Dezember, 1er avril, 3 de diciembre de 2026
    re.compile(
        rf"\b{_PREFIX}(?:the\s+)?(?:dia\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th|er|e|º)?\.?\s*"
        rf"(?:of\s+|de\s+)?(?P<mon>{_MONTH})\b\.?(?:,?\s*(?:de\s+|del\s+)?(?P<y>\d{{4}})\b)?"
    ),
    # december 3, Dec 3rd, 2026
    re.compile(
        rf"\b{_PREFIX}(?P<mon>{_MONTH})\.?\s+(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"
        rf"(?![:.]\d|\s*(?:h\b|uhr|am\b|pm\b|min|hour))(?:,?\s*(?P<y>\d{{4}})\b)?"
    ),
)
# "the 20th", "am 15.", "le 15", "el día 15": a day of whatever month comes next.
_MONTHDAY = (
    re.compile(rf"\b{_PREFIX}the\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)\b"),
    re.compile(r"\b(?P<pre>am|bis\s+zum|zum)\s+(?P<d>\d{1,2})\.(?!\d)"),
    re.compile(
        r"\b(?P<pre>le|avant\s+le|d'ici\s+le)\s+(?P<d>\d{1,2})(?:er)?\b(?!\s*(?:h\b|heures?|[:./]\d))"
    ),
    re.compile(
        r"\b(?P<pre>el|antes\s+del|para\s+el)\s+(?:dia\s+)?(?P<d>\d{1,2})\b(?!\s*(?:h\b|horas?|[:./]\d))"
    ),
    re.compile(r"\b(?P<pre>on|by)\s+the\s+(?P<d>\d{1,2})\b"),
)
# "until december": the last day of that month.
_MONTH_END = re.compile(
    rf"\b(?P<pre>{_UNTIL})\s+(?:the\s+end\s+of\s+|end\s+of\s+|ende\s+|fin\s+|finales\s+de\s+)?"
    rf"(?P<mon>{_MONTH})\b(?:\s+(?P<y>\d{{4}}))?"
)
_DAY_WORDS = (
    (
        re.compile(
            r"\b(?:the\s+)?day\s+after\s+tomorrow\b|\bubermorgen\b|\bapres[-\s]demain\b|\bpasado\s+manana\b"
        ),
        2,
    ),
    (
        re.compile(
            rf"\b(?:(?P<pre>{_DEADLINE})\s+)?(?:tomorrow|tomorow|tmrw|tmw|tmr|morgen|demain|manana)\b"
        ),
        1,
    ),
    (re.compile(rf"\b(?:(?P<pre>{_DEADLINE})\s+)?(?:today|heute|aujourd'hui|hoy)\b"), 0),
)
_WEEKEND = re.compile(
    r"\b(?:this\s+|the\s+|next\s+)?weekend\b|\b(?:am|dieses|diesem|nachstes|nachsten)\s+wochenende\b"
    r"|\b(?:ce|le)\s+week-?end\b|\b(?:este|el)\s+fin\s+de\s+semana\b"
)
# "next week" is its Monday: the first day the user can mean.
_NEXT_WEEK = re.compile(
    r"\b(?:next\s+week|nachste\s+woche|(?:la\s+)?semaine\s+prochaine"
    r"|(?:la\s+)?(?:proxima\s+semana|semana\s+que\s+viene))\b"
)
_THIS = r"this|coming|diesen|dieser|ce|este|esta"
_NEXT = r"next|nachsten|nachster|nachste|kommenden|proximo|proxima|el\s+proximo"
_WEEKDAY_EXPR = (
    re.compile(
        rf"\b(?:(?P<pre>{_DEADLINE}|{_START}|{_UNTIL}|{_THIS}|{_NEXT}|on|am|le|el)\s+)?"
        rf"(?P<day>{_WEEKDAY})\b(?P<post>\s+(?:prochain|que\s+viene|next\s+week))?"
    ),
    re.compile(rf"\b(?P<pre>{_DEADLINE}|{_THIS}|{_NEXT}|on)\s+(?P<day>{_WEEKDAY_SHORT})\b\.?"),
)


def take_days(scanner: Scanner) -> list[DaySpec]:
    """Take every day expression out of ``scanner``, most specific forms first."""
    found: list[tuple[int, DaySpec]] = []
    for pattern in (*_NUMERIC, *_NAMED):
        for match in scanner.find(pattern):
            groups = match.groupdict()
            dotted = pattern in _NUMERIC[1:3]
            if dotted and not groups.get("y") and int(groups["m"]) > _MONTHS_IN_YEAR:
                continue  # "9.30." ends a sentence with a time, not the 9th of month 30
            month = MONTHS[groups["mon"]] if groups.get("mon") else groups["m"]
            found.append(
                (match.start(), _date_spec(groups["d"], month, groups.get("y"), groups.get("pre")))
            )
            scanner.take(match)
    for match in scanner.find(_MONTH_END):
        spec = DaySpec(
            "month_end", month=MONTHS[match["mon"]], year=_year(match["y"]), role="until"
        )
        found.append((match.start(), spec))
        scanner.take(match)
    for pattern in _MONTHDAY:
        for match in scanner.find(pattern):
            day = int(match["d"])
            spec = DaySpec(
                "monthday", day=day, role=_role(match["pre"]), invalid=not 1 <= day <= 31
            )
            found.append((match.start(), spec))
            scanner.take(match)
    for pattern, offset in _DAY_WORDS:
        for match in scanner.find(pattern):
            found.append(
                (
                    match.start(),
                    DaySpec("offset", offset=offset, role=_role(match.groupdict().get("pre"))),
                )
            )
            scanner.take(match)
    for match in scanner.find(_NEXT_WEEK):
        found.append((match.start(), DaySpec("weekday", weekday=0)))
        scanner.take(match)
    for match in scanner.find(_WEEKEND):
        found.append((match.start(), DaySpec("weekend")))
        scanner.take(match)
    for pattern in _WEEKDAY_EXPR:
        for match in scanner.find(pattern):
            name = match["day"]
            weekday = WEEKDAYS.get(name, WEEKDAY_ABBREVIATIONS.get(name, 0))
            prefix = match["pre"] or ""
            this = bool(re.fullmatch(_THIS, prefix))
            found.append(
                (match.start(), DaySpec("weekday", weekday=weekday, this=this, role=_role(prefix)))
            )
            scanner.take(match)
    return [spec for _, spec in sorted(found, key=lambda item: item[0])]


def place_day(spec: DaySpec, today: dt.date) -> dt.date | None:
    """The date ``spec`` names, seen from ``today``; None if it cannot exist."""
    if spec.invalid:
        return None
    if spec.kind == "offset":
        return today + dt.timedelta(days=spec.offset)
    if spec.kind == "weekday":
        ahead = (spec.weekday - today.weekday()) % 7
        return today + dt.timedelta(days=ahead if ahead or spec.this else 7)
    if spec.kind == "weekend":
        return today + dt.timedelta(days=(5 - today.weekday()) % 7 if today.weekday() < 5 else 0)
    if spec.kind == "monthday":
        return _next_monthday(spec.day or 0, today)
    if spec.kind == "month_end":
        return _month_end(spec, today)
    return _next_date(spec, today)


def _next_date(spec: DaySpec, today: dt.date) -> dt.date | None:
    if spec.year:
        try:
            return dt.date(spec.year, spec.month or 0, spec.day or 0)
        except ValueError:
            return None
    for year in range(today.year, today.year + _YEAR_SEARCH):
        try:
            candidate = dt.date(year, spec.month or 0, spec.day or 0)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _next_monthday(day: int, today: dt.date) -> dt.date | None:
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _month_end(spec: DaySpec, today: dt.date) -> dt.date:
    month = spec.month or 12
    year = spec.year or (today.year if month >= today.month else today.year + 1)
    first_of_next = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return first_of_next - dt.timedelta(days=1)
