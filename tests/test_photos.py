"""Photos end to end: stored safely, tagged offline or by a vision model, tags confirmed."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from lifeorg import runtime
from lifeorg.llm import CircuitBreaker, LLMClient
from lifeorg.models import Memory, MemoryImage, MemoryTag
from lifeorg.models.states import TagStatus
from lifeorg.pipeline.search import search
from tests.conftest import make_settings
from tests.fake_llm import FakeLLM
from tests.test_conversation import ME, Chat


def jpeg(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def photo(chat: Chat, file_id: str, data: bytes | None, caption: str | None = None, **extra):
    if data is not None:  # None: the test has put what download() does in place already
        chat.messenger.files[file_id] = data
    fields = {
        "photo": [
            {
                "file_id": file_id,
                "file_unique_id": file_id,
                "width": 64,
                "height": 48,
                "file_size": len(data or b""),
            }
        ],
        **extra,
    }
    if caption is not None:
        fields["caption"] = caption
    message = {
        "message_id": next(chat.message_ids),
        "date": 0,
        **fields,
        "from": {"id": ME, "is_bot": False},
        "chat": {"id": ME, "type": "private"},
    }
    chat.update({"message": message})


@pytest.fixture
def images_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime.current().settings, "image_dir", tmp_path / "images")
    return tmp_path / "images"


def test_a_photo_is_stored_and_its_caption_seeds_tags(chat, images_dir):
    """Offline: the image is stored per user, content-addressed; the caption's hashtags
    become suggested tags, shown with [Confirm tags] [Edit]."""
    photo(chat, "p1", jpeg(), caption="lunch receipt #receipts #food")

    memory = Memory.get()
    image = MemoryImage.get()
    assert image.memory_id == memory.id and f"/{memory.owner_id}/" in image.path
    assert {t.tag: t.status for t in MemoryTag.select()} == {
        "receipts": TagStatus.SUGGESTED,
        "food": TagStatus.SUGGESTED,
    }
    reply = next(m for m in chat.messenger.to(ME) if "Saved the photo" in m["text"])
    assert "#receipts?" in reply["text"]
    assert [b[0] for row in reply["buttons"] for b in row] == ["Confirm tags", "Edit"]

    chat.press("Confirm tags")
    assert {t.status for t in MemoryTag.select()} == {TagStatus.CONFIRMED}


def test_a_vision_model_describes_and_tags_it_searchably(
    chat,
    images_dir,
    tmp_path,
    monkeypatch,
):
    """With a model, the description and visible text are searchable; tags reuse the
    user's vocabulary; the model was shown the image itself."""
    fake = FakeLLM().start()
    try:
        settings = make_settings(
            tmp_path, llm_model="openai/vision", llm_api_base=fake.api_base, llm_api_key="k"
        )
        monkeypatch.setitem(
            runtime.current().__dict__, "llm", LLMClient(settings, CircuitBreaker(3, 60))
        )
        fake.reply(
            {
                "description": "A supermarket receipt.",
                "visible_text": "TOTAL 42.00 EUR",
                "tags": ["Receipts", "groceries"],
            }
        )
        photo(chat, "p2", jpeg((10, 200, 10)))
    finally:
        fake.stop()

    memory = Memory.get()
    assert "TOTAL 42.00 EUR" in memory.description
    assert sorted(t.tag for t in MemoryTag.select()) == ["groceries", "receipts"]
    assert [h.id for h in search(memory.owner_id, "total 42")] == [memory.id]
    content = fake.requests[0]["messages"][1]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert json.loads(content[0]["text"])["data"]["existing_tags"] == []


def test_a_corrupt_image_is_refused_clearly_and_the_message_kept(chat, images_dir):
    """Bytes that are not an image: a clear reply, no stored image, the memory stays."""
    photo(chat, "bad", b"\xff\xd8\xff\xe0 this is not really a jpeg", caption="my receipt")

    assert Memory.select().count() == 1 and MemoryImage.select().count() == 0
    assert any("couldn't read that image" in m["text"] for m in chat.messenger.to(ME))


def test_an_album_is_one_memory_with_several_images(chat, images_dir):
    """Two photos of one media group: one memory, both images, the caption kept."""
    photo(chat, "a1", jpeg((1, 2, 3)), caption="holiday #beach", media_group_id="g1")
    photo(chat, "a2", jpeg((200, 200, 3)), media_group_id="g1")

    assert Memory.select().count() == 1
    assert MemoryImage.select().count() == 2
    assert Memory.get().content == "holiday #beach"


