"""The data model: one module per entity, all bound to ``lifeorg.models.base.db``."""

from lifeorg.models.audit import AuditEntry
from lifeorg.models.backup import Backup
from lifeorg.models.conversation import ButtonPress, RefusedUser
from lifeorg.models.event import Event
from lifeorg.models.image import MemoryImage
from lifeorg.models.inbound import MailboxState, ProcessedEmail, ProcessedUpdate
from lifeorg.models.job import Job
from lifeorg.models.memory import Memory, MemoryTag
from lifeorg.models.outbox import OutboxMessage
from lifeorg.models.reminder import Reminder
from lifeorg.models.search import SearchDoc
from lifeorg.models.task import Task
from lifeorg.models.user import User

# Every table, parents before children.
ALL_MODELS = [
    User,
    Memory,
    MemoryTag,
    MemoryImage,
    Task,
    Reminder,
    Event,
    SearchDoc,
    Job,
    AuditEntry,
    ProcessedUpdate,
    ProcessedEmail,
    MailboxState,
    OutboxMessage,
    Backup,
    ButtonPress,
    RefusedUser,
]

__all__ = [m.__name__ for m in ALL_MODELS] + ["ALL_MODELS"]
