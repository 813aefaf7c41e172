"""A user's data as zip files: JSON for programs, Markdown for people, and their photos.

Everything is read for one owner only and written straight into a file on disk: memories
and audit entries a chunk of rows at a time, photos copied from disk in blocks, so neither
all rows nor any photo is ever held whole in memory. The Markdown is ``export_markdown``'s.

Telegram lets a bot upload 50 MB. A bigger export is split into parts, each a zip that
opens on its own: part 1 holds the data, the notes and the photos that fit; the other parts
the remaining photos. Unzipped into one folder, the parts make one export. That beats
leaving photos out: the user asked for everything, and a few hundred photos pass 50 MB.

Inside::

    README.md                                what is here; the time zone the notes use
    notes.md, tasks.md, reminders.md, events.md
    json/user.json                           settings
    json/memories.json                       memories with their tags and photos (metadata)
    json/tasks.json, reminders.json, events.json, audit.json
    images/<sha256>.jpg                      the photos, named as memories.json names them
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import peewee

from lifeorg.models import AuditEntry, Event, Memory, MemoryImage, MemoryTag, Reminder, Task, User
from lifeorg.models.base import utcnow
from lifeorg.pipeline import export_markdown as markdown
from lifeorg.pipeline.export_markdown import photo_name
from lifeorg.telegram import MAX_UPLOAD_BYTES

# Rows read per query: enough to keep queries few, small enough that a chunk of memories
# at their 20,000-character cap stays a few MB.
CHUNK = 200
# Room left under Telegram's limit for the multipart envelope and our size estimates.
UPLOAD_MARGIN = 256 * 1024
PART_LIMIT = MAX_UPLOAD_BYTES - UPLOAD_MARGIN
# What a zip entry costs besides its data: local header (30 bytes) and central directory
# record (46 bytes), each with the name and up to 28 bytes of ZIP64 extras, rounded up.
ENTRY_OVERHEAD = 160
# The end of central directory record, with its ZIP64 variants (22 + 56 + 20 bytes).
END_OVERHEAD = 98
# Room kept in part 1 for the README, written once the parts are planned (it is ~1 KB).
README_ALLOWANCE = 4096
# What prepare_image names a stored photo: its SHA-256, in the owner's folder.
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Photo:
    """One stored photo to include: where it is, what it is called in the zip, its size."""

    source: Path
    name: str
    size: int

    @property
    def cost(self) -> int:
        """Bytes it adds to a zip (photos are stored, not compressed: JPEG is already)."""
        return self.size + ENTRY_OVERHEAD + 2 * len(self.name.encode())


@dataclass
class Archive:
    """An export in parts: part 1 is written; later parts are written when asked for."""

    user: User
    workdir: Path
    stem: str
    first: Path
    groups: list[list[Photo]]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def part_count(self) -> int:
        return len(self.groups)

    def file_name(self, number: int) -> str:
        """The name the user sees for part ``number``."""
        if self.part_count == 1:
            return f"{self.stem}.zip"
        return f"{self.stem}-part{number}of{self.part_count}.zip"

    def part(self, number: int) -> Path:
        """The zip of part ``number`` (1-based), written now unless it is part 1."""
        if number == 1:
            return self.first
        path = self.workdir / self.file_name(number)
        with zipfile.ZipFile(path, "w") as archive:
            _add_photos(archive, self.groups[number - 1])
        return path

    @property
    def total_bytes(self) -> int:
        """The export's size: part 1 as written, the others as planned."""
        rest = sum(photo.cost for group in self.groups[1:] for photo in group)
        return self.first.stat().st_size + rest