def test_edit_replaces_the_tags_with_the_users_own(chat, images_dir):
    """[Edit], then 'Travel, beach days' sets exactly those tags, confirmed."""
    photo(chat, "e1", jpeg(), caption="#misc")
    chat.press("Edit")
    chat.send("Travel, beach days")
    assert {t.tag: t.status for t in MemoryTag.select()} == {
        "travel": TagStatus.CONFIRMED,
        "beach days": TagStatus.CONFIRMED,
    }


def test_tags_lists_the_vocabulary_and_merges_two_tags(chat, images_dir):
    """/tags shows each tag with its count; /tags merge folds one into another, searchably."""
    photo(chat, "t1", jpeg((1, 1, 1)), caption="#receipt #food")
    photo(chat, "t2", jpeg((2, 2, 2)), caption="#receipt #groceries")
    chat.send("/tags")
    listing = chat.last()["text"]
    assert "#receipt (2)" in listing and "#food (1)" in listing

    chat.send("/tags merge food groceries")
    assert "Merged #food into #groceries (1 memories)" in chat.last()["text"]
    assert sorted(t.tag for t in MemoryTag.select()) == [
        "groceries",
        "groceries",
        "receipt",
        "receipt",
    ]
    owner = Memory.select().first().owner_id
    assert len(search(owner, "groceries")) == 2

    chat.send("/tags merge nosuch groceries")
    assert "You have no tag #nosuch" in chat.last()["text"]
    chat.send("/tags merge")
    assert "/tags merge OLD NEW" in chat.last()["text"]


def test_an_image_sent_as_a_file_is_a_photo_and_a_fake_one_is_refused(chat, images_dir):
    """A document with an image type is processed like a photo; a PDF claiming to be a JPEG
    is refused clearly, and a message with neither text nor image is still noted."""
    data = jpeg()
    chat.messenger.files["doc1"] = data
    chat.update(
        {
            "message": {
                "message_id": 900,
                "date": 0,
                "from": {"id": ME},
                "chat": {"id": ME, "type": "private"},
                "document": {"file_id": "doc1", "mime_type": "image/jpeg"},
            }
        }
    )
    assert MemoryImage.select().count() == 1

    chat.messenger.files["doc2"] = b"%PDF-1.7 not an image"
    chat.update(
        {
            "message": {
                "message_id": 901,
                "date": 0,
                "from": {"id": ME},
                "chat": {"id": ME, "type": "private"},
                "document": {"file_id": "doc2", "mime_type": "image/jpeg"},
            }
        }
    )
    assert MemoryImage.select().count() == 1
    assert "couldn't read that image" in chat.last()["text"]

    chat.update(
        {
            "message": {
                "message_id": 902,
                "date": 0,
                "from": {"id": ME},
                "chat": {"id": ME, "type": "private"},
                "sticker": {"file_id": "st1"},
            }
        }
    )
    assert "you sent a sticker" in chat.last()["text"]  # noted, and said it is unreadable
    assert Memory.select().count() == 3


def test_a_file_over_20_mb_gets_a_clear_reply(chat, images_dir):
    """Telegram's download limit is explained; the message stays saved."""
    from lifeorg.telegram import TelegramFileTooBig

    chat.messenger.files["big"] = TelegramFileTooBig("getFile: file is too big (20 MB at most)")
    photo(chat, "big", None, caption="scan of the contract")
    assert any("20 MB" in m["text"] for m in chat.messenger.to(ME))
    assert Memory.select().count() == 1 and MemoryImage.select().count() == 0


def test_through_the_fake_bot_api_with_the_real_client(settle, images_dir, monkeypatch):
    """The photo comes from the fake Bot API (getFile, download) and the reply goes back."""
    from lifeorg import ledger
    from lifeorg.telegram import TelegramClient
    from tests.fake_telegram import FakeTelegram

    fake = FakeTelegram().start()
    try:
        fake.register_chat(ME)
        fake.add_file("tg-photo", jpeg((9, 99, 199)))
        monkeypatch.setitem(
            runtime.current().__dict__,
            "messenger",
            TelegramClient(fake.token, api_url=fake.base_url),
        )
        monkeypatch.setattr(runtime.current().settings, "allowed_users", [ME])
        update = {
            "update_id": 5,
            "message": {
                "message_id": 1,
                "date": 0,
                "caption": "#receipt",
                "from": {"id": ME},
                "chat": {"id": ME, "type": "private"},
                "photo": [
                    {"file_id": "tg-photo", "file_unique_id": "u", "width": 64, "height": 48}
                ],
            },
        }
        ledger.submit("ingest", "update:5", {"update": update})
        settle()
        replies = [m.text for m in fake.messages_to(ME)]
    finally:
        fake.stop()
    assert MemoryImage.select().count() == 1
    assert any("Saved the photo" in r and "#receipt?" in r for r in replies)
