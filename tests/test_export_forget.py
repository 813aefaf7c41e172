"""/export and /forget through the conversation: a user's data out as zips, or gone for good."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import peewee
import pytest
from PIL import Image

from lifeorg import runtime
from lifeorg.bot.terminal import TerminalMessenger
from lifeorg.models import (
    ALL_MODELS,
    AuditEntry,
    Event,
    Job,
    Memory,
    MemoryImage,
    OutboxMessage,
    ProcessedUpdate,
    Reminder,
    User,
)
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import AuditAction, JobStatus
from lifeorg.pacing import LocalStore, Pacer
from lifeorg.pipeline import (
    commands,
    export,
    export_archive,
    export_markdown,
    forget,
    replies,
    search,
)
from lifeorg.pipeline.export_archive import Photo, photo_file, plan_parts
from lifeorg.telegram import TelegramClient, TelegramUnavailable
from tests.conftest import RecordingMessenger
from tests.fake_telegram import FakeTelegram
from tests.test_conversation import ME, OTHER, Chat, chat  # noqa: F401  (the fixture)

# What each user saves: none of mine may survive /forget or reach the other's export.
MINE = ("hunter2", "electricity bill", "call mum", "dentist", "receipts")
THEIRS = ("correcthorse", "holiday")


@pytest.fixture
def talk(chat: Chat):  # noqa: F811
    """The conversation, failing the test if any pipeline step raised along the way."""
    yield chat
    errors = [j.last_error for j in Job.select().where(Job.last_error.is_null(False))]
    assert errors == []


@pytest.fixture
def images_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(runtime.current().settings, "image_dir", tmp_path / "images")
    return tmp_path / "images"


def picture(seed: int, size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    """A JPEG: a flat colour, or noise (which JPEG cannot shrink, for big exports)."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (seed * 40 % 256, 30, 200))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def send_photo(chat: Chat, file_id: str, data: bytes, caption: str = "", user: int = ME):  # noqa: F811
    chat.messenger.files[file_id] = data
    chat.update(
        {
            "message": {
                "message_id": next(chat.message_ids),
                "date": 0,
                "photo": [{"file_id": file_id, "file_unique_id": file_id, "width": 1}],
                "caption": caption,
                "from": {"id": user, "is_bot": False, "first_name": "Ann"},
                "chat": {"id": user, "type": "private"},
            }
        }
    )


def fill(chat: Chat) -> None:  # noqa: F811
    """Both users save things; mine hold the words in MINE, theirs those in THEIRS."""
    chat.send("the wifi password is hunter2")
    chat.send("pay the electricity bill by friday")
    chat.send("remind me tomorrow at 9 to call mum")
    chat.send("dentist on december 3 at 14:30")
    send_photo(chat, "mine-1", picture(1), "#receipts lunch")
    chat.send("my password is correcthorse", user=OTHER)
    send_photo(chat, "theirs-1", picture(2), "#holiday beach", user=OTHER)


def me() -> User:
    return User.get(User.telegram_user_id == ME)


def other() -> User:
    return User.get(User.telegram_user_id == OTHER)


def labels(message: dict) -> list[str]:
    return [b[0] for row in message["buttons"] for b in row]


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def stored_photos(user: User) -> dict[str, bytes]:
    """The user's photo files as the store keeps them, by their name in an export."""
    images = MemoryImage.select().where(MemoryImage.owner == user)
    return {f"images/{i.sha256}.jpg": Path(i.path).read_bytes() for i in images}


def everything_stored() -> str:
    """Every row of every table as text, to look for leftovers."""
    rows = [repr(row.__data__) for model in ALL_MODELS for row in model.select()]
    return "\n".join(rows)


# -- /export


