"""The database object, the base model and the field types every table shares.

``db`` is declared here once and bound at process start by ``lifeorg.database.open_database``,
so importing a model opens nothing and reads no environment.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

import peewee
from playhouse.fields import EnumField

from lifeorg.errors import InvalidTransition

db = peewee.DatabaseProxy()

# SQLite has no time zone type: instants are stored as UTC text of one fixed width, so that
# comparing the text compares the instants. PostgreSQL stores a real timestamptz.
_SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def _is_sqlite(database: peewee.Database | peewee.DatabaseProxy | None) -> bool:
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    return isinstance(database, peewee.SqliteDatabase)


class InstantField(peewee.Field):
    """A timezone-aware instant, stored in UTC; naive datetimes are refused."""

    field_type = "TIMESTAMPTZ"

    def db_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, dt.datetime):
            return value  # None, or an SQL expression such as a column.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{self.name}: naive datetime {value!r}; attach a time zone")
        value = value.astimezone(dt.UTC)
        if _is_sqlite(self.model._meta.database):
            return value.strftime(_SQLITE_INSTANT)
        return value

    def python_value(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class JSONField(peewee.TextField):
    """JSON stored as text: the same representation on SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return json.loads(value)


class _StateAccessor(peewee.FieldAccessor):
    """Checks every assignment of a state field against the entity's transition table."""

    def __set__(self, instance: peewee.Model, value: Any) -> None:
        if value is not None:
            value = self.field.enum_class(value)
        current = instance.__data__.get(self.name)
        # A row not yet saved has no state to leave: its status is simply chosen.
        saved = instance.get_id() is not None
        if saved and current is not None and value != current:
            self.field.check(current, value)
        super().__set__(instance, value)


class StateField(EnumField):
    """A status column whose every change must appear in a table of valid transitions."""

    accessor_class = _StateAccessor

    def __init__(
        self,
        enum_class: type[StrEnum],
        transitions: Mapping[StrEnum, frozenset[StrEnum]],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        missing = set(enum_class) - set(transitions)
        if missing:
            raise ValueError(f"transition table for {enum_class.__name__} misses {missing}")
        self.transitions = transitions
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("index", True)
        super().__init__(enum_class, *args, **kwargs)

    def allows(self, current: StrEnum, target: StrEnum) -> bool:
        """Whether the table allows moving from current to target."""
        return target in self.transitions[self.enum_class(current)]

    def check(self, current: StrEnum, target: StrEnum) -> None:
        """Raise InvalidTransition unless the table allows current -> target."""
        if not self.allows(current, target):
            raise InvalidTransition(self.model.__name__, self.name, current, target)


class BaseModel(peewee.Model):
    """Base of every table: bound to ``db``, with snake_case table names."""

    state_field_name: ClassVar[str | None] = None

    class Meta:
        database = db
        legacy_table_names = False

    @classmethod
    def state_field(cls) -> StateField:
        """The entity's status column."""
        if cls.state_field_name is None:
            raise TypeError(f"{cls.__name__} has no status column")
        return cls._meta.fields[cls.state_field_name]

    @classmethod
    def move_where(
        cls, condition: peewee.Expression | None, current: StrEnum, target: StrEnum, **changes: Any
    ) -> int:
        """Move the rows matching ``condition`` that are still ``current`` to ``target``.

        A compare-and-set on the status column: returns how many rows moved, so a caller
        racing another process learns whether it won. Raises InvalidTransition when the
        entity's table forbids current -> target.
        """
        field = cls.state_field()
        current, target = field.enum_class(current), field.enum_class(target)
        field.check(current, target)
        if "updated_at" in cls._meta.fields:
            changes.setdefault("updated_at", utcnow())
        values = {field: target, **{cls._meta.fields[n]: v for n, v in changes.items()}}
        where = field == current
        if condition is not None:
            where &= condition
        return cls.update(values).where(where).execute()

    def transition(self, target: StrEnum, **changes: Any) -> bool:
        """Move this row to ``target`` if it is still in the state we loaded.

        Returns False when another process changed it first; raises InvalidTransition when
        the transition table forbids the change.
        """
        model = type(self)
        field = model.state_field()
        if "updated_at" in model._meta.fields:
            changes.setdefault("updated_at", utcnow())
        moved = model.move_where(
            model._meta.primary_key == self.get_id(), getattr(self, field.name), target, **changes
        )
        if moved:
            self.__data__[field.name] = field.enum_class(target)
            self.__data__.update(changes)
        return bool(moved)


class TimestampedModel(BaseModel):
    """A table whose rows carry created_at and updated_at instants."""

    created_at = InstantField(default=utcnow)
    updated_at = InstantField(default=utcnow)

    def save(self, *args: Any, **kwargs: Any) -> int:
        if self.get_id() is not None and not kwargs.get("force_insert"):
            self.updated_at = utcnow()
        return super().save(*args, **kwargs)
