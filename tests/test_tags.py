"""The tag vocabulary: suggestions folded onto the user's own tags, new ones capped."""

from __future__ import annotations

import pytest

from lifeorg.pipeline.tags import MAX_NEW_TAGS, from_caption, normalise, singular, tidy


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("Receipts ", "receipts"),
        ("grocery-store", "grocery store"),
        ("#Wifi", "wifi"),
        ("  Café  Ölbaum ", "café ölbaum"),
        ("!!!", ""),
        ("x" * 100, "x" * 32),
    ],
)
def test_normalise_folds_case_spacing_and_punctuation(raw, tag):
    """Stored tags are lower case, single-spaced, without punctuation, bounded."""
    assert normalise(raw) == tag


def test_plurals_reduce_to_singulars():
    """The English plural rules that are safe to undo."""
    assert [singular(w) for w in ("receipts", "groceries", "boxes", "glass", "bus")] == [
        "receipt",
        "grocery",
        "box",
        "glass",
        "bus",
    ]


def test_suggestions_map_onto_existing_tags():
    """A plural, a case change or a near-spelling of an existing tag becomes that tag."""
    existing = ["receipt", "groceries", "travel"]
    assert tidy(["Receipts", "Grocery", "travell", "Travel"], existing) == [
        "receipt",
        "groceries",
        "travel",
    ]


def test_short_words_need_an_exact_match():
    """'cat' is not 'car': fuzzy matching applies only to longer tags."""
    assert tidy(["cat"], ["car"]) == ["cat"]


def test_at_most_five_new_tags_but_every_known_one():
    """New tags are capped; tags the user already has are never dropped by the cap."""
    suggested = [f"new{i}" for i in range(8)] + ["receipt"]
    result = tidy(suggested, ["receipt"])
    assert result == [f"new{i}" for i in range(MAX_NEW_TAGS)] + ["receipt"]


def test_duplicates_within_one_suggestion_collapse():
    """'Dog', 'dogs' and 'DOG' are one new tag."""
    assert tidy(["Dog", "dogs", "DOG"], []) == ["dog"]


def test_captions_seed_tags_offline():
    """Hashtags win; otherwise the caption's longer words, without function words."""
    assert from_caption("lunch #receipt #Tax2026") == ["receipt", "Tax2026"]
    assert from_caption("receipt from the hardware store 2026") == [
        "receipt",
        "hardware",
        "store",
    ]