def test_export_sends_one_zip_with_data_notes_and_photos_of_the_user_only(talk, images_dir):
    """JSON of every table, Markdown dated in the user's zone, the user's photos; nothing of
    the other user's."""
    fill(talk)
    talk.send("/export")

    assert "Putting everything you saved into a zip file" in talk.last()["text"]
    [document] = talk.messenger.documents
    assert document["chat"] == ME and document["name"].endswith(".zip")
    assert "5 notes, 1 task, 1 reminder, 1 event, 1 photo." in document["caption"]
    files = members(document["data"])

    assert {"README.md", "notes.md", "tasks.md", "reminders.md", "events.md"} <= set(files)
    json_files = {"user", "memories", "tasks", "reminders", "events", "audit"}
    assert {f"json/{name}.json" for name in json_files} <= set(files)
    assert {n: d for n, d in files.items() if n.startswith("images/")} == stored_photos(me())
    everything = b"\n".join(files.values()).decode("utf-8", "replace")
    assert all(word in everything for word in MINE)
    assert not any(word in everything for word in THEIRS)
    assert not set(stored_photos(other())) & set(files)

    memories = json.loads(files["json/memories.json"])
    assert len(memories) == 5 and not any("owner" in m for m in memories)
    [with_photo] = [m for m in memories if m["images"]]
    assert [t["tag"] for t in with_photo["tags"]] == ["receipts"]
    assert with_photo["images"][0]["file"] in files
    assert "path" not in with_photo["images"][0]  # no server paths
    settings = json.loads(files["json/user.json"])
    assert (settings["timezone"], settings["telegram_user_id"]) == ("Europe/Berlin", ME)
    [task] = json.loads(files["json/tasks.json"])
    assert task["description"] == "pay the electricity bill" and task["due_at"].endswith("+00:00")
    assert json.loads(files["json/audit.json"])  # the history of their changes

    # Markdown: the reminder under its local day, at its local time.
    fire_at = Reminder.get().fire_at.astimezone(ZoneInfo("Europe/Berlin"))
    reminders_md = files["reminders.md"].decode()
    assert export_markdown.day_heading(fire_at.date()) in reminders_md
    assert "- 09:00 call mum — scheduled" in reminders_md
    assert "Times are in Europe/Berlin." in files["notes.md"].decode()
    assert "![photo](images/" in files["notes.md"].decode()
    assert "- [ ] pay the electricity bill — due " in files["tasks.md"].decode()
    assert "14:30 dentist — confirmed" in files["events.md"].decode()


def test_an_export_with_nothing_saved_still_arrives(talk):
    talk.send("/export")
    [document] = talk.messenger.documents
    files = members(document["data"])
    assert json.loads(files["json/memories.json"]) == []
    assert "Nothing saved." in files["notes.md"].decode()
    assert "0 notes" in document["caption"]


def test_a_big_export_comes_in_parts_each_under_the_limit(talk, images_dir, monkeypatch):
    """Over the upload limit, every part is a zip of its own under it; together they hold
    every photo once, and the first says why there are parts."""
    for n in range(6):
        send_photo(talk, f"big-{n}", picture(n, (200, 200), noise=True))
    sizes = [len(data) for data in stored_photos(me()).values()]
    limit = 2 * max(sizes) + 20_000  # a part holds about two photos
    monkeypatch.setattr(export_archive, "PART_LIMIT", limit)

    talk.send("/export")

    documents = talk.messenger.documents
    assert len(documents) >= 3
    assert all(len(d["data"]) <= limit for d in documents)
    parts = [members(d["data"]) for d in documents]
    photos = [name for files in parts for name in files if name.startswith("images/")]
    assert sorted(photos) == sorted(stored_photos(me()))  # each once
    assert "json/memories.json" in parts[0] and "README.md" in parts[0]
    assert all(set(files) <= set(stored_photos(me())) for files in parts[1:])
    count = len(documents)
    assert f"comes in {count} parts" in documents[0]["caption"]
    assert f"Part 2 of {count}" in documents[1]["caption"]
    assert documents[0]["name"].endswith(f"part1of{count}.zip")
    assert documents[1]["name"].endswith(f"part2of{count}.zip")
    assert f"{count} parts" in parts[0]["README.md"].decode()