def build(user: User, images_dir: Path, workdir: Path, *, part_limit: int = PART_LIMIT) -> Archive:
    """Write part 1 of ``user``'s export into ``workdir`` and plan the other parts."""
    zone = ZoneInfo(user.timezone)
    now = utcnow().astimezone(zone)
    stem = f"lifeorg-export-{now:%Y-%m-%d}"
    photos, missing = find_photos(user, images_dir)
    # A photo that cannot fit even an empty part is left out (and counted), not sent broken.
    too_big = {p for p in photos if p.cost + END_OVERHEAD > part_limit}
    photos = [p for p in photos if p not in too_big]
    included = {p.name for p in photos}
    first = workdir / f"{stem}.zip"
    with zipfile.ZipFile(first, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        counts = _write_data(archive, user, included)
        counts.update(photos=len(photos), missing_photos=missing, oversized_photos=len(too_big))
        # The README is the last text file: it says how many parts there are.
        groups = plan_parts(_written(archive) + README_ALLOWANCE, photos, part_limit)
        _text(archive, "README.md", markdown.readme(user, now, counts, len(groups)))
        _add_photos(archive, groups[0])
    return Archive(user, workdir, stem, first, groups, counts)


def plan_parts(first_used: int, photos: list[Photo], part_limit: int) -> list[list[Photo]]:
    """Photos grouped into parts: part 1 after ``first_used`` bytes, each under the limit."""
    groups: list[list[Photo]] = [[]]
    used = first_used + END_OVERHEAD
    for photo in photos:
        # A full part starts the next; part 1 may hold no photo at all if the data fill it.
        if used + photo.cost > part_limit and (groups[-1] or len(groups) == 1):
            groups.append([])
            used = END_OVERHEAD
        groups[-1].append(photo)
        used += photo.cost
    return groups


def find_photos(user: User, images_dir: Path) -> tuple[list[Photo], int]:
    """The user's stored photos, once each, and how many are missing on disk."""
    seen: set[str] = set()
    photos, missing = [], 0
    for chunk in _chunks(MemoryImage.select().where(MemoryImage.owner == user), MemoryImage):
        for image in chunk:
            if image.sha256 in seen:
                continue
            seen.add(image.sha256)
            source = photo_file(image, images_dir)
            if source is None:
                missing += 1
                continue
            photos.append(Photo(source, photo_name(image), source.stat().st_size))
    return photos, missing


def photo_file(image: MemoryImage, images_dir: Path) -> Path | None:
    """Where the photo is on disk, if it is there and in its owner's folder.

    The store's layout (``<owner>/<sha[:2]>/<sha>.jpg``) is checked rather than trusted, so
    a row can never pull another user's file, or any other file, into an export.
    """
    sha = str(image.sha256)
    if not _SHA256.fullmatch(sha):
        return None
    expected = (str(image.owner_id), sha[:2], f"{sha}.jpg")
    stored = Path(image.path)
    candidates = [images_dir.joinpath(*expected)]
    if stored.parts[-3:] == expected:  # the image dir has moved since: the row knows where
        candidates.append(stored)
    return next((path for path in candidates if path.is_file()), None)


def _add_photos(archive: zipfile.ZipFile, photos: Iterable[Photo]) -> None:
    for photo in photos:
        # ZipFile.write copies in blocks; stored, because JPEG does not compress further.
        archive.write(photo.source, photo.name, compress_type=zipfile.ZIP_STORED)


def _written(archive: zipfile.ZipFile) -> int:
    """Bytes a zip will take once closed: what is written, plus its central directory."""
    entries = archive.infolist()
    central = sum(ENTRY_OVERHEAD // 2 + len(info.filename.encode()) for info in entries)
    return archive.fp.tell() + central


# -- the data ------------------------------------------------------------------------------


def _write_data(archive: zipfile.ZipFile, user: User, included: set[str]) -> dict[str, int]:
    zone = ZoneInfo(user.timezone)
    _json_value_file(archive, "json/user.json", _plain(user))
    counts = {
        "memories": _json_array(archive, "json/memories.json", _memory_rows(user, included)),
        "tasks": _json_array(archive, "json/tasks.json", map(_plain, _owned(Task, user))),
        "reminders": _json_array(
            archive, "json/reminders.json", map(_plain, _owned(Reminder, user))
        ),
        "events": _json_array(archive, "json/events.json", map(_plain, _owned(Event, user))),
        "audit": _json_array(archive, "json/audit.json", _audit_rows(user)),
    }
    _text(archive, "notes.md", markdown.notes(_memories(user), zone, included))
    _text(archive, "tasks.md", markdown.tasks(Task.select().where(Task.owner == user), zone))
    _text(
        archive,
        "reminders.md",
        markdown.reminders(Reminder.select().where(Reminder.owner == user), zone),
    )
    _text(archive, "events.md", markdown.events(Event.select().where(Event.owner == user), zone))
    return counts


def _chunks(query: peewee.ModelSelect, model: Any) -> Iterator[list[Any]]:
    """The rows of ``query`` by id, CHUNK at a time (keyset pages: no offset to skip)."""
    last = 0
    while True:
        rows = list(query.where(model.id > last).order_by(model.id).limit(CHUNK))
        if rows:
            yield rows
        if len(rows) < CHUNK:
            return
        last = rows[-1].id


def _owned(model: Any, user: User) -> Iterator[Any]:
    for chunk in _chunks(model.select().where(model.owner == user), model):
        yield from chunk


def _memories(user: User) -> Iterator[tuple[Memory, list[MemoryTag], list[MemoryImage]]]:
    """Each of the user's memories with its tags and images, oldest first."""
    for chunk in _chunks(Memory.select().where(Memory.owner == user), Memory):
        ids = [memory.id for memory in chunk]
        tags: dict[int, list[MemoryTag]] = defaultdict(list)
        images: dict[int, list[MemoryImage]] = defaultdict(list)
        for tag in (
            MemoryTag.select()
            .where(MemoryTag.memory.in_(ids) & (MemoryTag.owner == user))
            .order_by(MemoryTag.id)
        ):
            tags[tag.memory_id].append(tag)
        for image in (
            MemoryImage.select()
            .where(MemoryImage.memory.in_(ids) & (MemoryImage.owner == user))
            .order_by(MemoryImage.id)
        ):
            images[image.memory_id].append(image)
        for memory in chunk:
            yield memory, tags[memory.id], images[memory.id]


def _memory_rows(user: User, included: set[str]) -> Iterator[dict[str, Any]]:
    for memory, tags, images in _memories(user):
        row = _plain(memory, drop=("owner", "media_path"))
        row["tags"] = [_plain(tag, drop=("owner", "memory")) for tag in tags]
        row["images"] = [
            _plain(image, drop=("owner", "memory", "path", "model_path"))
            | {"file": photo_name(image) if photo_name(image) in included else None}
            for image in images
        ]
        yield row


def _audit_rows(user: User) -> Iterator[dict[str, Any]]:
    query = AuditEntry.select().where(AuditEntry.owner_id == user.id)
    for chunk in _chunks(query, AuditEntry):
        for entry in chunk:
            yield _plain(entry, drop=("owner_id",))


def _plain(row: peewee.Model, drop: Iterable[str] = ("owner",)) -> dict[str, Any]:
    """A row's columns as JSON values: instants in UTC ISO 8601, references as ids."""
    dropped = set(drop)
    return {
        name: value.isoformat() if isinstance(value, dt.date) else value
        for name, value in row.__data__.items()
        if name not in dropped
    }


def _json_array(archive: zipfile.ZipFile, name: str, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as a JSON array, one row at a time; returns how many."""
    count = 0
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
        out.write("[")
        for row in rows:
            out.write(",\n  " if count else "\n  ")
            json.dump(row, out, ensure_ascii=False, sort_keys=True)
            count += 1
        out.write("\n]\n" if count else "]\n")
    return count


def _json_value_file(archive: zipfile.ZipFile, name: str, value: Any) -> None:
    archive.writestr(name, json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2))


def _text(archive: zipfile.ZipFile, name: str, lines: Iterable[str]) -> None:
    with archive.open(name, "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as out:
        for line in lines:
            out.write(line + "\n")
