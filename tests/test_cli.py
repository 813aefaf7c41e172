"""The ``lifeorg`` command line, run as a real subprocess against real databases."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lifeorg.database import MIGRATIONS_DIR, applied_migrations, build_database, open_database
from lifeorg.models import Job
from lifeorg.models.base import utcnow
from lifeorg.models.states import JobStatus
from tests.conftest import clean_env, lifeorg_command, make_settings

MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9]*.py"))
HEAD = MIGRATIONS[-1]

# A command that opens a database and runs an in-process worker finishes in a few seconds;
# this bound only stops a hung command from hanging the suite.
COMMAND_TIMEOUT_S = 60
HEAVY_MODULES = (
    "dramatiq",
    "peewee",
    "pydantic",
    "pydantic_settings",
    "psycopg",
    "redis",
    "litellm",
    "prometheus_client",
)


def lifeorg(cwd: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``lifeorg ARGS`` in ``cwd`` with only ``variables`` configured."""
    return subprocess.run(
        lifeorg_command(*args),
        cwd=cwd,
        env=clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def report_line(output: str, check: str) -> str:
    """The doctor's line for ``check`` (such as "database")."""
    for line in output.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[1] == check:
            return line
    raise AssertionError(f"no {check!r} line in the report:\n{output}")


def sqlite_url(tmp_path: Path) -> str:
    """The URL of the database ``make_settings(tmp_path)`` uses."""
    return make_settings(tmp_path).database_url


@contextmanager
def ledger(tmp_path: Path) -> Iterator[None]:
    """The test's SQLite database, migrated and bound to the models, closed afterwards."""
    database = open_database(make_settings(tmp_path), migrate=True)
    try:
        yield
    finally:
        if not database.is_closed():
            database.close()
        database.close_all()


def failed_ping(key: str = "k1") -> Job:
    """A ping job that failed on its only attempt."""
    return Job.create(
        kind="ping",
        idempotency_key=key,
        payload={},
        status=JobStatus.FAILED,
        attempts=1,
        max_attempts=1,
        last_error="boom",
    )


def reload(tmp_path: Path, job_id: int) -> Job:
    """The job as the database has it now."""
    with ledger(tmp_path):
        return Job.get_by_id(job_id)


# --- help ---------------------------------------------------------------------------------


def test_help_lists_the_commands(tmp_path: Path) -> None:
    """When I run `lifeorg --help`, it exits 0 and names every command."""
    result = lifeorg(tmp_path, "--help")

    assert result.returncode == 0, result.stderr
    for command in ("db", "worker", "jobs", "doctor"):
        assert command in result.stdout


def test_building_the_parser_imports_nothing_heavy(tmp_path: Path) -> None:
    """Given a fresh interpreter, importing the CLI and building its parser loads no library."""
    script = (
        "import sys, lifeorg.cli; lifeorg.cli.build_parser(); "
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- doctor -------------------------------------------------------------------------------


def test_doctor_passes_on_the_default_laptop_setup(tmp_path: Path) -> None:
    """Given an empty directory and no configuration, `lifeorg doctor` reports all good."""
    result = lifeorg(tmp_path, "doctor")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "all good"
    assert not report_line(result.stdout, "database").startswith("FAIL")
    assert "in-process" in report_line(result.stdout, "broker")
    assert (tmp_path / "data" / "images").is_dir()


def test_doctor_reports_the_schema_after_upgrade(tmp_path: Path) -> None:
    """Given `lifeorg db upgrade` has run, the doctor's database line is ok at the head."""
    assert lifeorg(tmp_path, "db", "upgrade").returncode == 0

    result = lifeorg(tmp_path, "doctor")

    assert result.returncode == 0, result.stdout + result.stderr
    database = report_line(result.stdout, "database")
    assert database.split()[0] == "ok"
    assert HEAD in database


def test_doctor_names_a_bad_variable(tmp_path: Path) -> None:
    """Given LIFEORG_TIMEZONE=Mars/Base, `lifeorg doctor` fails and names the variable."""
    result = lifeorg(tmp_path, "doctor", LIFEORG_TIMEZONE="Mars/Base")

    assert result.returncode == 1
    assert report_line(result.stdout, "configuration").startswith("FAIL")
    assert "LIFEORG_TIMEZONE" in result.stdout


def test_command_with_bad_config_exits_2_with_the_message_on_stderr(tmp_path: Path) -> None:
    """Given LIFEORG_TIMEZONE=Mars/Base, `lifeorg db upgrade` exits 2 and explains on stderr."""
    result = lifeorg(tmp_path, "db", "upgrade", LIFEORG_TIMEZONE="Mars/Base")

    assert result.returncode == 2
    assert "LIFEORG_TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- db -----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def cli_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nothing has touched yet, on each backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("fresh_postgres_url")


def recorded_migrations(url: str) -> list[str]:
    """Every row of the migrations table, so a migration recorded twice shows."""
    database = build_database(url, 1)
    try:
        with database.connection_context():
            rows = database.execute_sql("SELECT name FROM schema_migration ORDER BY id").fetchall()
            assert applied_migrations(database) == [name for (name,) in rows]
    finally:
        database.close_all()
    return [name for (name,) in rows]


def test_db_upgrade_is_safe_to_run_twice(tmp_path: Path, cli_database_url: str) -> None:
    """Given an upgraded database, a second `lifeorg db upgrade` applies nothing and exits 0."""
    first = lifeorg(tmp_path, "db", "upgrade", DATABASE_URL=cli_database_url)
    assert first.returncode == 0, first.stderr
    assert HEAD in first.stdout
    assert recorded_migrations(cli_database_url) == MIGRATIONS

    second = lifeorg(tmp_path, "db", "upgrade", DATABASE_URL=cli_database_url)

    assert second.returncode == 0, second.stderr
    assert "nothing to apply" in second.stdout and HEAD in second.stdout
    assert recorded_migrations(cli_database_url) == MIGRATIONS


def test_db_status_lists_applied_migrations(tmp_path: Path, cli_database_url: str) -> None:
    """Given an upgraded database, `lifeorg db status` exits 0 with every migration applied."""
    assert lifeorg(tmp_path, "db", "upgrade", DATABASE_URL=cli_database_url).returncode == 0

    result = lifeorg(tmp_path, "db", "status", DATABASE_URL=cli_database_url)

    assert result.returncode == 0, result.stderr
    rows = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    assert [name for name, _ in rows] == MIGRATIONS
    assert all(applied != "pending" for _, applied in rows)


def test_db_status_fails_before_upgrade(tmp_path: Path, cli_database_url: str) -> None:
    """Given a database never upgraded, `lifeorg db status` exits 1 with every migration pending."""
    result = lifeorg(tmp_path, "db", "status", DATABASE_URL=cli_database_url)

    assert result.returncode == 1, result.stderr
    assert result.stdout.split() == [word for name in MIGRATIONS for word in (name, "pending")]


# --- worker -------------------------------------------------------------------------------


def test_worker_without_broker_asks_for_redis_url(tmp_path: Path) -> None:
    """Given no broker configured, `lifeorg worker` exits 2 and says to set REDIS_URL."""
    result = lifeorg(tmp_path, "worker")

    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was opened before refusing


# --- jobs ---------------------------------------------------------------------------------


def test_jobs_lists_rows_with_their_error(tmp_path: Path) -> None:
    """Given a failed job, `lifeorg jobs` and `jobs list` show it with its last error."""
    with ledger(tmp_path):
        job = failed_ping()

    for args in (["jobs"], ["jobs", "list"], ["jobs", "list", "--status", "failed"]):
        result = lifeorg(tmp_path, *args, DATABASE_URL=sqlite_url(tmp_path))

        assert result.returncode == 0, result.stderr
        row = result.stdout.splitlines()[1].split()
        assert row[:3] == [str(job.id), "ping", "failed"]
        assert row[-1] == "boom"


def test_jobs_list_filters_by_status(tmp_path: Path) -> None:
    """Given a failed job, `jobs list --status completed` does not show it."""
    with ledger(tmp_path):
        failed_ping()

    result = lifeorg(
        tmp_path, "jobs", "list", "--status", "completed", DATABASE_URL=sqlite_url(tmp_path)
    )

    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1  # the header only


def test_jobs_show_prints_the_row_as_json(tmp_path: Path) -> None:
    """Given a job, `lifeorg jobs show ID` prints it as JSON."""
    with ledger(tmp_path):
        job = failed_ping()

    result = lifeorg(tmp_path, "jobs", "show", str(job.id), DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["id"] == job.id
    assert row["kind"] == "ping"
    assert row["status"] == "failed"
    assert row["last_error"] == "boom"


def test_jobs_show_of_a_missing_job_fails(tmp_path: Path) -> None:
    """Given no job 999, `lifeorg jobs show 999` exits 1 and says so."""
    with ledger(tmp_path):
        pass

    result = lifeorg(tmp_path, "jobs", "show", "999", DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 1
    assert "999" in result.stderr


def test_jobs_requeue_runs_a_failed_job_again(tmp_path: Path) -> None:
    """Given a failed ping, `lifeorg jobs requeue ID` sends it again and it completes."""
    with ledger(tmp_path):
        job = failed_ping()

    result = lifeorg(tmp_path, "jobs", "requeue", str(job.id), DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 0, result.stderr
    assert f"job {job.id}: requeued" in result.stdout
    after = reload(tmp_path, job.id)
    assert after.status == JobStatus.COMPLETED
    assert after.attempts == 2
    assert after.max_attempts > 2
    assert after.last_error is None


def test_jobs_requeue_failed_runs_every_failed_job(tmp_path: Path) -> None:
    """Given two failed pings, `lifeorg jobs requeue --failed` completes both."""
    with ledger(tmp_path):
        jobs = [failed_ping("k1"), failed_ping("k2")]

    result = lifeorg(tmp_path, "jobs", "requeue", "--failed", DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 0, result.stderr
    for job in jobs:
        assert f"job {job.id}: requeued" in result.stdout
        assert reload(tmp_path, job.id).status == JobStatus.COMPLETED


def test_jobs_requeue_leaves_a_job_that_did_not_fail_alone(tmp_path: Path) -> None:
    """Given a completed job, `lifeorg jobs requeue ID` exits 1 and changes nothing."""
    with ledger(tmp_path):
        job = Job.create(
            kind="ping",
            idempotency_key="done",
            payload={},
            status=JobStatus.COMPLETED,
            attempts=1,
            max_attempts=1,
            result={"worker": "earlier"},
        )

    result = lifeorg(tmp_path, "jobs", "requeue", str(job.id), DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 1
    assert "left alone" in result.stderr
    after = reload(tmp_path, job.id)
    assert after.status == JobStatus.COMPLETED
    assert (after.attempts, after.max_attempts) == (1, 1)
    assert after.result == {"worker": "earlier"}


def test_jobs_sweep_on_an_empty_ledger_reports_nothing_to_do(tmp_path: Path) -> None:
    """Given an empty ledger, `lifeorg jobs sweep` exits 0 and reports zero everywhere."""
    with ledger(tmp_path):
        pass

    result = lifeorg(tmp_path, "jobs", "sweep", DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "requeued 0, failed 0, not sent 0"


def test_jobs_sweep_resends_a_job_whose_message_was_lost(tmp_path: Path) -> None:
    """Given a queued ping whose lease ran out, `lifeorg jobs sweep` resends it and it completes."""
    with ledger(tmp_path):
        job = Job.create(
            kind="ping",
            idempotency_key="lost",
            payload={},
            status=JobStatus.QUEUED,
            max_attempts=1,
            lease_until=utcnow() - dt.timedelta(hours=1),
        )

    result = lifeorg(tmp_path, "jobs", "sweep", DATABASE_URL=sqlite_url(tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "requeued 1, failed 0, not sent 0"
    assert reload(tmp_path, job.id).status == JobStatus.COMPLETED