class FlakyUploads(RecordingMessenger):
    """Telegram failing once, on the second upload (after the first went through)."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads = 0

    def send_document(self, chat_id, path, file_name, caption=None):
        self.uploads += 1
        if self.uploads == 2:
            raise TelegramUnavailable("sendDocument: HTTP 502 from the Bot API")
        return super().send_document(chat_id, path, file_name, caption)


def test_a_retried_export_sends_no_part_twice(chat, images_dir, monkeypatch):  # noqa: F811
    """Part 2 fails; the retry sends part 2 and the rest, never part 1 again."""
    for n in range(4):
        send_photo(chat, f"big-{n}", picture(n, (200, 200), noise=True))
    sizes = [len(data) for data in stored_photos(me()).values()]
    monkeypatch.setattr(export_archive, "PART_LIMIT", 2 * max(sizes) + 20_000)
    flaky = FlakyUploads()
    monkeypatch.setitem(runtime.current().__dict__, "messenger", flaky)

    chat.send("/export")
    chat.settle(timeout=30)

    names = [d["name"] for d in flaky.documents]
    assert flaky.uploads == len(names) + 1  # the failed one, once
    assert len(names) == len(set(names)) >= 2
    job = Job.get(Job.kind == export.EXPORT)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    markers = OutboxMessage.select().where(OutboxMessage.method == export.SEND_DOCUMENT)
    assert sorted(m.payload["file_name"] for m in markers) == sorted(names)


def test_export_through_the_bot_api_and_a_refused_upload(chat, monkeypatch):  # noqa: F811
    """The real client uploads the zip to the fake Bot API; a 413 is explained to the user."""
    fake = FakeTelegram().start()
    try:
        fake.register_chat(ME)
        client = TelegramClient(fake.token, api_url=fake.base_url)
        monkeypatch.setitem(runtime.current().__dict__, "messenger", client)
        monkeypatch.setitem(runtime.current().__dict__, "pacer", Pacer(LocalStore()))
        chat.send("the wifi password is hunter2")
        chat.send("/export")
        [document] = [s for s in fake.sent if s.method == "sendDocument"]
        files = members(fake.file_data(document.file_id))
        assert "hunter2" in files["notes.md"].decode()
        assert document.caption.startswith("📦 Everything you saved")

        fake.max_upload_bytes = 1000
        chat.send("/export")
        said = [s.text for s in fake.messages_to(ME) if s.method == "sendMessage"]
    finally:
        fake.stop()
    assert len([s for s in fake.sent if s.method == "sendDocument"]) == 1
    [refused] = [text for text in said if "I couldn't send your export" in text]
    assert "413 Request Entity Too Large" in refused


def test_the_terminal_chat_gets_the_files_saved_and_forget_removes_them(
    chat,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """A messenger that cannot upload (the terminal) gets the zip in the data dir; /forget
    deletes it with the rest."""
    terminal = TerminalMessenger(1)
    monkeypatch.setitem(runtime.current().__dict__, "messenger", terminal)
    chat.send("the wifi password is hunter2")
    chat.send("/export")

    shown = [s.text for s in terminal.take_shown()]
    assert any("Your export is saved in" in text for text in shown)
    [saved] = export.saved_exports_dir(tmp_path, me().id).glob("*.zip")
    assert "hunter2" in members(saved.read_bytes())["notes.md"].decode()

    chat.send("/forget")
    message_id, data = terminal.find_button("Delete everything")
    chat.update(
        {
            "callback_query": {
                "id": "t1",
                "data": data,
                "from": {"id": ME, "is_bot": False},
                "message": {"message_id": message_id, "chat": {"id": ME}},
            }
        }
    )
    assert any("Deleted everything" in s.text for s in terminal.take_shown())
    assert not saved.exists() and Memory.select().count() == 0


def test_a_second_export_waits_for_the_first(database):
    user = User.create(telegram_user_id=ME, chat_id=ME, timezone="UTC", default_time="09:00")
    commands.handle(user, "/export", {"message_id": 1, "chat": {"id": ME}})
    commands.handle(user, "/export", {"message_id": 2, "chat": {"id": ME}})
    assert Job.select().where(Job.kind == export.EXPORT).count() == 1
    said = [row.payload["text"] for row in OutboxMessage.select().order_by(OutboxMessage.id)]
    assert "on its way already" in said[-1]


def test_parts_are_planned_under_the_limit_in_order():
    photos = [
        Photo(Path(f"/x/{n}.jpg"), f"images/{n}.jpg", size)
        for n, size in enumerate([40, 40, 90, 10, 5])
    ]
    limit = 200 + 4 * (export_archive.ENTRY_OVERHEAD + 40)
    groups = plan_parts(150, photos, limit)
    assert len(groups) == 2
    assert [p for group in groups for p in group] == photos
    for number, group in enumerate(groups):
        used = (150 if number == 0 else 0) + export_archive.END_OVERHEAD
        assert used + sum(p.cost for p in group) <= limit
    assert plan_parts(10, [], limit) == [[]]


def test_a_photo_row_cannot_pull_in_another_users_file(tmp_path):
    sha = "ab" + "0" * 62
    theirs = tmp_path / "7" / "ab" / f"{sha}.jpg"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"jpeg")
    mine = MemoryImage(owner=3, sha256=sha, path=str(theirs))
    assert photo_file(mine, tmp_path) is None
    assert photo_file(MemoryImage(owner=7, sha256=sha, path=str(theirs)), tmp_path) == theirs
    odd = MemoryImage(owner=7, sha256="../../etc/passwd", path="/etc/passwd")
    assert photo_file(odd, tmp_path) is None


# -- /forget


def test_forget_asks_first_and_cancel_keeps_everything(talk):
    fill(talk)
    talk.send("/forget")
    question = talk.last()
    assert "Delete all your data?" in question["text"]
    assert "5 notes (1 photo), 1 task, 1 reminder and 1 event" in question["text"]
    assert "cannot be undone" in question["text"]
    assert labels(question) == ["Delete everything", "Cancel"]

    talk.press("Cancel")
    assert talk.last()["edit"] and "nothing was deleted" in talk.last()["text"]
    assert Memory.select().where(Memory.owner == me()).count() == 5


def test_forget_deletes_everything_of_the_user_and_nothing_of_the_other(talk, images_dir):
    """Confirmed: no row, search entry, history detail or photo file of mine is left; the
    settings are a new user's; the other user's data is untouched."""
    fill(talk)
    talk.send("/settings tz America/New_York")
    talk.send("/settings quiet 22:00-07:00")
    my_files = [Path(i.path) for i in MemoryImage.select().where(MemoryImage.owner == me())]
    their_files = [Path(i.path) for i in MemoryImage.select().where(MemoryImage.owner == other())]
    theirs_before = {m.__name__: _owned_count(m, other()) for m in ALL_MODELS if _has_owner(m)}
    assert all(path.is_file() for path in my_files + their_files)

    talk.send("/forget")
    talk.press("Delete everything")
    talk.settle()

    user = me()
    assert "Deleted everything I kept for you" in talk.last()["text"]
    assert talk.last()["edit"] and talk.last()["buttons"] == []
    # Every table: nothing of mine but the answer to this press, which holds no content.
    for model in ALL_MODELS:
        if model in (OutboxMessage, Job) or not _has_owner(model):
            continue
        assert _owned_count(model, user) == 0, model.__name__
    left = OutboxMessage.select().where(OutboxMessage.owner == user)
    assert {row.payload.get("text") for row in left} <= {
        "Deleted.",
        talk.last()["text"],
    }
    stored = everything_stored()
    assert not [word for word in MINE if word in stored]
    assert "correcthorse" in stored
    assert not ProcessedUpdate.select().where(ProcessedUpdate.telegram_user_id == ME).exists()
    history = AuditEntry.select().where(AuditEntry.owner_id == user.id)
    [forgotten] = [e for e in history if e.action == AuditAction.FORGOTTEN]
    assert all(isinstance(n, int) for n in forgotten.detail["deleted"].values())
    assert forgotten.detail["deleted"]["memories"] == 5
    assert all(e.detail is None for e in history if e.id != forgotten.id)
    assert search.search(user.id, "hunter2") == []
    assert _index_rows(user.id) == 0
    # Settings are a new user's; the photos are gone from disk, the other user's stay.
    settings = runtime.current().settings
    assert (user.timezone, user.default_time) == (settings.timezone, settings.default_reminder_time)
    assert (user.quiet_start, user.onboarded_at, user.awaiting) == (None, None, None)
    assert not any(path.exists() for path in my_files)
    assert not (images_dir / str(user.id)).exists()
    assert all(path.is_file() for path in their_files)
    assert {m.__name__: _owned_count(m, other()) for m in ALL_MODELS if _has_owner(m)} == (
        theirs_before
    )
    assert [hit.kind for hit in search.search(other().id, "correcthorse")] == ["memory"]

    talk.send("/undo")
    assert talk.last()["text"] == "Nothing to undo."
    talk.send("/start")
    assert "Which time zone are you in?" in talk.last()["text"]


def _has_owner(model) -> bool:
    return "owner" in model._meta.fields


def _owned_count(model, user: User) -> int:
    return model.select().where(model.owner == user.id).count()


def _index_rows(owner_id: int) -> int:
    """Rows of the database-kept full-text index in the owner's document id range."""
    low, high = search.owner_doc_range(owner_id)
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        sql = "SELECT count(*) FROM search_doc_vector WHERE doc_id BETWEEN %s AND %s"
        return db.execute_sql(sql, (low, high)).fetchone()[0]
    # An external-content FTS5 table only answers from its index through MATCH.
    sql = "SELECT count(*) FROM search_doc_fts WHERE search_doc_fts MATCH 'hunter2'"
    return db.execute_sql(sql).fetchone()[0]


