"""The job ledger with the in-process broker: exactly-once steps, retries, failures, the sweeper."""

from __future__ import annotations

import datetime as dt

import dramatiq
import pytest

from lifeorg import ledger
from lifeorg.models import AuditEntry, Job
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import JobStatus
from tests.steps import effects


def job(job_id: int) -> Job:
    return Job.get_by_id(job_id)


def requeued(job_id: int) -> int:
    return (
        AuditEntry.select()
        .where(
            (AuditEntry.entity_type == "job")
            & (AuditEntry.entity_id == str(job_id))
            & (AuditEntry.action == "requeued")
        )
        .count()
    )


def test_a_submitted_step_runs_once_and_is_completed(settle):
    """Given a submitted step, the worker runs it and the ledger says completed with timings."""
    submitted = ledger.submit("probe_effect", "once", {"tag": "once"})
    settle()

    done = job(submitted.id)
    assert done.status == JobStatus.COMPLETED
    assert done.attempts == 1
    assert done.result == {"attempt": 1}
    assert done.duration_ms is not None and done.lease_until is None
    assert effects("once") == 1


def test_submitting_the_same_key_twice_makes_one_job(settle):
    """The idempotency key makes a repeated submit (a redelivered update, say) a no-op."""
    first = ledger.submit("probe_effect", "same-key", {"tag": "same"})
    second = ledger.submit("probe_effect", "same-key", {"tag": "same"})
    settle()

    assert first.id == second.id
    assert Job.select().where(Job.idempotency_key == "same-key").count() == 1
    assert effects("same") == 1


def test_a_message_delivered_twice_changes_nothing_the_second_time(settle, broker):
    """Duplicate delivery of one job id runs the step once."""
    submitted = ledger.submit("probe_effect", "dup", {"tag": "dup"})
    for _ in range(3):
        ledger.dispatch(submitted, broker)
    settle()

    assert effects("dup") == 1
    assert job(submitted.id).attempts == 1


def test_a_failing_step_is_retried_and_its_partial_writes_undone(settle):
    """A step that fails twice then works: three attempts, one effect, error cleared."""
    submitted = ledger.submit("probe_flaky", "flaky", {"tag": "flaky", "failures": 2})
    settle()

    done = job(submitted.id)
    assert done.status == JobStatus.COMPLETED
    assert done.attempts == 3
    assert done.last_error is None
    assert effects("flaky") == 1  # the failed attempts' writes were rolled back


def test_a_step_that_keeps_failing_is_marked_failed_with_its_error(settle):
    """When the attempts are spent the job is failed, with the last traceback kept."""
    submitted = ledger.submit(
        "probe_flaky", "broken", {"tag": "broken", "failures": 99}, max_attempts=3
    )
    settle()

    failed = job(submitted.id)
    assert failed.status == JobStatus.FAILED
    assert failed.attempts == 3
    assert "flaky failure on attempt 3" in failed.last_error
    assert effects("broken") == 0


def test_a_permanent_error_fails_at_once(settle):
    """An input that can never work is not retried."""
    submitted = ledger.submit("probe_permanent", "perm", {"tag": "perm"})
    settle()

    failed = job(submitted.id)
    assert failed.status == JobStatus.FAILED
    assert failed.attempts == 1
    assert "can never work" in failed.last_error


def test_follow_up_steps_are_sent_only_if_the_step_commits(settle):
    """A step's submitted follow-ups run when it completes, and vanish when it fails."""
    ok = ledger.submit("probe_chain", "chain-ok", {"tag": "chain-ok"})
    bad = ledger.submit("probe_chain", "chain-bad", {"tag": "chain-bad", "fail": True})
    settle()

    assert job(ok.id).status == JobStatus.COMPLETED
    assert effects("chain-ok") == 1
    assert job(bad.id).status == JobStatus.FAILED
    assert effects("chain-bad") == 0
    assert Job.select().where(Job.idempotency_key.startswith("chain:chain-bad")).count() == 0


def test_submit_inside_a_bare_transaction_is_refused(database):
    """A message sent before its row commits could reach a worker first; so it is refused."""
    with pytest.raises(RuntimeError, match="unit_of_work"), db.atomic():
        ledger.submit("probe_effect", "bare", {"tag": "bare"})


def test_unit_of_work_dispatches_after_commit_and_not_after_rollback(database, broker):
    """Within a unit of work the message waits for the commit; a rollback sends nothing."""
    broker.flush_all()
    with ledger.unit_of_work():
        ledger.submit("probe_effect", "uow-ok", {"tag": "uow"})
        assert broker.queues["default"].qsize() == 0  # not yet: the row is not committed
    assert broker.queues["default"].qsize() == 1

    with pytest.raises(ZeroDivisionError), ledger.unit_of_work():
        ledger.submit("probe_effect", "uow-rolled-back", {"tag": "uow"})
        1 / 0  # noqa: B018
    assert broker.queues["default"].qsize() == 1
    assert not Job.select().where(Job.idempotency_key == "uow-rolled-back").exists()
    broker.flush_all()


