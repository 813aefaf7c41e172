"""Submitting, dispatching and recovering pipeline work through the job ledger.

A job row is written in the same transaction as the work that asks for it; its message
(carrying only the job id) is sent after that transaction commits. If the message is lost
(a broker restart, a worker killed mid-step), the row's lease runs out and ``sweep`` sends it
again. Workers take jobs by compare-and-set, so a message delivered twice runs once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import peewee

from lifeorg.models import Job
from lifeorg.models.audit import record
from lifeorg.models.base import db, utcnow
from lifeorg.models.states import AuditAction, AuditActor, JobStatus

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"
# Steps with their own queue, so a burst of one kind cannot starve the others: replies go
# out while a mailbox of 500 mails is being read.
STEP_QUEUES: dict[str, str] = {
    "notify": "notify",
    "tag_image": "llm",
    "extract_email": "llm",
}
# A sweep handles at most this many rows, so one sweep stays short after a long outage;
# the next sweep takes the rest.
SWEEP_BATCH = 500
# Default for how long a queued job may wait for a worker before it is sent again.
DISPATCH_LEASE = dt.timedelta(minutes=10)
# Default retry budget of a step, counting the first attempt.
DEFAULT_MAX_ATTEMPTS = 5

_local = threading.local()


def configured_dispatch_lease() -> dt.timedelta:
    """``LIFEORG_JOB_DISPATCH_LEASE_S`` of the running process, or the default outside one."""
    from lifeorg import runtime

    try:
        return dt.timedelta(seconds=runtime.current().settings.job_dispatch_lease_s)
    except RuntimeError:
        return DISPATCH_LEASE


def queue_for(kind: str) -> str:
    """The queue a step's messages travel on."""
    return STEP_QUEUES.get(kind, DEFAULT_QUEUE)


@contextlib.contextmanager
def unit_of_work(*, write: bool = False) -> Iterator[None]:
    """A transaction whose submitted jobs are dispatched only once it has committed.

    Nested, it is a savepoint: rolling it back forgets the jobs submitted inside it. With
    ``write`` (a step's writes), SQLite takes its write lock at the start, so the
    transaction never has to upgrade a read snapshot that another commit made stale.
    """
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        _local.pending = []
    mark = len(_local.pending)
    _local.depth = depth + 1
    try:
        with _transaction(write and depth == 0):
            yield
    except BaseException:
        del _local.pending[mark:]
        raise
    finally:
        _local.depth = depth
    if depth == 0:
        pending, _local.pending = _local.pending, []
        for job in pending:
            dispatch(job)


def _transaction(immediate: bool) -> Any:
    if immediate and isinstance(db.obj, peewee.SqliteDatabase) and not db.in_transaction():
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


def submit(
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    owner_id: int | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    dispatch_lease: dt.timedelta | None = None,
) -> Job:
    """Record a step to run (once per ``key``) and send it after the transaction commits.

    Inside a transaction this must run within ``unit_of_work``, so the message never
    reaches a worker before the row is visible.
    """
    in_unit = getattr(_local, "depth", 0) > 0
    if db.in_transaction() and not in_unit:
        raise RuntimeError("submit() inside a transaction must run within ledger.unit_of_work()")
    job, created = Job.submit(
        kind,
        key,
        payload,
        owner_id=owner_id,
        max_attempts=max_attempts,
        lease_until=utcnow()
        + (configured_dispatch_lease() if dispatch_lease is None else dispatch_lease),
    )
    # The row itself records the creation; the audit log records what happens to it after.
    if created:
        if in_unit:
            _local.pending.append(job)
        else:
            dispatch(job)
    return job


