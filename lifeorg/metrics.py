"""Prometheus metrics: what the workers do, and how much work is waiting.

Recorded where it happens, in each worker process: step latencies and how each ledger
attempt ended (``lifeorg.middleware.StepMetrics``), model calls with their tokens and cost
(``lifeorg.llm``), notifications sent or refused (``lifeorg.actors.notify``) and how late
reminders fire (``lifeorg.actors.reminders``). Read when scraped, by ``WorkCollector``: the
broker's queue depths and the job ledger's open and failed jobs.

A worker (``lifeorg worker``) is several processes. Each writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode; ``lifeorg worker`` makes
the directory afresh), and one more process, a Dramatiq fork, serves their sum with the
scrape-time gauges on ``LIFEORG_METRICS_PORT`` (``serve_worker_metrics``). Dramatiq's own
Prometheus middleware is not used: it counts messages rather than ledger attempts, binds
a port and a shared directory of its own from import-time environment variables, never
clears that directory, and has no place for gauges read from the broker or the database.

prometheus_client is imported on first use only, so the bot, the scheduler and
``lifeorg --help`` never load it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# Listen on every interface: Prometheus scrapes from another host or container.
METRICS_HOST = "0.0.0.0"
# Each worker's multiprocess directory is named after the `lifeorg worker` process (which
# becomes Dramatiq's main process), so a later start can tell a dead worker's directory.
DIR_PREFIX = "lifeorg-metrics-"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A scraper that has not sent its request within this time is dropped: one slow client
# must not hold the (single-threaded) server.
REQUEST_TIMEOUT_S = 10
# The scrape-time queries need one connection at a time.
SCRAPE_POOL_SIZE = 2

# Steps take milliseconds (a database write) to minutes (a backup, a slow model).
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
# Model calls take from a fraction of a second to the timeout (20 s by default).
LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60)
# A reminder is on time within a couple of seconds (the scheduler looks every second); a
# missed one sent after a restart may be hours late.
LATENESS_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600)
# The ledger statuses that stand for work not yet done, or given up on.
OPEN_STATUSES = ("queued", "processing", "failed")


@dataclass(frozen=True)
class Instruments:
    """This process's counters and histograms."""

    registry: Any
    steps: Any
    step_seconds: Any
    notifications: Any
    reminder_lateness: Any
    llm_calls: Any
    llm_seconds: Any
    llm_tokens: Any
    llm_cost: Any


