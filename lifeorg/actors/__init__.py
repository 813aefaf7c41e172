"""Every Dramatiq actor of the pipeline. Import only after ``lifeorg.broker.setup_broker``.

Actors are thin: they take a job id, and hand the work to ``lifeorg.pipeline``.
"""

from lifeorg.broker import configured_broker

configured_broker()  # fail clearly here rather than bind actors to Dramatiq's default broker

from lifeorg.actors import (  # noqa: E402
    conversation,
    followups,
    health,
    mail,
    notify,
    photos,
    reminders,
    understand,
    userdata,
)

__all__ = [
    "conversation",
    "followups",
    "health",
    "mail",
    "notify",
    "photos",
    "reminders",
    "understand",
    "userdata",
]
