"""The parser against tables of messages and what they must mean (tests/parse_cases/*.psv).

Each row: text | intent | text | when | all_day | recurrence [| now | tz]. ``when`` is the
local wall time ("2025-03-13 09:00"), optionally with the offset it must carry
("2025-03-30 03:30+02:00"), or "-" for none. Rows without now/tz use the file's defaults:
Wednesday 2025-03-12 10:00 in Europe/Berlin, default time 09:00.

The held-back tables (``holdout/``) were written with the others but never tuned against;
they are checked only as an accuracy floor per language, as an estimate of how the parser
does on messages nobody has looked at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lifeorg.pipeline.parse import parse_message

CASES = Path(__file__).parent / "parse_cases"
LANGUAGES = ("en", "de", "fr", "es")
DEFAULT_NOW = "2025-03-12T10:00"
DEFAULT_TZ = "Europe/Berlin"
DEFAULT_TIME = dt.time(9, 0)
# The targets the product sets for messages nobody tuned on.
ACCURACY_FLOOR = {"en": 0.95, "de": 0.80, "fr": 0.80, "es": 0.80}


@dataclass(frozen=True)
class Case:
    """One row of a table."""

    source: str
    text: str
    intent: str
    content: str
    when: str
    all_day: bool
    recurrence: str | None
    now: dt.datetime
    tz: str

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def load_cases(path: Path) -> list[Case]:
    """The rows of one table."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [cell.strip() for cell in line.split(" | ")]
        cells += [""] * (8 - len(cells))
        text, intent, content, when, all_day, recurrence, now, tz = cells[:8]
        zone = tz or DEFAULT_TZ
        moment = dt.datetime.fromisoformat(now or DEFAULT_NOW).replace(tzinfo=ZoneInfo(zone))
        cases.append(
            Case(
                f"{path.parent.name}/{path.name}:{number}",
                text,
                intent,
                content,
                when,
                all_day == "y",
                None if recurrence in ("-", "") else recurrence,
                moment,
                zone,
            )
        )
    return cases


def mismatches(case: Case) -> list[str]:
    """How the parser's reading of ``case.text`` differs from the table (empty: none)."""
    parsed = parse_message(case.text, case.now, case.tz, DEFAULT_TIME)
    problems = []
    if parsed.intent != case.intent:
        problems.append(f"intent {parsed.intent} != {case.intent}")
    if parsed.text != case.content:
        problems.append(f"text {parsed.text!r} != {case.content!r}")
    if case.when == "-":
        if parsed.when is not None:
            problems.append(f"when {parsed.when.isoformat()} != None")
    elif parsed.when is None:
        problems.append(f"when None != {case.when}")
    else:
        local = parsed.when.strftime("%Y-%m-%d %H:%M")
        offset = parsed.when.isoformat()[19:]
        expected_local, _, expected_offset = case.when.partition("+")
        if "-" in case.when[11:]:
            expected_local, expected_offset = case.when[:16], case.when[16:]
        else:
            expected_offset = f"+{expected_offset}" if expected_offset else ""
        if local != expected_local.strip() or (expected_offset and offset != expected_offset):
            problems.append(f"when {local}{offset} != {case.when}")
        if getattr(parsed.when.tzinfo, "key", None) != case.tz:
            problems.append(f"zone {parsed.when.tzinfo} != {case.tz}")
    if parsed.all_day != case.all_day:
        problems.append(f"all_day {parsed.all_day} != {case.all_day}")
    if parsed.recurrence != case.recurrence:
        problems.append(f"recurrence {parsed.recurrence} != {case.recurrence}")
    return problems


def table(language: str, *, holdout: bool = False) -> list[Case]:
    """The cases of one language's table."""
    return load_cases(CASES / ("holdout" if holdout else "") / f"{language}.psv")


TUNED = [case for language in LANGUAGES for case in table(language)]


@pytest.mark.parametrize("case", TUNED, ids=str)
def test_case(case: Case) -> None:
    assert mismatches(case) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_tables_have_enough_cases(language: str) -> None:
    minimum = 250 if language == "en" else 60
    assert len(table(language)) >= minimum


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_back_accuracy(language: str) -> None:
    cases = table(language, holdout=True)
    failed = {str(case): mismatches(case) for case in cases}
    failed = {name: problems for name, problems in failed.items() if problems}
    accuracy = 1 - len(failed) / len(cases)
    assert accuracy >= ACCURACY_FLOOR[language], failed