def test_a_second_press_deletes_nothing_saved_since(talk):
    """The confirm pressed again (a double tap, a late tap) and Cancel after it do nothing."""
    talk.send("the wifi password is hunter2")
    talk.send("/forget")
    talk.press("Delete everything")
    assert Memory.select().count() == 0
    talk.send("the new door code is 4711")

    talk.press("Delete everything")
    assert talk.messenger.answers[-1][1] == "Everything was deleted already."
    talk.press("Cancel")
    assert talk.messenger.answers[-1][1] == "Too late: everything was deleted already."
    assert [m.content for m in Memory.select()] == ["the new door code is 4711"]
    forgotten = AuditEntry.select().where(AuditEntry.action == AuditAction.FORGOTTEN)
    assert forgotten.count() == 1


def test_an_old_confirmation_is_refused(talk):
    talk.send("the wifi password is hunter2")
    old = int((utcnow() - forget.CONFIRM_WITHIN - dt.timedelta(minutes=1)).timestamp())
    _, data = replies.button(me(), "Delete everything", forget.FORGET_YES, old)
    talk.update(
        {
            "callback_query": {
                "id": "late",
                "data": data,
                "from": {"id": ME, "is_bot": False},
                "message": {"message_id": 1, "chat": {"id": ME}},
            }
        }
    )
    assert talk.messenger.answers[-1] == ("late", "That question has expired: send /forget again.")
    assert Memory.select().count() == 1


