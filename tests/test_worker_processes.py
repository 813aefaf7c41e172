"""Real worker processes on the real Redis broker: a worker SIGKILLed mid-step loses nothing."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeorg import ledger
from lifeorg.broker import build_broker
from lifeorg.models import AuditEntry, Job
from lifeorg.models.base import utcnow
from lifeorg.models.states import JobStatus
from tests.conftest import ROOT, clean_env, lifeorg_command, make_settings, wait_for
from tests.steps import HOLD_S, effects

pytestmark = pytest.mark.slow


@pytest.fixture
def queue_env(tmp_path: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """Environment for worker processes: this test's database and its own Redis namespace."""
    return clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LIFEORG_QUEUE_NAMESPACE=f"lifeorg-test-{uuid.uuid4().hex[:8]}",
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
    )


@pytest.fixture
def redis_broker(queue_env, tmp_path, database):
    settings = make_settings(
        tmp_path,
        database_url=queue_env["DATABASE_URL"],
        redis_url=queue_env["REDIS_URL"],
        queue_namespace=queue_env["LIFEORG_QUEUE_NAMESPACE"],
    )
    broker = build_broker(settings)
    yield broker
    for key in broker.client.keys(f"{settings.queue_namespace}:*"):
        broker.client.delete(key)


@pytest.fixture
def start_worker(queue_env, tmp_path) -> Iterator:
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            lifeorg_command("worker", "tests.steps", "--processes", "1", "--threads", "2"),
            cwd=ROOT,
            env=queue_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the test can kill all of it
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_worker_killed_mid_step_the_step_completes_exactly_once(
    database, redis_broker, start_worker, tmp_path
):
    """Given a worker SIGKILLed in the middle of a step, the sweeper hands the job to another
    worker, which completes it once; the killed attempt's writes never land."""
    signal_file = tmp_path / "attempt-1-started"
    submitted, _ = Job.submit(
        "probe_hold",
        "hold",
        {"tag": "hold", "signal": str(signal_file)},
        lease_until=utcnow() + dt.timedelta(minutes=10),
    )
    first = start_worker("first")
    assert ledger.dispatch(submitted, redis_broker)

    wait_for(signal_file.exists, timeout=60, what="the first worker to start the step")
    held = Job.get_by_id(submitted.id)
    assert (held.status, held.attempts) == (JobStatus.PROCESSING, 1)
    assert held.lease_until >= held.started_at + dt.timedelta(seconds=HOLD_S)

    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert effects("hold") == 0  # the killed attempt's write was never committed

    second = start_worker("second")
    report = ledger.sweep(held.lease_until + dt.timedelta(seconds=1), broker=redis_broker)
    assert report.requeued == 1

    done = wait_for(
        lambda: (j := Job.get_by_id(submitted.id)).status == JobStatus.COMPLETED and j,
        timeout=60,
        what="the second worker to complete the job",
    )
    assert done.attempts == 2
    assert done.leased_by.split(":")[1] != held.leased_by.split(":")[1]  # another process
    assert effects("hold") == 1

    # The killed worker's message may still be redelivered by Redis later: it must do nothing.
    assert ledger.dispatch(done, redis_broker)
    second_log = tmp_path / "second.log"
    wait_for(
        lambda: second_log.read_text().count("step=probe_hold") == 2,
        timeout=30,
        what="the second worker to take the duplicate message",
    )
    assert effects("hold") == 1
    assert Job.get_by_id(submitted.id).attempts == 2
    assert (
        AuditEntry.select()
        .where((AuditEntry.entity_type == "job") & (AuditEntry.action == "requeued"))
        .count()
        == 1
    )

    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0


def test_worker_processes_share_the_queue_through_redis(
    database, redis_broker, start_worker, queue_env
):
    """Many steps through two worker processes: every one runs exactly once."""
    start_worker("a")
    start_worker("b")
    tags = [f"many-{i}" for i in range(40)]
    jobs = []
    for tag in tags:
        job, _ = Job.submit("probe_effect", tag, {"tag": tag}, lease_until=utcnow())
        assert ledger.dispatch(job, redis_broker)
        jobs.append(job.id)

    wait_for(
        lambda: (
            Job.select().where(Job.id.in_(jobs) & (Job.status == JobStatus.COMPLETED)).count()
            == len(jobs)
        ),
        timeout=60,
        what="all jobs to complete",
    )
    assert [effects(tag) for tag in tags] == [1] * len(tags)


def test_doctor_checks_that_a_worker_answers(database, redis_broker, start_worker, queue_env):
    """With a shared broker, doctor proves the workers by sending a ping through the queue."""
    quiet = subprocess.run(
        lifeorg_command("doctor", "--worker-timeout", "1"),
        cwd=ROOT,
        env=queue_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert quiet.returncode == 1
    assert "no worker answered within 1 s" in quiet.stdout

    start_worker("doctor")
    healthy = subprocess.run(
        lifeorg_command("doctor", "--worker-timeout", "30"),
        cwd=ROOT,
        env=queue_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "a worker answered in" in healthy.stdout
    assert "all good" in healthy.stdout
