"""The grammar pieces of the parser, one at a time: folding, zones, clocks, days, repeats."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from lifeorg.pipeline.clock import take_clocks, take_periods, time_of_day
from lifeorg.pipeline.dates import DaySpec, place_day, take_days
from lifeorg.pipeline.durations import add_duration, take_durations
from lifeorg.pipeline.intent import Intent, classify_by_content
from lifeorg.pipeline.lexicon import fold
from lifeorg.pipeline.recurrence import Rule, occurrences, take_recurrences
from lifeorg.pipeline.scanner import Scanner
from lifeorg.pipeline.text import content_text
from lifeorg.pipeline.zones import localize, resolve_zone

BERLIN = ZoneInfo("Europe/Berlin")
WEDNESDAY = dt.date(2025, 3, 12)


def test_fold_keeps_offsets_and_drops_accents() -> None:
    for text in ("Übermorgen März", "İstanbul", "recuérdame mañana", "straße"):
        assert len(fold(text)) == len(text)
    assert fold("Übermorgen März") == "ubermorgen marz"


def test_localize_moves_a_gap_time_forward_and_takes_the_first_repeat() -> None:
    assert (
        localize(dt.datetime(2025, 3, 30, 2, 30), BERLIN).isoformat() == "2025-03-30T03:30:00+02:00"
    )
    assert (
        localize(dt.datetime(2025, 10, 26, 2, 30), BERLIN).isoformat()
        == "2025-10-26T02:30:00+02:00"
    )


def test_unknown_zone_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        resolve_zone("Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "hour", "minute", "ambiguous", "invalid"),
    [
        ("at 5pm", 17, 0, False, False),
        ("17:30", 17, 30, False, False),
        ("9.30", 9, 30, False, False),
        ("14h", 14, 0, False, False),
        ("14h30", 14, 30, False, False),
        ("um 17 Uhr", 17, 0, False, False),
        ("at 5", 5, 0, True, False),
        ("halb neun", 8, 30, True, False),
        ("quarter to 5", 4, 45, True, False),
        ("a las 9 y media", 9, 30, True, False),
        ("at noon", 12, 0, False, False),
        ("at 12am", 0, 0, False, False),
        ("at 25:00", 0, 0, False, True),
        ("at 13pm", 0, 0, False, True),
        ("99:99", 0, 0, False, True),
    ],
)
def test_clock_times(text: str, hour: int, minute: int, ambiguous: bool, invalid: bool) -> None:
    (clock,) = take_clocks(Scanner(text))
    assert clock.invalid == invalid
    if not invalid:
        assert (clock.hour, clock.minute, clock.ambiguous) == (hour, minute, ambiguous)


def test_a_part_of_the_day_settles_am_or_pm() -> None:
    scanner = Scanner("at 8 tonight")
    (period,) = take_periods(scanner)
    (clock,) = take_clocks(scanner)
    assert time_of_day(clock, period) == (dt.time(20, 0), False)
    assert time_of_day(None, period) == (dt.time(20, 0), False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("friday", dt.date(2025, 3, 14)),
        ("wednesday", dt.date(2025, 3, 19)),
        ("this wednesday", WEDNESDAY),
        ("next monday", dt.date(2025, 3, 17)),
        ("this weekend", dt.date(2025, 3, 15)),
        ("december 3", dt.date(2025, 12, 3)),
        ("3rd of march", dt.date(2026, 3, 3)),
        ("24/12", dt.date(2025, 12, 24)),
        ("12/24", dt.date(2025, 12, 24)),
        ("15.12.2026", dt.date(2026, 12, 15)),
        ("2026-12-31", dt.date(2026, 12, 31)),
        ("the 31st", dt.date(2025, 3, 31)),
        ("übermorgen", dt.date(2025, 3, 14)),
        ("le 1er avril", dt.date(2025, 4, 1)),
        ("el 3 de diciembre de 2026", dt.date(2026, 12, 3)),
        ("february 29", dt.date(2028, 2, 29)),
    ],
)
def test_days(text: str, expected: dt.date) -> None:
    (spec,) = take_days(Scanner(text))
    assert place_day(spec, WEDNESDAY) == expected


@pytest.mark.parametrize("text", ["february 30", "31/02", "april 31", "32/01"])
def test_impossible_days_are_invalid(text: str) -> None:
    (spec,) = take_days(Scanner(text))
    assert spec.invalid and place_day(spec, WEDNESDAY) is None


def test_a_deadline_is_marked() -> None:
    (spec,) = take_days(Scanner("by friday"))
    assert spec == DaySpec("weekday", weekday=4, role="deadline")


def test_durations_add_exact_minutes_and_calendar_days() -> None:
    now = dt.datetime(2025, 3, 29, 10, 0, tzinfo=BERLIN)
    (hours,) = take_durations(Scanner("in 1 hour and 30 minutes"))
    assert add_duration(now, hours, BERLIN) == dt.datetime(2025, 3, 29, 11, 30, tzinfo=BERLIN)
    (days,) = take_durations(Scanner("in 2 days"))
    # across the clock change: same wall time, 47 real hours later
    assert add_duration(now, days, BERLIN).isoformat() == "2025-03-31T10:00:00+02:00"
    (french,) = take_durations(Scanner("dans une demi-heure"))
    assert french.minutes == 30


@pytest.mark.parametrize(
    ("text", "freq", "interval", "weekdays"),
    [
        ("every weekday", "WEEKLY", 1, ("MO", "TU", "WE", "TH", "FR")),
        ("every monday and thursday", "WEEKLY", 1, ("MO", "TH")),
        ("tous les lundis", "WEEKLY", 1, ("MO",)),
        ("every other day", "DAILY", 2, ()),
        ("alle 2 Wochen", "WEEKLY", 2, ()),
        ("cada lunes y jueves", "WEEKLY", 1, ("MO", "TH")),
        ("the last friday of every month", "MONTHLY", 1, ("-1FR",)),
    ],
)
def test_repeats(text: str, freq: str, interval: int, weekdays: tuple[str, ...]) -> None:
    (spec,) = take_recurrences(Scanner(text))
    assert (spec.freq, spec.interval, spec.weekdays) == (freq, interval, weekdays)


def test_daily_occurrences_keep_local_time_across_dst() -> None:
    now = dt.datetime(2025, 3, 29, 10, 0, tzinfo=BERLIN)
    rule = Rule("DAILY", hour=9, minute=0)
    assert [m.isoformat() for m in occurrences(rule, now, BERLIN)] == [
        "2025-03-30T09:00:00+02:00",
        "2025-03-31T09:00:00+02:00",
        "2025-04-01T09:00:00+02:00",
    ]
    assert rule.value() == "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"


def test_content_text_drops_connectors_next_to_removed_words() -> None:
    text = "remind me tomorrow at 9 to call mum"
    scanner = Scanner(text)
    take_days(scanner)
    take_clocks(scanner)
    scanner.take_span(0, len("remind me"))
    assert content_text(text, scanner.taken) == "call mum"


@pytest.mark.parametrize(
    ("words", "timed", "day_and_clock", "intent"),
    [
        (["call", "mum"], True, False, Intent.REMINDER),
        (["dentist"], True, True, Intent.EVENT),
        (["team", "sync"], True, True, Intent.EVENT),
        (["buy", "milk"], False, False, Intent.TASK),
        (["milch", "kaufen"], False, False, Intent.TASK),
        (["anna", "likes", "tulips"], False, False, Intent.NOTE),
        ([], True, True, Intent.REMINDER),
    ],
)
def test_content_rules(words: list[str], timed: bool, day_and_clock: bool, intent: Intent) -> None:
    assert classify_by_content(words, timed=timed, day_and_clock=day_and_clock) == intent