def test_files_written_after_the_forget_are_kept(database, tmp_path):
    """forget_files deletes the user's unused files from before, not newer or used ones."""
    user = User.create(telegram_user_id=ME, chat_id=ME, timezone="UTC", default_time="09:00")
    folder = tmp_path / "images" / str(user.id) / "ab"
    folder.mkdir(parents=True)
    old, new, used = folder / "old.jpg", folder / "new.jpg", folder / "used.jpg"
    memory = Memory.create(owner=user, content="")
    MemoryImage.create(
        memory=memory,
        owner=user,
        telegram_file_id="f",
        sha256="ab",
        path=str(used),
        model_path=str(used),
        width=1,
        height=1,
    )
    before = utcnow()
    for path, offset in ((old, -60), (used, -60), (new, 60)):
        path.write_bytes(path.name.encode())
        os.utime(path, (before.timestamp() + offset,) * 2)

    removed = forget.remove_files(user.id, tmp_path / "images", tmp_path, before)
    assert removed == {"photos": 1, "exports": 0}
    assert (old.exists(), new.exists(), used.exists()) == (False, True, True)


def test_the_markdown_reads_in_the_users_zone():
    """Pure: a late-evening UTC moment lands on the next local day; all-day events come
    first on their day; a multi-line note stays one list item; a forward names its sender."""
    zone = ZoneInfo("Asia/Tokyo")
    evening = dt.datetime(2024, 12, 2, 23, 30, tzinfo=dt.UTC)  # 08:30 on the 3rd in Tokyo
    note = Memory(
        id=1,
        content="first line\nsecond line",
        created_at=evening,
        pinned=True,
        forward_origin={"type": "user", "sender_user": {"first_name": "Bo"}},
    )
    lines = list(export_markdown.notes([(note, [], [])], zone, set()))
    assert "## Tuesday 3 December 2024" in lines
    assert lines[lines.index("- 08:30 📌 first line") + 1] == "  second line"
    assert "  (forwarded from Bo)" in lines

    timed = Event(
        id=1,
        description="dentist",
        starts_at=evening,
        ends_at=evening + dt.timedelta(hours=1),
        status="confirmed",
        source_type="email",
        location="Main St",
    )
    all_day = Event(
        id=2,
        description="holiday",
        all_day_date=dt.date(2024, 12, 3),
        status="confirmed",
        source_type="manual",
    )
    events = list(export_markdown.events([timed, all_day], zone))
    assert events[-2:] == [
        "- all day holiday — confirmed",
        "- 08:30 to 09:30 dentist — confirmed, at Main St, from email",
    ]
