"""Schema migrations: from empty, re-run, concurrent starts, and no drift from the models."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playhouse.schema_diff import diff_models

from lifeorg.database import (
    MIGRATIONS_DIR,
    applied_migrations,
    build_database,
    open_database,
    pending_migrations,
    upgrade,
)
from lifeorg.errors import DatabaseError, SchemaOutOfDate
from lifeorg.models import ALL_MODELS
from tests.conftest import ROOT, make_settings

ALL_MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def test_from_empty_every_migration_applies_and_matches_the_models(empty_url, tmp_path):
    """Given an empty database, upgrading applies all migrations and leaves no schema drift."""
    database = open_database(make_settings(tmp_path, database_url=empty_url), migrate=True)
    with database.connection_context():
        assert applied_migrations(database) == ALL_MIGRATIONS
        assert pending_migrations(database) == []
        drift = diff_models(database, ALL_MODELS)
    database.close_all()
    assert not drift, f"models and migrations disagree; write a migration:\n{drift}"


def test_upgrade_again_changes_nothing(empty_url, tmp_path):
    """Running the upgrade a second time applies nothing and keeps the data."""
    settings = make_settings(tmp_path, database_url=empty_url)
    database = open_database(settings, migrate=True)
    from lifeorg.models import User

    with database.connection_context():
        User.create(telegram_user_id=7, timezone="UTC", default_time="09:00")
        assert upgrade(database) == []
        assert User.select().count() == 1
    database.close_all()


def test_processes_that_do_not_migrate_refuse_an_old_schema(empty_url, tmp_path):
    """A process started without migrating says clearly what to run."""
    with pytest.raises(SchemaOutOfDate, match="lifeorg db upgrade"):
        open_database(make_settings(tmp_path, database_url=empty_url))


def test_unreachable_database_is_a_clear_error(tmp_path):
    """A PostgreSQL URL that nobody answers gives DatabaseError, not a driver traceback."""
    url = "postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(DatabaseError, match="cannot open the database") as caught:
        open_database(make_settings(tmp_path, database_url=url))
    assert "secret" not in str(caught.value)


def test_concurrent_upgrades_apply_each_migration_once(empty_url, tmp_path):
    """Several processes starting at once (release, workers) migrate exactly once."""
    code = (
        "import sys; from lifeorg.database import upgrade, build_database;"
        "d = build_database(sys.argv[1], 2); d.connect(); print(len(upgrade(d)))"
    )
    with ThreadPoolExecutor(4) as pool:
        runs = list(
            pool.map(
                lambda _: subprocess.run(
                    [sys.executable, "-c", code, empty_url],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=60,
                ),
                range(4),
            )
        )
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    counts = sorted(int(r.stdout.strip()) for r in runs)
    assert counts == [0, 0, 0, len(ALL_MIGRATIONS)]
    database = build_database(empty_url, 1)
    with database.connection_context():
        assert applied_migrations(database) == ALL_MIGRATIONS
    database.close_all()


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path):
    """The laptop database is set up for several threads and processes writing."""
    database = open_database(make_settings(tmp_path), migrate=True)
    with database.connection_context():
        assert database.pragma("journal_mode") == "wal"
        assert database.pragma("foreign_keys") == 1
        assert database.pragma("busy_timeout") >= 5000
    database.close_all()


def test_importing_the_package_opens_nothing(tmp_path):
    """Importing every module reads no environment and creates no database file."""
    code = (
        "import importlib, pathlib, lifeorg;"
        "root = pathlib.Path(lifeorg.__file__).parent;"
        "names = [('lifeorg/' + str(p.relative_to(root).with_suffix(''))).replace('/', '.')"
        " .removesuffix('.__init__') for p in sorted(root.rglob('*.py'))];"
        "skip = ('lifeorg.worker_boot', 'lifeorg.actors', 'lifeorg.models.migrations.');"
        "names = [n for n in names if not n.startswith(skip)];"
        "[importlib.import_module(n) for n in names];"
        "from lifeorg.models.base import db; print(len(names), db.obj)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "sqlite:///must-not-exist/x.db",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    count, bound = result.stdout.split()
    assert int(count) >= 15 and bound == "None"
    assert list(tmp_path.iterdir()) == []
