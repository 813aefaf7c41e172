"""The audit log: every change, who made it, and why."""

from __future__ import annotations

from typing import Any

import peewee

from lifeorg.models.base import BaseModel, InstantField, JSONField, utcnow
from lifeorg.models.states import AuditAction, AuditActor


class AuditEntry(BaseModel):
    """One recorded change. ``owner_id`` is a plain number so entries outlive /forget."""

    owner_id = peewee.BigIntegerField(null=True, index=True)
    entity_type = peewee.CharField(max_length=32)
    entity_id = peewee.CharField(max_length=64)
    action = peewee.CharField(max_length=16, choices=[(a, a) for a in AuditAction])
    actor = peewee.CharField(max_length=8, choices=[(a, a) for a in AuditActor])
    detail = JSONField(null=True)
    at = InstantField(default=utcnow, index=True)

    class Meta:
        indexes = ((("entity_type", "entity_id"), False),)


def record(
    entity: peewee.Model,
    action: AuditAction,
    actor: AuditActor = AuditActor.SYSTEM,
    detail: dict[str, Any] | None = None,
    owner_id: int | None = None,
) -> AuditEntry:
    """Record that ``actor`` did ``action`` to ``entity``; domain operations call this once."""
    if owner_id is None:
        owner_id = getattr(entity, "owner_id", None)
    return AuditEntry.create(
        owner_id=owner_id,
        entity_type=entity._meta.table_name,
        entity_id=str(entity.get_id()),
        action=AuditAction(action),
        actor=AuditActor(actor),
        detail=detail,
    )
