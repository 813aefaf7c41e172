"""Every enumeration of the data model, and one table of valid transitions per entity.

A status changes only along an edge of its table (``BaseModel.transition`` or plain
assignment, both checked); anything else raises ``InvalidTransition``.
"""

from __future__ import annotations

from enum import StrEnum


def _table(edges: dict[StrEnum, set[StrEnum]]) -> dict[StrEnum, frozenset[StrEnum]]:
    return {state: frozenset(targets) for state, targets in edges.items()}


class MemoryStatus(StrEnum):
    CONFIRMED = "confirmed"
    PENDING = "pending"


# A pending memory waits for the user to say what it is; once decided it stays decided.
MEMORY_TRANSITIONS = _table(
    {
        MemoryStatus.PENDING: {MemoryStatus.CONFIRMED},
        MemoryStatus.CONFIRMED: set(),
    }
)


class TagStatus(StrEnum):
    SUGGESTED = "suggested"
    CONFIRMED = "confirmed"


TAG_TRANSITIONS = _table(
    {
        TagStatus.SUGGESTED: {TagStatus.CONFIRMED},
        TagStatus.CONFIRMED: set(),
    }
)


class TaskState(StrEnum):
    NOT_DONE = "NOT_DONE"
    DONE = "DONE"


# DONE -> NOT_DONE is undo of a completion.
TASK_TRANSITIONS = _table(
    {
        TaskState.NOT_DONE: {TaskState.DONE},
        TaskState.DONE: {TaskState.NOT_DONE},
    }
)


class ReminderState(StrEnum):
    SCHEDULED = "scheduled"
    FIRED = "fired"
    SNOOZED = "snoozed"
    CANCELLED = "cancelled"
    MISSED = "missed"


# scheduled/snoozed -> fired when sent on time, -> missed when found late (then sent once,
# marked late, -> fired). A fired recurring reminder is scheduled again; a fired one can be
# snoozed. cancelled -> scheduled is undo of a cancellation; a new time given to a snoozed or
# missed reminder schedules it again.
REMINDER_TRANSITIONS = _table(
    {
        ReminderState.SCHEDULED: {
            ReminderState.FIRED,
            ReminderState.MISSED,
            ReminderState.CANCELLED,
        },
        ReminderState.SNOOZED: {
            ReminderState.FIRED,
            ReminderState.MISSED,
            ReminderState.CANCELLED,
            ReminderState.SCHEDULED,
        },
        ReminderState.MISSED: {
            ReminderState.FIRED,
            ReminderState.CANCELLED,
            ReminderState.SCHEDULED,
        },
        ReminderState.FIRED: {
            ReminderState.SCHEDULED,
            ReminderState.SNOOZED,
            ReminderState.CANCELLED,
        },
        ReminderState.CANCELLED: {ReminderState.SCHEDULED},
    }
)


class EventStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"


# Only a suggestion is decided; a confirmed event can be cancelled by its source (an ICS
# METHOD:CANCEL) or by the user, which rejects it.
EVENT_TRANSITIONS = _table(
    {
        EventStatus.PENDING: {EventStatus.CONFIRMED, EventStatus.REJECTED, EventStatus.EXPIRED},
        EventStatus.CONFIRMED: {EventStatus.REJECTED},
        EventStatus.REJECTED: {EventStatus.CONFIRMED},
        EventStatus.EXPIRED: set(),
    }
)


class EventSource(StrEnum):
    EMAIL = "email"
    MANUAL = "manual"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


# processing -> queued is a retry or a requeue of a dead worker's lease;
# failed -> queued is a manual requeue; queued -> failed is a sweep that found the
# attempts used up.
JOB_TRANSITIONS = _table(
    {
        JobStatus.QUEUED: {JobStatus.PROCESSING, JobStatus.FAILED},
        JobStatus.PROCESSING: {JobStatus.COMPLETED, JobStatus.QUEUED, JobStatus.FAILED},
        JobStatus.COMPLETED: set(),
        JobStatus.FAILED: {JobStatus.QUEUED},
    }
)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


OUTBOX_TRANSITIONS = _table(
    {
        OutboxStatus.PENDING: {OutboxStatus.SENT, OutboxStatus.FAILED},
        OutboxStatus.SENT: set(),
        OutboxStatus.FAILED: {OutboxStatus.PENDING},
    }
)


class BackupStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


BACKUP_TRANSITIONS = _table(
    {
        BackupStatus.RUNNING: {BackupStatus.COMPLETED, BackupStatus.FAILED},
        BackupStatus.COMPLETED: set(),
        BackupStatus.FAILED: set(),
    }
)


class AuditAction(StrEnum):
    CREATED = "created"
    CONFIRMED = "confirmed"
    DELETED = "deleted"
    EXPIRED = "expired"
    FIRED = "fired"
    UPDATED = "updated"
    REJECTED = "rejected"
    REQUEUED = "requeued"
    # /forget: one entry with counts only; every other entry of the user loses its detail.
    FORGOTTEN = "forgotten"


class AuditActor(StrEnum):
    USER = "user"
    SYSTEM = "system"
    LLM = "llm"


class MediaType(StrEnum):
    IMAGE = "image"
