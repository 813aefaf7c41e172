"""Matching a report of something done to the open task it completes (pure, no database)."""

from __future__ import annotations

import pytest

from lifeorg.pipeline.match import match_candidates, normalise, stem

TASKS = [
    (1, "buy milk"),
    (2, "call mum"),
    (3, "pay the electricity bill"),
    (4, "book dentist appointment"),
    (5, "send the tax forms"),
    (6, "water the plants"),
    (7, "buy oat milk and bread"),
]


@pytest.mark.parametrize(
    ("message", "best"),
    [
        ("I bought the milk", 1),
        ("called mum", 2),
        ("I've paid the electricity bill", 3),
        ("done: dentist booked", 4),
        ("sent off the tax forms", 5),
        ("watered the plants", 6),
        ("Bought oat milk and bread!", 7),
    ],
)
def test_a_report_finds_its_task_first(message, best):
    """Past tense against imperative: the right task is the first candidate."""
    candidates = match_candidates(message, TASKS)
    assert candidates and candidates[0].task_id == best


@pytest.mark.parametrize("message", ["I called the bank", "I went running", "paid rent", "", "!!"])
def test_unrelated_reports_propose_nothing(message):
    """Sharing a verb is not enough: no task is proposed for an unrelated report."""
    assert match_candidates(message, TASKS) == []


def test_candidates_are_capped_and_ordered():
    """At most three candidates, best score first, each with its description."""
    tasks = [(i, f"buy milk {suffix}") for i, suffix in enumerate("abcdef", start=10)]
    candidates = match_candidates("bought milk", tasks)
    assert len(candidates) == 3
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    assert all(c.description.startswith("buy milk") for c in candidates)


def test_stems_undo_past_tenses():
    """Irregular and regular past forms reduce to the imperative's stem."""
    assert [stem(w) for w in ("bought", "paid", "called", "tried", "stopped", "booking")] == [
        "buy",
        "pay",
        "call",
        "try",
        "stop",
        "book",
    ]
    assert normalise("I've just PAID the bill!") == "pay bill"
