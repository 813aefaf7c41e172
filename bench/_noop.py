"""A no-op actor on a Redis broker of its own: raw Dramatiq, for ``bench pipeline`` to compare.

Run as ``python -m dramatiq bench._noop --processes P --threads T`` with
``LIFEORG_BENCH_REDIS_URL`` and ``LIFEORG_BENCH_NAMESPACE`` set. Only Dramatiq's default
middleware: what a message costs with no database, no ledger and no step around it.
"""

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

QUEUE = "default"

dramatiq.set_broker(
    RedisBroker(
        url=os.environ["LIFEORG_BENCH_REDIS_URL"], namespace=os.environ["LIFEORG_BENCH_NAMESPACE"]
    )
)


@dramatiq.actor(actor_name="noop", queue_name=QUEUE)
def noop() -> None:
    """Does nothing: all a message costs here is the broker's and the worker's share."""