@functools.cache
def instruments() -> Instruments:
    """Create the metrics on first use (after PROMETHEUS_MULTIPROC_DIR is set, if it is)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    return Instruments(
        registry=registry,
        steps=Counter(
            "lifeorg_steps",
            "Step messages handled, by how the job's ledger attempt ended "
            "(completed, retry, failed, deferred, skipped, lease_lost).",
            ["actor", "outcome"],
            registry=registry,
        ),
        step_seconds=Histogram(
            "lifeorg_step_duration_seconds",
            "Time a worker spent on a step message.",
            ["actor"],
            buckets=STEP_BUCKETS,
            registry=registry,
        ),
        notifications=Counter(
            "lifeorg_notifications",
            "Telegram sends by method and outcome (sent, blocked, rejected, rate_limited, error).",
            ["method", "outcome"],
            registry=registry,
        ),
        reminder_lateness=Histogram(
            "lifeorg_reminder_lateness_seconds",
            "From a reminder's fire_at to its message being queued for sending.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        ),
        llm_calls=Counter(
            "lifeorg_llm_calls",
            "Model calls by outcome (answered, unavailable).",
            ["model", "outcome"],
            registry=registry,
        ),
        llm_seconds=Histogram(
            "lifeorg_llm_call_duration_seconds",
            "Time a model call took.",
            ["model"],
            buckets=LLM_BUCKETS,
            registry=registry,
        ),
        llm_tokens=Counter(
            "lifeorg_llm_tokens",
            "Tokens sent to (in) and received from (out) the model.",
            ["model", "direction"],
            registry=registry,
        ),
        llm_cost=Counter(
            "lifeorg_llm_cost_usd",
            "What the model calls cost in USD, as litellm prices them.",
            ["model"],
            registry=registry,
        ),
    )


def observe_step(actor: str, seconds: float, outcome: str) -> None:
    """Count one step message and its time."""
    metrics = instruments()
    metrics.steps.labels(actor, outcome).inc()
    metrics.step_seconds.labels(actor).observe(seconds)


def count_notification(method: str, outcome: str) -> None:
    """Count one attempt to deliver an outbox row."""
    instruments().notifications.labels(method, outcome).inc()


def observe_reminder_lateness(seconds: float) -> None:
    """Record how late a reminder fired (0 when early or on time)."""
    instruments().reminder_lateness.observe(max(0.0, seconds))


def count_llm_call(
    model: str | None,
    *,
    answered: bool,
    seconds: float,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: float | None = None,
) -> None:
    """Count one model call with what it used."""
    metrics = instruments()
    name = model or "unknown"
    metrics.llm_calls.labels(name, "answered" if answered else "unavailable").inc()
    metrics.llm_seconds.labels(name).observe(seconds)
    if tokens_in:
        metrics.llm_tokens.labels(name, "in").inc(tokens_in)
    if tokens_out:
        metrics.llm_tokens.labels(name, "out").inc(tokens_out)
    if cost_usd:
        metrics.llm_cost.labels(name).inc(cost_usd)


# --- read at scrape time ------------------------------------------------------------------


class WorkCollector:
    """Queue depths from the broker and open jobs from the ledger, read at each scrape.

    A source that cannot be read reports ``lifeorg_metrics_source_up{source} 0`` and no
    samples, so a scrape always answers.
    """

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def describe(self) -> list:
        return []  # nothing to check at registration; collect() reads live sources

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "lifeorg_metrics_source_up",
            "Whether the last scrape could read the source (broker, database).",
            labels=["source"],
        )
        queues = GaugeMetricFamily(
            "lifeorg_queue_messages",
            "Messages in the broker by queue and state (ready: waiting for a worker; "
            "delayed: retries waiting for their time; dead: dead-lettered).",
            labels=["queue", "state"],
        )
        jobs = GaugeMetricFamily(
            "lifeorg_jobs",
            "Ledger jobs not completed, by kind and status (queued, processing, failed).",
            labels=["kind", "status"],
        )
        for source, family, read in (
            ("broker", queues, lambda: queue_depths(self.broker)),
            ("database", jobs, open_jobs),
        ):
            try:
                rows = list(read())
            except Exception as exc:
                log.warning("metrics: cannot read the %s: %s", source, _first_line(exc))
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            for *labels, value in rows:
                family.add_metric(labels, value)
        yield from (up, queues, jobs)


def step_queues() -> list[str]:
    """Every queue a step travels on."""
    from lifeorg import ledger

    return sorted({ledger.DEFAULT_QUEUE, *ledger.STEP_QUEUES.values()})


def queue_depths(broker: Any) -> Iterator[tuple[str, str, int]]:
    """(queue, state, messages) for every step queue; raises when the broker is unreachable."""
    from dramatiq.common import dq_name, xq_name

    names = step_queues()
    if hasattr(broker, "client"):  # Redis: a list of ids per queue, a hash of bodies
        namespace = broker.namespace
        pipe = broker.client.pipeline(transaction=False)
        for name in names:
            pipe.llen(f"{namespace}:{name}")
            # Delayed messages may sit in a worker's memory until due; their bodies stay
            # in the hash until acknowledged, so the hash counts them all.
            pipe.hlen(f"{namespace}:{dq_name(name)}.msgs")
            pipe.zcard(f"{namespace}:{xq_name(name)}")
        counts = iter(pipe.execute())
        for name in names:
            for state in ("ready", "delayed", "dead"):
                yield name, state, int(next(counts))
    elif hasattr(broker, "get_queue_message_counts"):  # RabbitMQ: a passive count each
        for name in names:
            ready, delayed, dead = broker.get_queue_message_counts(name)
            yield from ((name, "ready", ready), (name, "delayed", delayed), (name, "dead", dead))
    else:  # in-process
        for name in names:
            queue = broker.queues.get(name)
            delayed = broker.queues.get(dq_name(name))
            yield name, "ready", queue.qsize() if queue is not None else 0
            yield name, "delayed", delayed.qsize() if delayed is not None else 0


def open_jobs() -> Iterator[tuple[str, str, int]]:
    """(kind, status, count) of the ledger's queued, processing and failed jobs."""
    import peewee

    from lifeorg.models import Job
    from lifeorg.models.base import db

    with db.connection_context():
        query = (
            Job.select(Job.kind, Job.status, peewee.fn.COUNT(Job.id))
            .where(Job.status.in_(OPEN_STATUSES))
            .group_by(Job.kind, Job.status)
            .tuples()
        )
        rows = list(query)
    for kind, status, count in rows:
        yield kind, str(status), int(count)


