"""Bad and unexpected input through the real conversation: each gets a clear outcome, nothing
the user sent is lost, nothing leaks to another user.

The other parts of the suite: forged and foreign buttons (test_conversation), webhook calls
without or with a wrong secret and oversized bodies (test_webhook), strangers
(test_bot, test_webhook), corrupt and bomb images (test_photos, test_images), broken mail
(test_extract_email), FTS operators (test_search), secrets in logs (test_logging).
"""

from __future__ import annotations

import pytest

from lifeorg.models import Job, Memory, SearchDoc
from lifeorg.models.states import JobStatus
from lifeorg.pipeline.ingest import MAX_CONTENT
from tests.test_conversation import ME, OTHER


def no_failed_jobs() -> bool:
    return not Job.select().where(Job.status == JobStatus.FAILED).exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},  # an update with nothing in it
        {"message": {"message_id": 1, "chat": {"id": ME}}},  # no sender
        {"message": "not an object"},
        {"channel_post": {"message_id": 1, "chat": {"id": -100}, "text": "hi"}},
        {"poll_answer": {"poll_id": "1", "user": {"id": ME}, "option_ids": [0]}},
        {"message": {"message_id": 1, "from": {"id": 999, "is_bot": True}, "text": "spam"}},
        {"callback_query": {"id": "x", "from": {"id": ME, "is_bot": False}, "data": None}},
    ],
    ids=["empty", "no-sender", "not-an-object", "channel-post", "poll-answer", "bot", "no-data"],
)
def test_malformed_and_unexpected_updates_are_settled_without_harm(chat, payload):
    """The ingest step completes (no retry storm, no failure), and stores nothing odd."""
    chat.update(payload)
    assert no_failed_jobs()
    assert Memory.select().count() == 0


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"voice": {"file_id": "v1", "duration": 42}}, "a voice message"),
        ({"sticker": {"file_id": "s1", "emoji": "🙂"}}, "a sticker"),
        ({"document": {"file_id": "d1", "mime_type": "application/pdf"}}, "a file"),
        ({"video_note": {"file_id": "n1", "length": 240}}, "a video message"),
    ],
)
def test_a_message_that_cannot_be_read_is_noted_and_the_user_told(chat, extra, said):
    """Voice, stickers, files: a memory says what was sent; the reply says what to do."""
    chat.send("", **extra)
    [memory] = Memory.select()
    assert memory.content == said
    assert said in chat.last()["text"] and "as text" in chat.last()["text"]


def test_a_shared_place_or_contact_is_kept_as_searchable_text(chat):
    """A location, a venue and a contact become notes with their words."""
    chat.send("", location={"latitude": 52.520008, "longitude": 13.404954})
    chat.send("", venue={"title": "Café Einstein", "address": "Kurfürstenstraße 58"})
    chat.send("", contact={"first_name": "Dr", "last_name": "Weber", "phone_number": "+4930123"})
    contents = sorted(m.content for m in Memory.select())
    assert contents == [
        "Café Einstein Kurfürstenstraße 58",
        "👤 Dr Weber +4930123",
        "📍 52.52001, 13.40495",
    ]
    chat.send("/search weber")
    assert "+4930123" in chat.last()["text"]


def test_an_oversized_text_is_kept_up_to_the_cap_and_the_user_told(chat):
    """A paste longer than the cap: the first MAX_CONTENT characters are kept, and the
    reply says how much was kept, so the user can send the rest."""
    text = ("the quick brown fox jumps over the lazy dog " * 2000)[: MAX_CONTENT + 5000]
    chat.send(text)
    [memory] = Memory.select()
    assert memory.content == text[:MAX_CONTENT]
    told = [m["text"] for m in chat.messenger.to(ME) if "characters" in m["text"]]
    assert told and f"{MAX_CONTENT:,}" in told[0] and f"{len(text):,}" in told[0]
    assert no_failed_jobs()


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "NEAR(wifi password, 2)",
        "wifi* OR -password",
        "^wifi AND (",
        "col:wifi",
        "%_\\",
    ],
)
def test_search_syntax_in_a_question_is_just_words(chat, query):
    """FTS operators typed by a user are searched as words: no error, no other user's data."""
    chat.send("the wifi password is hunter2")
    chat.send("the wifi password is correcthorse", user=OTHER)
    chat.send(f"/search {query}")
    reply = chat.last()["text"]
    assert "correcthorse" not in reply
    assert no_failed_jobs()
    assert SearchDoc.select().count() >= 2  # the index survived the query


def test_a_button_of_another_user_does_nothing_to_the_owners_data(chat):
    """OTHER replays ME's button data: refused, and ME's note is untouched."""
    chat.send("the wifi password is hunter2")
    mine = chat.last()
    data = next(b[1] for row in mine["buttons"] for b in row if b[0] == "Delete")
    chat.update(
        {
            "callback_query": {
                "id": "foreign",
                "data": data,
                "from": {"id": OTHER, "is_bot": False},
                "message": {"message_id": mine["id"], "chat": {"id": OTHER}},
            }
        }
    )
    assert Memory.select().where(Memory.content.contains("hunter2")).count() == 1
    assert "not yours" in chat.messenger.answers[-1][1]
