"""The project's own exceptions, drawn once as a tree.

LifeorgError
├── ConfigError            the settings are missing or malformed; the message says which
├── DatabaseError          the database cannot be opened or has an unknown URL
│   └── SchemaOutOfDate    migrations are pending and this process may not apply them
├── BrokerError            the queue broker cannot be built or reached
├── InvalidTransition      a status change that the entity's transition table forbids
└── StepError              a pipeline step failed
    └── PermanentStepError the step can never succeed with this input; not retried
"""

from __future__ import annotations


class LifeorgError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(LifeorgError):
    """The configuration is invalid; the message names each variable at fault."""


class DatabaseError(LifeorgError):
    """The database cannot be opened or used."""


class SchemaOutOfDate(DatabaseError):
    """The schema is behind the code and this process does not migrate."""


class BrokerError(LifeorgError):
    """The message broker cannot be built or reached."""


class InvalidTransition(LifeorgError):
    """A status change that the entity's transition table does not allow."""

    def __init__(self, entity: str, field: str, current: object, target: object) -> None:
        super().__init__(f"{entity}.{field} cannot change from {current!s} to {target!s}")
        self.entity = entity
        self.current = current
        self.target = target


class StepError(LifeorgError):
    """A pipeline step failed; it will be retried."""


class PermanentStepError(StepError):
    """A pipeline step failed in a way no retry can fix; the job is marked failed."""
