"""A record of each backup run."""

from __future__ import annotations

import peewee

from lifeorg.models.base import BaseModel, InstantField, StateField, utcnow
from lifeorg.models.states import BACKUP_TRANSITIONS, BackupStatus


class Backup(BaseModel):
    """One backup: when, where it was written, and how it went."""

    state_field_name = "status"

    started_at = InstantField(default=utcnow, index=True)
    finished_at = InstantField(null=True)
    location = peewee.TextField()
    size_bytes = peewee.BigIntegerField(null=True)
    status = StateField(BackupStatus, BACKUP_TRANSITIONS, default=BackupStatus.RUNNING)
    error = peewee.TextField(null=True)