# --- the worker's server ------------------------------------------------------------------


def prepare_multiprocess_dir(owner_pid: int) -> Path:
    """A fresh, empty directory for ``owner_pid``'s worker processes to write samples to.

    Directories left by workers that have died are removed first, so counters start at zero
    with each start and nothing piles up in the temporary directory (``TMPDIR``).
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{DIR_PREFIX}*"):
        pid = old.name.removeprefix(DIR_PREFIX)
        if pid.isdigit() and (int(pid) == owner_pid or not _alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"{DIR_PREFIX}{owner_pid}"
    path.mkdir(mode=0o700)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class MetricsServer(HTTPServer):
    """Serves ``registry`` at /metrics, one scrape at a time (a broker channel is not
    thread-safe, and Prometheus scrapes one at a time anyway)."""

    def __init__(self, address: tuple[str, int], registry: Any) -> None:
        self.registry = registry
        super().__init__(address, MetricsHandler)


class MetricsHandler(BaseHTTPRequestHandler):
    """GET /metrics in Prometheus's text format; anything else is 404."""

    server: MetricsServer
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if urlsplit(self.path).path != METRICS_PATH:
            self._answer(404, b"not found\n", "text/plain; charset=utf-8")
            return
        try:
            body = generate_latest(self.server.registry)
        except Exception:
            log.exception("metrics: the scrape failed")
            self._answer(500, b"metrics could not be collected\n", "text/plain; charset=utf-8")
            return
        self._answer(200, body, CONTENT_TYPE_LATEST)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def worker_registry(broker: Any) -> Any:
    """Every worker process's samples, summed, and the scrape-time gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(WorkCollector(broker))
    return registry


def serve_worker_metrics() -> int:
    """Serve the worker's metrics until stopped (run by ``lifeorg worker`` as a Dramatiq fork
    process); returns 1 when the port cannot be had, and the workers go on without it."""
    from lifeorg import logs
    from lifeorg.broker import build_broker
    from lifeorg.config import load_settings
    from lifeorg.database import build_database
    from lifeorg.models.base import db

    settings = load_settings()
    logs.configure(settings)
    # The workers migrated the schema before this process started; a database that is
    # down now shows as lifeorg_metrics_source_up{source="database"} 0, not as no server.
    db.initialize(build_database(settings.database_url, SCRAPE_POOL_SIZE))
    try:
        server = MetricsServer(
            (METRICS_HOST, settings.metrics_port), worker_registry(build_broker(settings))
        )
    except OSError as exc:
        log.error(
            "metrics: cannot listen on port %s (%s); the workers run without a metrics "
            "server: set LIFEORG_METRICS_PORT to a free port, or 0",
            settings.metrics_port,
            exc.strerror or exc,
        )
        return 1
    log.info("metrics: serving http://%s:%s%s", METRICS_HOST, settings.metrics_port, METRICS_PATH)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
