"""The project's own exceptions, drawn once as a tree.

LifeorgError
├── ConfigError            the settings are missing or malformed; the message says which
├── DatabaseError          the database cannot be opened or has an unknown URL
│   └── SchemaOutOfDate    migrations are pending and this process may not apply them
├── BrokerError            the queue broker cannot be built or reached
├── InvalidTransition      a status change that the entity's transition table forbids
├── StepError              a pipeline step failed
│   ├── PermanentStepError the step can never succeed with this input; not retried
│   └── StepDeferred       the step cannot run yet (a rate limit); later, at no attempt's cost
└── LLMError               a model call did not give a usable answer
    ├── LLMNotConfigured   no model is configured (the offline path applies)
    ├── CircuitOpen        recent calls kept failing; the offline path applies for a while
    ├── LLMUnavailable     the provider failed (5xx, connection): retry later
    │   ├── LLMTimeout     no answer within the configured timeout
    │   └── LLMRateLimited 429: retry after ``retry_after_s``
    ├── LLMRefused         the model declined to answer
    └── LLMInvalidOutput   the answer did not match the expected schema: a failure, not data
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


class StepDeferred(StepError):
    """The step cannot run yet; it runs again after ``retry_after_s`` without spending an
    attempt of its retry budget."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMError(LifeorgError):
    """A model call did not give a usable answer."""


class LLMNotConfigured(LLMError):
    """No model is configured."""


class CircuitOpen(LLMError):
    """Recent model calls kept failing; calls are refused for a while."""


class LLMUnavailable(LLMError):
    """The provider failed in a way a later retry may fix."""


class LLMTimeout(LLMUnavailable):
    """The provider did not answer in time."""


class LLMRateLimited(LLMUnavailable):
    """The provider asked us to slow down."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMRefused(LLMError):
    """The model declined to answer."""


class LLMInvalidOutput(LLMError):
    """The model's answer did not validate against the expected schema."""
