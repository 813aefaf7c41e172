"""Backups on SQLite and PostgreSQL: the round trip, the record, rotation, bad files."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from lifeorg import backups
from lifeorg.backups import BackupError, make_backup, restore
from lifeorg.models import Backup, Job, Memory, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import BackupStatus
from lifeorg.scheduler.followups import nightly_backup


@pytest.fixture
def needs_pg_tools(backend):
    if backend == "postgres" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed (PostgreSQL client tools)")


def test_a_backup_restores_what_was_there(database, settings, needs_pg_tools):
    """Given data, a backup, then changes: restoring the backup brings the data back."""
    user = User.create(telegram_user_id=1, chat_id=1, timezone="UTC", default_time="09:00")
    Memory.create(owner=user, content="the wifi password is hunter2")

    made = make_backup(settings)
    assert made.status == BackupStatus.COMPLETED and made.size_bytes > 0

    Memory.delete().execute()
    Memory.create(owner=user, content="written after the backup")
    restore(settings, Path(made.location))

    assert [m.content for m in Memory.select()] == ["the wifi password is hunter2"]


def test_backups_are_recorded_and_rotated(database, settings, needs_pg_tools, monkeypatch):
    """Each run is a backup row; only the newest KEEP files remain."""
    monkeypatch.setattr(backups, "KEEP", 2)
    start = utcnow()
    for i in range(3):
        make_backup(settings, now=start + dt.timedelta(seconds=i))
    files = sorted(settings.backups_path.glob("lifeorg-*"))
    assert len(files) == 2
    assert Backup.select().where(Backup.status == BackupStatus.COMPLETED).count() == 3
    assert files[-1].name == Path(Backup.select().order_by(Backup.id.desc()).first().location).name


def test_restoring_a_file_that_is_not_a_backup_is_refused(database, settings, tmp_path):
    """A missing file or garbage is a clear error and the database is left alone."""
    User.create(telegram_user_id=1, chat_id=1, timezone="UTC", default_time="09:00")
    with pytest.raises(BackupError, match="no backup file"):
        restore(settings, tmp_path / "missing.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError):
        restore(settings, garbage)
    assert User.select().count() == 1


def test_the_nightly_backup_is_asked_for_once_a_day(database):
    """After 03:00 UTC the day's backup job is submitted once, however often asked."""
    night = dt.datetime(2026, 11, 24, 2, 59, tzinfo=dt.UTC)
    assert nightly_backup(night) == 0
    assert nightly_backup(night + dt.timedelta(minutes=2)) == 1
    assert nightly_backup(night + dt.timedelta(hours=5)) == 0
    assert Job.select().where(Job.kind == "backup").count() == 1
