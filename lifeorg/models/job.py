"""The job ledger: a durable row for every pipeline step that must not be lost.

The broker only carries a job's id. The row says whether the step is waiting (queued),
running under a lease (processing), done (completed) or given up (failed). A worker takes a
job by compare-and-set on its status; the attempt number it took it with is its fencing
token, so a worker that lost its lease cannot complete the job afterwards.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee

from lifeorg.models.base import InstantField, JSONField, StateField, TimestampedModel, utcnow
from lifeorg.models.states import JOB_TRANSITIONS, JobStatus
from lifeorg.models.user import User

# What a step's model calls used, added up over its attempts.
USAGE_FIELDS = ("model", "tokens_in", "tokens_out", "cost_usd", "latency_ms")
# Errors are kept for diagnosis, not as logs: the tail of a long traceback is what matters.
MAX_ERROR_CHARS = 4000


class Job(TimestampedModel):
    """One unit of pipeline work, its status, its attempts and what it cost."""

    state_field_name = "status"

    kind = peewee.CharField(max_length=64, index=True)
    idempotency_key = peewee.CharField(max_length=255, unique=True)
    owner = peewee.ForeignKeyField(User, null=True, on_delete="CASCADE", index=True)
    payload = JSONField(default=dict)
    status = StateField(JobStatus, JOB_TRANSITIONS, default=JobStatus.QUEUED)
    attempts = peewee.IntegerField(default=0)
    max_attempts = peewee.IntegerField(default=5)
    last_error = peewee.TextField(null=True)
    # Until when the current holder (a queue for queued rows, a worker for processing rows)
    # owns the job; past it the sweeper hands the job on.
    lease_until = InstantField(null=True)
    leased_by = peewee.CharField(max_length=128, null=True)
    started_at = InstantField(null=True)
    finished_at = InstantField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    result = JSONField(null=True)
    # Filled in by LLM steps.
    model = peewee.CharField(max_length=128, null=True)
    tokens_in = peewee.IntegerField(null=True)
    tokens_out = peewee.IntegerField(null=True)
    cost_usd = peewee.DoubleField(null=True)
    latency_ms = peewee.IntegerField(null=True)

    class Meta:
        # The sweeper's query: unfinished rows whose lease ran out.
        indexes = ((("status", "lease_until"), False),)

    @classmethod
    def submit(
        cls,
        kind: str,
        key: str,
        payload: dict[str, Any],
        *,
        owner_id: int | None = None,
        max_attempts: int = 5,
        lease_until: dt.datetime,
    ) -> tuple[Job, bool]:
        """Create the job for ``key`` unless it exists; returns (job, created)."""
        try:
            with cls._meta.database.atomic():  # a savepoint, so a conflict spoils nothing
                job = cls.create(
                    kind=kind,
                    idempotency_key=key,
                    payload=payload,
                    owner=owner_id,
                    max_attempts=max_attempts,
                    lease_until=lease_until,
                )
            return job, True
        except peewee.IntegrityError:
            job = cls.get_or_none(cls.idempotency_key == key)
            if job is None:
                raise  # not a duplicate key: a missing owner, say
            return job, False

    @classmethod
    def claim(cls, job_id: int, worker: str, lease_until: dt.datetime) -> Job | None:
        """Take a queued job for ``worker``; None when it is not queued (done, taken, gone)."""
        now = utcnow()
        moved = cls.move_where(
            cls.id == job_id,
            JobStatus.QUEUED,
            JobStatus.PROCESSING,
            attempts=cls.attempts + 1,
            leased_by=worker,
            lease_until=lease_until,
            started_at=now,
            finished_at=None,
        )
        return cls.get_by_id(job_id) if moved else None

    def complete(self, result: Any = None, **changes: Any) -> bool:
        """Mark this attempt completed; False when the lease was lost to another worker."""
        now = utcnow()
        return self._settle(
            JobStatus.COMPLETED,
            result=result,
            finished_at=now,
            duration_ms=_ms_since(self.started_at, now),
            lease_until=None,
            last_error=None,
            **changes,
        )

    def fail(self, error: str, *, retry_until: dt.datetime | None) -> bool:
        """Record a failed attempt: queued again until ``retry_until``, or failed for good."""
        now = utcnow()
        retry = retry_until is not None and self.attempts < self.max_attempts
        return self._settle(
            JobStatus.QUEUED if retry else JobStatus.FAILED,
            last_error=error[-MAX_ERROR_CHARS:],
            finished_at=now,
            duration_ms=_ms_since(self.started_at, now),
            lease_until=retry_until if retry else None,
            leased_by=None,
        )

    def defer(self, reason: str, *, retry_until: dt.datetime) -> bool:
        """Put this attempt back, not counted: the budget grows by the attempt it took."""
        return self._settle(
            JobStatus.QUEUED,
            last_error=f"deferred: {reason}"[:MAX_ERROR_CHARS],
            max_attempts=self.max_attempts + 1,
            lease_until=retry_until,
            leased_by=None,
        )

    def _settle(self, target: JobStatus, **changes: Any) -> bool:
        """End this attempt, fenced by the attempt number it was claimed with.

        The model calls the attempt made (``lifeorg.llm`` adds them to this row) are saved
        with it, whether it succeeded or not: a failed call still cost money.
        """
        cls = type(self)
        changes = {name: getattr(self, name) for name in USAGE_FIELDS} | changes
        moved = cls.move_where(
            (cls.id == self.id) & (cls.attempts == self.attempts),
            JobStatus.PROCESSING,
            target,
            **changes,
        )
        if moved:
            self.__data__["status"] = target
            self.__data__.update(changes)
        return bool(moved)

    @classmethod
    def lease_expired(cls, now: dt.datetime, limit: int) -> peewee.ModelSelect:
        """Unfinished jobs whose holder's lease ran out, oldest lease first."""
        return (
            cls.select()
            .where(
                cls.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING]) & (cls.lease_until < now)
            )
            .order_by(cls.lease_until)
            .limit(limit)
        )


def _ms_since(start: dt.datetime | None, end: dt.datetime) -> int | None:
    return None if start is None else int((end - start).total_seconds() * 1000)
