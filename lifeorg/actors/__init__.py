"""Every Dramatiq actor of the pipeline. Import only after ``lifeorg.broker.setup_broker``.

Actors are thin: they take a job id, and hand the work to ``lifeorg.pipeline``.
"""

from lifeorg.broker import configured_broker

configured_broker()  # fail clearly here rather than bind actors to Dramatiq's default broker

from lifeorg.actors import conversation, health, notify, reminders, understand  # noqa: E402

__all__ = ["conversation", "health", "notify", "reminders", "understand"]