def test_a_rolled_back_savepoint_forgets_its_jobs(database, broker):
    """A nested unit of work that fails takes its submitted jobs with it; the outer ones go."""
    broker.flush_all()
    with ledger.unit_of_work():
        ledger.submit("probe_effect", "outer", {"tag": "outer"})
        with pytest.raises(ZeroDivisionError), ledger.unit_of_work():
            ledger.submit("probe_effect", "inner", {"tag": "inner"})
            1 / 0  # noqa: B018
    assert broker.queues["default"].qsize() == 1
    assert [j.idempotency_key for j in Job.select()] == ["outer"]
    broker.flush_all()


def test_sweeper_resends_a_job_whose_message_was_lost(settle, broker):
    """A queued job whose message never arrived is sent again once its lease ran out."""
    lost = ledger.submit("probe_effect", "lost", {"tag": "lost"}, dispatch_lease=dt.timedelta(0))
    broker.flush_all()  # the broker lost the message (a restart of Redis, say)

    report = ledger.sweep(utcnow() + dt.timedelta(seconds=1), broker=broker)
    settle()

    assert (report.requeued, report.failed) == (1, 0)
    assert job(lost.id).status == JobStatus.COMPLETED
    assert effects("lost") == 1
    assert requeued(lost.id) == 1


def test_sweeper_takes_a_job_from_a_dead_worker(database, broker, settle):
    """A job claimed by a worker that died is requeued after its lease and completes once."""
    broker.flush_all()
    submitted, _ = Job.submit("probe_effect", "dead", {"tag": "dead"}, lease_until=utcnow())
    lease = utcnow() + dt.timedelta(seconds=90)
    assert Job.claim(submitted.id, "a-worker-that-died", lease) is not None

    early = ledger.sweep(utcnow(), broker=broker)
    assert early.requeued == 0  # the lease still runs: the worker may just be slow
    late = ledger.sweep(lease + dt.timedelta(seconds=1), broker=broker)
    settle()

    assert late.requeued == 1
    done = job(submitted.id)
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    assert effects("dead") == 1
    assert requeued(submitted.id) == 1


def test_sweeper_fails_a_job_whose_attempts_died_with_their_workers(database, broker):
    """A step that kills its worker every time stops being retried when attempts are spent."""
    submitted, _ = Job.submit(
        "probe_effect", "poison", {"tag": "poison"}, lease_until=utcnow(), max_attempts=1
    )
    lease = utcnow() + dt.timedelta(seconds=1)
    Job.claim(submitted.id, "worker-1", lease)

    report = ledger.sweep(lease + dt.timedelta(seconds=1), broker=broker)

    assert (report.requeued, report.failed) == (0, 1)
    failed = job(submitted.id)
    assert failed.status == JobStatus.FAILED
    assert "lease ran out" in failed.last_error


def test_a_worker_that_lost_its_lease_cannot_complete(database):
    """Fencing: after a requeue and a new claim, the old holder's completion is refused."""
    submitted, _ = Job.submit("probe_effect", "fence", {"tag": "fence"}, lease_until=utcnow())
    old = Job.claim(submitted.id, "old", utcnow() + dt.timedelta(seconds=1))
    ledger.sweep(utcnow() + dt.timedelta(seconds=5), broker=dramatiq.get_broker())
    new = Job.claim(submitted.id, "new", utcnow() + dt.timedelta(seconds=60))

    assert old.complete(result={"by": "old"}) is False
    assert new.complete(result={"by": "new"}) is True
    assert job(submitted.id).result == {"by": "new"}
    dramatiq.get_broker().flush_all()


def test_requeue_gives_a_failed_job_a_fresh_budget(settle):
    """`lifeorg jobs requeue` moves a failed job back to the queue and it runs."""
    submitted = ledger.submit(
        "probe_flaky", "again", {"tag": "again", "failures": 1}, max_attempts=1
    )
    settle()
    assert job(submitted.id).status == JobStatus.FAILED

    ledger.requeue(submitted.id)
    settle()

    done = job(submitted.id)
    assert (done.status, done.attempts) == (JobStatus.COMPLETED, 2)
    assert done.max_attempts > 2
    assert effects("again") == 1


def test_the_configured_leases_are_the_ones_used(settle, broker, monkeypatch):
    """LIFEORG_JOB_DISPATCH_LEASE_S sets a new job's lease; LIFEORG_JOB_LEASE_GRACE_S is
    added to a step's time limit; a failed attempt is leased for its backoff, not minutes."""
    from lifeorg import runtime
    from lifeorg.actors.step import MAX_BACKOFF_MS, backoff_ms, lease_grace

    monkeypatch.setattr(runtime.current().settings, "job_dispatch_lease_s", 7)
    monkeypatch.setattr(runtime.current().settings, "job_lease_grace_s", 3)
    before = utcnow()
    queued = ledger.submit("probe_effect", "leased", {"tag": "leased"})
    # The row as submitted (a worker may claim it at once and lease it for its time limit).
    assert dt.timedelta(seconds=7) <= queued.lease_until - before < dt.timedelta(seconds=9)
    assert lease_grace() == dt.timedelta(seconds=3)
    assert 1_000 <= backoff_ms(1) <= 1_250 and 2_000 <= backoff_ms(2) <= 2_500
    assert backoff_ms(30) == MAX_BACKOFF_MS
    settle()
    assert job(queued.id).status == JobStatus.COMPLETED
