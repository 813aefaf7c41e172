"""Backups of the database, and restoring one.

SQLite is copied with its online backup API (consistent while others write); PostgreSQL is
dumped with ``pg_dump`` in its custom format (restored with ``pg_restore``). Each run is a
``backup`` row; only the newest ``KEEP`` files are kept. Restore replaces the whole
database: stop the other processes first.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from pathlib import Path

import peewee

from lifeorg.config import Settings
from lifeorg.errors import LifeorgError
from lifeorg.models import Backup
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import BackupStatus

# A week of nightly backups.
KEEP = 7
# pg_dump and pg_restore of a personal organiser take seconds; minutes means trouble.
DUMP_TIMEOUT_S = 600
PREFIX = "lifeorg-"


class BackupError(LifeorgError):
    """A backup or restore could not be made; the message says why."""


def _is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def make_backup(settings: Settings, now: dt.datetime | None = None) -> Backup:
    """Write a backup to the backup directory and record it; raises BackupError."""
    now = now or utcnow()
    folder = settings.backups_path
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".dump" if _is_postgres() else ".db"
    target = folder / f"{PREFIX}{now:%Y%m%dT%H%M%S%fZ}{suffix}"
    row = Backup.create(location=str(target))
    try:
        if _is_postgres():
            _pg(
                "pg_dump",
                "--format=custom",
                "--no-owner",
                f"--file={target}",
                f"--dbname={_pg_url(settings)}",
            )
        else:
            # Its own connection, outside any transaction: the backup API copies while
            # others keep writing (WAL), and holds no lock of ours while it does.
            source = sqlite3.connect(db.obj.database, timeout=60)
            destination = sqlite3.connect(target)
            try:
                source.backup(destination)
            finally:
                destination.close()
                source.close()
    except (OSError, sqlite3.Error, BackupError) as exc:
        row.transition(BackupStatus.FAILED, finished_at=utcnow(), error=str(exc)[:2000])
        target.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}") from exc
    row.transition(BackupStatus.COMPLETED, finished_at=utcnow(), size_bytes=target.stat().st_size)
    _rotate(folder, suffix)
    return row


def _rotate(folder: Path, suffix: str) -> None:
    """Keep the newest KEEP backups (their names sort by time)."""
    files = sorted(folder.glob(f"{PREFIX}*{suffix}"))
    for old in files[:-KEEP]:
        old.unlink(missing_ok=True)


def restore(settings: Settings, source: Path) -> None:
    """Replace the database with the backup ``source``; raises BackupError."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    if _is_postgres():
        _pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_pg_url(settings)}",
            str(source),
        )
        return
    try:
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            backup.execute("PRAGMA schema_version").fetchone()  # is it a database at all?
            backup.backup(db.connection())
        finally:
            backup.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a usable SQLite backup: {exc}") from exc


def _pg_url(settings: Settings) -> str:
    return "postgresql://" + settings.database_url.partition("://")[2]


def _pg(tool: str, *args: str) -> None:
    """Run a PostgreSQL client tool; BackupError with its message when it fails."""
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} is not installed (the PostgreSQL client tools are needed)")
    done = subprocess.run(
        [executable, *args], capture_output=True, text=True, timeout=DUMP_TIMEOUT_S
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        # The URL with its password is an argument, never part of the message.
        raise BackupError(f"{tool} failed: {first}")
