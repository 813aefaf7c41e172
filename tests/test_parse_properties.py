"""Properties of the parser that hold for any text, any moment and any zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifeorg.pipeline.parse import ParsedMessage, parse_message

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Pacific/Auckland",
)
# Fragments the grammars react to, so generated text often contains (broken) expressions.
FRAGMENTS = (
    "remind me", "every", "day", "monday", "and", "at", "5", "pm", "25:00", "13pm", "in",
    "20", "minutes", "tomorrow", "on", "february", "30", "31/02", "15.12.", "2026-12-31",
    "halb", "neun", "um", "Uhr", "tous les", "lundis", "à", "9h", "cada", "lunes", "?",
    "every other", "week", "until", "december", "starting", "march", "the 31st", "hourly",
    "noon", "midnight", "tonight", "by", "friday", "😀", "\u202e", "\x00", "done:", "todo",
)  # fmt: skip

moments = st.datetimes(
    min_value=dt.datetime(1990, 1, 1),
    max_value=dt.datetime(2090, 12, 31),
    timezones=st.just(dt.UTC),
)
phrases = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12).map(
    " ".join
)
any_text = st.one_of(st.text(max_size=200), phrases)


def _check(parsed: ParsedMessage, zone: str) -> None:
    assert parsed.intent in {"note", "task", "reminder", "event", "complete_task", "search"}
    if parsed.when is not None:
        assert parsed.when.tzinfo is not None
        assert parsed.when.tzinfo.key == zone
        assert parsed.next[0] == parsed.when
    else:
        assert parsed.next == []
        assert parsed.recurrence is None
    assert parsed.next == sorted(parsed.next)
    assert all(moment.tzinfo.key == zone for moment in parsed.next)
    if parsed.recurrence is not None:
        # Expanded on local wall time, the stored rule gives back the occurrences we showed.
        rule = rrulestr(parsed.recurrence, dtstart=parsed.when)
        assert rule[0] is not None
    parsed.to_json()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text, now=moments, zone=st.sampled_from(ZONES))
def test_never_raises_and_keeps_its_promises(text: str, now: dt.datetime, zone: str) -> None:
    _check(parse_message(text, now, zone, dt.time(9)), zone)


@settings(max_examples=50, deadline=None)
@given(filler=st.text(min_size=1, max_size=5), zone=st.sampled_from(ZONES))
def test_long_messages_are_handled(filler: str, zone: str) -> None:
    text = (filler * (10_000 // len(filler) + 1))[:10_000] + " remind me tomorrow at 9"
    _check(parse_message(text, dt.datetime(2025, 3, 12, 10, tzinfo=dt.UTC), zone, dt.time(9)), zone)


@settings(max_examples=200, deadline=None)
@given(now=moments, zone=st.sampled_from(ZONES), hour=st.integers(0, 23))
def test_daily_repeat_keeps_its_wall_time(now: dt.datetime, zone: str, hour: int) -> None:
    parsed = parse_message(f"every day at {hour}:30", now, zone, dt.time(9))
    _check(parsed, zone)
    for moment in parsed.next:
        shifted = moment.replace(fold=0).astimezone(dt.UTC).astimezone(ZoneInfo(zone))
        # Only a time that falls into a spring-forward gap may move, and only forward.
        assert (moment.hour, moment.minute) == (hour, 30) or moment.hour > hour
        assert shifted == moment


def test_until_rule_parses_with_an_aware_start() -> None:
    now = dt.datetime(2025, 3, 12, 10, tzinfo=dt.UTC)
    parsed = parse_message("every friday until december", now, "Europe/Berlin", dt.time(9))
    _check(parsed, "Europe/Berlin")
    assert "UNTIL=20251231T225959Z" in parsed.recurrence


def test_emoji_rtl_and_control_characters() -> None:
    now = dt.datetime(2025, 3, 12, 10, tzinfo=dt.UTC)
    for text in ("😀" * 50, "\u202eremind me at 9\u202c", "\x00\x01\x7f", "ذكرني غدا", "", "   "):
        _check(parse_message(text, now, "UTC", dt.time(9)), "UTC")
