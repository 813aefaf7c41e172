"""The one place the message broker is built and set, before any actor module is imported.

``REDIS_URL`` (or ``LIFEORG_BROKER_URL=redis://...``) gives the Redis broker; an
``amqp://`` broker URL gives RabbitMQ; neither gives an in-process broker whose worker
threads run inside the same process (the laptop default, and the tests).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from lifeorg.config import Settings
from lifeorg.errors import BrokerError
from lifeorg.middleware import DatabaseConnection, StepMetrics

_configured: dramatiq.Broker | None = None


class InProcessBroker(StubBroker):
    """Queues in this process's memory, for one-process setups; lost when it exits.

    Nothing is lost for good: the job ledger in the database knows every unfinished step,
    and the sweeper sends it again.
    """


# Workers beat every few seconds; three missed beats and more is not a pause, it is death.
REDIS_HEARTBEAT_TIMEOUT_MS = 15_000
# An idle worker fetches about once a second per queue, so upkeep runs every few seconds.
REDIS_UPKEEP_CHANCE = 20


def build_broker(settings: Settings) -> dramatiq.Broker:
    """The broker the settings ask for, with the project's middleware; connects lazily."""
    url = settings.queue_url
    if url is None:
        broker: dramatiq.Broker = InProcessBroker()
    elif url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(
            url=settings.redis_connection_url(url),
            namespace=settings.queue_namespace,
            # A worker silent this long is dead (SIGKILL, a lost machine): the messages it had
            # fetched go back to the queue at the next upkeep, which runs on about one fetch
            # in REDIS_UPKEEP_CHANCE rather than Dramatiq's one in a thousand.
            heartbeat_timeout=REDIS_HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=REDIS_UPKEEP_CHANCE,
        )
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    else:
        raise BrokerError("the broker URL must be redis:// or amqp://")
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(DatabaseConnection())
    broker.add_middleware(StepMetrics())
    return broker


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Build the broker and make it the global one; call once, before importing actors."""
    global _configured
    if _configured is not None:
        raise BrokerError("the broker is already set up in this process")
    _configured = build_broker(settings)
    dramatiq.set_broker(_configured)
    return _configured


def configured_broker() -> dramatiq.Broker:
    """The broker set up for this process; raises BrokerError when there is none yet."""
    if _configured is None:
        raise BrokerError(
            "no broker is set up: call lifeorg.broker.setup_broker(settings) "
            "before importing lifeorg.actors"
        )
    return _configured


def check(broker: dramatiq.Broker) -> str:
    """A one-line description of a reachable broker; raises BrokerError otherwise."""
    if isinstance(broker, InProcessBroker):
        return "in-process (set REDIS_URL to share work between processes)"
    try:
        if hasattr(broker, "client"):  # Redis
            broker.client.ping()
            return f"Redis, namespace {broker.namespace!r}"
        connection = broker.connection  # RabbitMQ: opens the channel
        return f"RabbitMQ ({'open' if connection.is_open else 'closed'})"
    except Exception as exc:
        raise BrokerError(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