def dispatch(job: Job, broker: dramatiq.Broker | None = None) -> bool:
    """Send a job's message; False when the broker is unreachable (the sweeper resends)."""
    broker = broker or dramatiq.get_broker()
    message = dramatiq.Message(
        queue_name=queue_for(job.kind),
        actor_name=job.kind,
        args=(job.id,),
        kwargs={},
        options={},
    )
    try:
        # A process that only submits work declares no actors, so no queues either.
        if message.queue_name not in broker.get_declared_queues():
            broker.declare_queue(message.queue_name)
        broker.enqueue(message)
    except Exception as exc:
        log.warning("job %s (%s) not sent, the sweeper will resend it: %s", job.id, job.kind, exc)
        return False
    return True


@dataclass
class SweepReport:
    """What one sweep did."""

    requeued: int = 0
    failed: int = 0
    not_sent: int = 0


def sweep(
    now: dt.datetime | None = None,
    *,
    broker: dramatiq.Broker | None = None,
    dispatch_lease: dt.timedelta | None = None,
    batch: int = SWEEP_BATCH,
) -> SweepReport:
    """Hand on every unfinished job whose lease ran out: resend it, or fail it when spent."""
    now = now or utcnow()
    if dispatch_lease is None:
        dispatch_lease = configured_dispatch_lease()
    report = SweepReport()
    for job in Job.lease_expired(now, batch):
        with db.atomic():
            outcome = _recover(job, now, dispatch_lease)
        if outcome is JobStatus.FAILED:
            report.failed += 1
        elif outcome is JobStatus.QUEUED:
            report.requeued += 1
            if not dispatch(job, broker):
                report.not_sent += 1
    if report.requeued or report.failed:
        log.info("sweep: %s", report)
    return report


def _recover(job: Job, now: dt.datetime, dispatch_lease: dt.timedelta) -> JobStatus | None:
    """Requeue or fail one expired job by compare-and-set; None if someone else moved it."""
    lease = now + dispatch_lease
    if job.status == JobStatus.PROCESSING and job.attempts >= job.max_attempts:
        error = f"the worker's lease ran out on attempt {job.attempts} of {job.max_attempts}"
        moved = Job.move_where(
            (Job.id == job.id) & (Job.attempts == job.attempts),
            JobStatus.PROCESSING,
            JobStatus.FAILED,
            last_error=error,
            lease_until=None,
            leased_by=None,
        )
        if moved:
            record(job, AuditAction.UPDATED, AuditActor.SYSTEM, {"status": "failed", "why": error})
            return JobStatus.FAILED
        return None
    if job.status == JobStatus.PROCESSING:
        moved = Job.move_where(
            (Job.id == job.id) & (Job.attempts == job.attempts),
            JobStatus.PROCESSING,
            JobStatus.QUEUED,
            lease_until=lease,
            leased_by=None,
        )
    else:  # queued, but no worker took it in time: its message was lost or is stuck
        moved = (
            Job.update(lease_until=lease, updated_at=now)
            .where(
                (Job.id == job.id)
                & (Job.status == JobStatus.QUEUED)
                & (Job.lease_until == job.lease_until)
            )
            .execute()
        )
    if not moved:
        return None
    record(
        job,
        AuditAction.REQUEUED,
        AuditActor.SYSTEM,
        {"was": str(job.status), "attempts": job.attempts},
    )
    return JobStatus.QUEUED


def requeue(job_id: int, *, extra_attempts: int = DEFAULT_MAX_ATTEMPTS) -> Job:
    """Give a failed job a fresh retry budget and send it again (``lifeorg jobs requeue``)."""
    job = Job.get_by_id(job_id)
    with db.atomic():
        # Attempts only ever grow: the attempt number is the fencing token of a lease.
        if not job.transition(
            JobStatus.QUEUED,
            max_attempts=job.attempts + extra_attempts,
            lease_until=utcnow() + configured_dispatch_lease(),
            last_error=job.last_error,
        ):
            raise RuntimeError(f"job {job_id} changed while being requeued; try again")
        record(job, AuditAction.REQUEUED, AuditActor.USER, {"was": "failed"})
    dispatch(job)
    return job
