"""Prometheus metrics: recorded where things happen, summed over a worker's processes, and
served with the queue depths and the ledger's open jobs from one port per worker."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lifeorg import ledger, metrics, runtime
from lifeorg.broker import InProcessBroker, build_broker
from lifeorg.llm import LLMClient
from lifeorg.models import Job, Reminder, User
from lifeorg.models.base import utcnow
from lifeorg.pacing import LocalStore, Pacer
from lifeorg.pipeline.outbox import say
from lifeorg.pipeline.prompts import Prompt
from lifeorg.scheduler.reminders import claim_due
from lifeorg.telegram import TelegramClient
from tests.conftest import ROOT, clean_env, lifeorg_command, make_settings, wait_for
from tests.fake_llm import FakeLLM
from tests.fake_telegram import FakeTelegram

CHAT = 4242
# A Redis or RabbitMQ round trip on loopback answers well within this.
SCRAPE_TIMEOUT_S = 10


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: what a deployment with worker processes uses."""
    return "postgres"


def sample(name: str, **labels: str) -> float:
    """This process's current value of a sample (0 when never recorded)."""
    value = metrics.instruments().registry.get_sample_value(name, labels)
    return value or 0.0


def collected(collector: metrics.WorkCollector) -> dict[tuple[str, frozenset], float]:
    """What one scrape of ``collector`` yields, keyed by (sample name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in collector.collect()
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


# --- recorded where it happens (in this process) -----------------------------------------------


@pytest.fixture
def telegram(monkeypatch) -> Iterator[FakeTelegram]:
    """The runtime's messenger is the Telegram adapter, pointed at the fake Bot API."""
    with FakeTelegram() as fake:
        fake.register_chat(CHAT)
        client = TelegramClient(fake.token, api_url=fake.base_url)
        monkeypatch.setitem(runtime.current().__dict__, "messenger", client)
        monkeypatch.setitem(runtime.current().__dict__, "pacer", Pacer(LocalStore()))
        yield fake


def test_notifications_are_counted_by_outcome(telegram, database, settle):
    """A send, a 400 and a 403 each count once under their outcome."""
    user = User.create(telegram_user_id=CHAT, chat_id=CHAT, timezone="UTC", default_time="09:00")
    before = {
        o: sample("lifeorg_notifications_total", method="sendMessage", outcome=o)
        for o in ("sent", "rejected", "blocked")
    }

    say(user, "hello", key="m1")
    settle()
    telegram.fail_next("sendMessage", 400, description="Bad Request: can't parse entities")
    say(user, "<b>broken", key="m2")
    settle()
    telegram.block(CHAT)
    say(user, "anyone there?", key="m3")
    settle()

    after = {
        o: sample("lifeorg_notifications_total", method="sendMessage", outcome=o) for o in before
    }
    assert {o: after[o] - before[o] for o in before} == {"sent": 1, "rejected": 1, "blocked": 1}


def test_reminder_lateness_is_observed_when_it_fires(database, settle, monkeypatch, tmp_path):
    """A reminder claimed a minute after its time is recorded as about a minute late."""
    monkeypatch.setattr(runtime.current().settings, "data_dir", tmp_path)
    user = User.create(telegram_user_id=111, chat_id=111, timezone="UTC", default_time="09:00")
    Reminder.create(owner=user, text="call mum", fire_at=utcnow() - dt.timedelta(seconds=70))
    count = sample("lifeorg_reminder_lateness_seconds_count")
    under_a_minute = sample("lifeorg_reminder_lateness_seconds_bucket", le="60.0")
    under_two = sample("lifeorg_reminder_lateness_seconds_bucket", le="120.0")

    assert len(claim_due()) == 1
    settle()

    assert sample("lifeorg_reminder_lateness_seconds_count") == count + 1
    assert sample("lifeorg_reminder_lateness_seconds_bucket", le="60.0") == under_a_minute
    assert sample("lifeorg_reminder_lateness_seconds_bucket", le="120.0") == under_two + 1


def test_model_calls_count_tokens_and_failures(tmp_path):
    """Tokens in and out are added per model as the call records them; a 503 counts as
    unavailable."""
    from pydantic import BaseModel

    class Answer(BaseModel):
        ok: bool

    fake = FakeLLM().start()
    try:
        model = f"openai/metrics-{uuid.uuid4().hex[:6]}"  # a label of this test's own
        client = LLMClient(
            make_settings(
                tmp_path, llm_model=model, llm_api_base=fake.api_base, llm_api_key="sk-test"
            )
        )
        prompt = Prompt("probe", "Say ok.")
        fake.reply({"ok": True}, prompt_tokens=120, completion_tokens=7)
        client.complete(prompt, {"x": 1}, Answer)
        fake.fail(503)
        with pytest.raises(Exception):  # noqa: B017 (the adapter's error, whichever)
            client.complete(prompt, {"x": 1}, Answer)
    finally:
        fake.stop()

    assert sample("lifeorg_llm_tokens_total", model=model, direction="in") == 120
    assert sample("lifeorg_llm_tokens_total", model=model, direction="out") == 7
    assert sample("lifeorg_llm_calls_total", model=model, outcome="answered") == 1
    assert sample("lifeorg_llm_calls_total", model=model, outcome="unavailable") == 1
    assert sample("lifeorg_llm_call_duration_seconds_count", model=model) == 2


# --- read at scrape time -----------------------------------------------------------------------


def test_the_ledger_gauges_count_open_and_failed_jobs_by_kind(database, broker):
    """Queued, processing and failed rows are counted per kind; completed ones are not."""
    for key_, status in [("a", "queued"), ("b", "queued"), ("c", "failed"), ("d", "completed")]:
        job, _ = Job.submit("probe_effect", key_, {"tag": key_}, lease_until=utcnow())
        Job.update(status=status).where(Job.id == job.id).execute()

    scraped = collected(metrics.WorkCollector(broker))

    assert scraped[key("lifeorg_jobs", kind="probe_effect", status="queued")] == 2
    assert scraped[key("lifeorg_jobs", kind="probe_effect", status="failed")] == 1
    assert key("lifeorg_jobs", kind="probe_effect", status="completed") not in scraped
    assert scraped[key("lifeorg_metrics_source_up", source="database")] == 1


@pytest.fixture
def own_queue(monkeypatch) -> str:
    """The collector looks at one queue of this test's own, not the shared step queues."""
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(metrics, "step_queues", lambda: [name])
    return name


def send_to(broker, queue: str, *, delay_ms: int | None = None) -> None:
    import dramatiq

    broker.declare_queue(queue)
    message = dramatiq.Message(
        queue_name=queue, actor_name="ping", args=(0,), kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms)


@pytest.mark.redis
def test_redis_queue_depths_count_ready_and_delayed_messages(tmp_path, redis_url, own_queue):
    """Two messages waiting and one delayed retry show up on the queue's gauges."""
    settings = make_settings(
        tmp_path, redis_url=redis_url, queue_namespace=f"metrics-{uuid.uuid4().hex[:8]}"
    )
    broker = build_broker(settings)
    try:
        send_to(broker, own_queue)
        send_to(broker, own_queue)
        send_to(broker, own_queue, delay_ms=60_000)

        scraped = collected(metrics.WorkCollector(broker))
    finally:
        for name in broker.client.keys(f"{settings.queue_namespace}:*"):
            broker.client.delete(name)

    assert scraped[key("lifeorg_queue_messages", queue=own_queue, state="ready")] == 2
    assert scraped[key("lifeorg_queue_messages", queue=own_queue, state="delayed")] == 1
    assert scraped[key("lifeorg_queue_messages", queue=own_queue, state="dead")] == 0
    assert scraped[key("lifeorg_metrics_source_up", source="broker")] == 1


def test_rabbitmq_queue_depths_when_a_server_is_running(tmp_path, own_queue):
    """RabbitMQ's counts come from a declare of each queue (skipped where none runs: an
    optional broker)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5672)) != 0:
            pytest.skip("no RabbitMQ on 127.0.0.1:5672 (an optional broker; Redis is the default)")
    broker = build_broker(make_settings(tmp_path, broker_url="amqp://guest:guest@127.0.0.1:5672/"))
    try:
        send_to(broker, own_queue)
        send_to(broker, own_queue, delay_ms=60_000)
        # RabbitMQ counts a published message once it reaches the queue, a moment later.
        counts = {"ready": 1, "delayed": 1, "dead": 0}
        wait_for(
            lambda: depths(metrics.WorkCollector(broker), own_queue) == counts,
            SCRAPE_TIMEOUT_S,
            "both messages to be counted",
        )
    finally:
        from dramatiq.common import dq_name, xq_name

        for name in (own_queue, dq_name(own_queue), xq_name(own_queue)):
            broker.channel.queue_delete(name)
        broker.close()


def depths(collector: metrics.WorkCollector, queue: str) -> dict[str, float]:
    """The queue's message counts by state, as one scrape reads them."""
    return {
        dict(labels)["state"]: value
        for (name, labels), value in collected(collector).items()
        if name == "lifeorg_queue_messages" and dict(labels)["queue"] == queue
    }


def test_the_in_process_queues_are_read_too(own_queue):
    """The one-process broker's queues have depths like any other."""
    broker = InProcessBroker()
    send_to(broker, own_queue)

    scraped = collected(metrics.WorkCollector(broker))

    assert scraped[key("lifeorg_queue_messages", queue=own_queue, state="ready")] == 1
    assert scraped[key("lifeorg_queue_messages", queue=own_queue, state="delayed")] == 0


def test_an_unreachable_broker_still_gives_a_scrape(tmp_path, database):
    """The broker's gauges go missing and its source reads 0; the ledger's still come."""
    broker = build_broker(make_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))

    scraped = collected(metrics.WorkCollector(broker))

    assert scraped[key("lifeorg_metrics_source_up", source="broker")] == 0
    assert scraped[key("lifeorg_metrics_source_up", source="database")] == 1
    assert not [k for k in scraped if k[0] == "lifeorg_queue_messages"]


def test_a_new_worker_clears_the_directories_of_dead_ones(tmp_path, monkeypatch):
    """A dead worker's samples are removed, a live one's kept, and ours starts empty."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (dead.pid, os.getppid(), os.getpid()):
        (tmp_path / f"lifeorg-metrics-{pid}").mkdir()
        (tmp_path / f"lifeorg-metrics-{pid}" / "counter_1.db").write_bytes(b"x")

    ours = metrics.prepare_multiprocess_dir(os.getpid())

    assert ours == tmp_path / f"lifeorg-metrics-{os.getpid()}" and list(ours.iterdir()) == []
    assert not (tmp_path / f"lifeorg-metrics-{dead.pid}").exists()
    assert (tmp_path / f"lifeorg-metrics-{os.getppid()}" / "counter_1.db").exists()


# --- a real worker -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """GET /metrics, parsed by prometheus_client's own parser."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT_S
    ) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _answers(port: int) -> bool:
    try:
        scrape(port)
    except (urllib.error.URLError, ConnectionError):
        return False
    return True


@pytest.fixture
def queue_env(tmp_path: Path, database_url: str, redis_url: str, database) -> dict[str, str]:
    return clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LIFEORG_QUEUE_NAMESPACE=f"lifeorg-metrics-{uuid.uuid4().hex[:8]}",
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
    )


@pytest.fixture
def redis_broker(queue_env, tmp_path):
    settings = make_settings(
        tmp_path,
        redis_url=queue_env["REDIS_URL"],
        queue_namespace=queue_env["LIFEORG_QUEUE_NAMESPACE"],
    )
    broker = build_broker(settings)
    yield broker
    for name in broker.client.keys(f"{settings.queue_namespace}:*"):
        broker.client.delete(name)


@pytest.fixture
def start_worker(queue_env, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts `lifeorg worker tests.steps` on the default queue; kills what is left."""
    started: list[subprocess.Popen] = []

    def start(name: str, *args: str, **variables: str) -> subprocess.Popen:
        with open(tmp_path / f"{name}.log", "w") as log:
            process = subprocess.Popen(
                lifeorg_command("worker", "tests.steps", "--queues", "default", *args),
                cwd=ROOT,
                env=queue_env | variables,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so all of it can be killed
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def submit(kind: str, key_: str, broker, **payload) -> Job:
    job, _ = Job.submit(kind, key_, {"tag": key_, **payload}, lease_until=utcnow())
    assert ledger.dispatch(job, broker)
    return job


@pytest.mark.slow
def test_one_port_serves_the_sum_of_every_worker_process(
    database, redis_broker, start_worker, tmp_path
):
    """Two worker processes, one /metrics: step outcomes and latencies summed over both, the
    ledger's failed and waiting jobs, and the depth of a queue no worker reads."""
    port = free_port()
    worker = start_worker(
        "metrics",
        "--processes",
        "2",
        "--threads",
        "1",
        LIFEORG_METRICS_PORT=str(port),
        # One message at a time per process, and idle processes look again within 50 ms:
        # both processes take a share of the steps.
        dramatiq_queue_prefetch="1",
        dramatiq_worker_timeout="50",
    )
    # The server starts once every worker process is up, so both can take work from now on.
    wait_for(lambda: _answers(port), 60, "the metrics server to answer")
    effects = [submit("probe_effect", f"effect-{i}", redis_broker) for i in range(24)]
    submit("probe_flaky", "flaky", redis_broker, failures=1)
    submit("probe_permanent", "permanent", redis_broker)
    submit("tag_image", "unread", redis_broker)  # travels on "llm", which this worker skips

    expected = {
        key("lifeorg_steps_total", actor="probe_effect", outcome="completed"): len(effects),
        key("lifeorg_step_duration_seconds_count", actor="probe_effect"): len(effects),
        key("lifeorg_steps_total", actor="probe_flaky", outcome="retry"): 1,
        key("lifeorg_steps_total", actor="probe_flaky", outcome="completed"): 1,
        key("lifeorg_steps_total", actor="probe_permanent", outcome="failed"): 1,
        key("lifeorg_jobs", kind="probe_permanent", status="failed"): 1,
        key("lifeorg_jobs", kind="tag_image", status="queued"): 1,
        key("lifeorg_queue_messages", queue="llm", state="ready"): 1,
        key("lifeorg_metrics_source_up", source="broker"): 1,
        key("lifeorg_metrics_source_up", source="database"): 1,
    }

    def scraped_as_expected() -> dict | None:
        scraped = scrape(port)
        return scraped if all(scraped.get(k) == v for k, v in expected.items()) else None

    scraped = wait_for(scraped_as_expected, 60, "the metrics to show every step")
    processes = {Job.get_by_id(job.id).leased_by.split(":")[1] for job in effects}
    assert len(processes) == 2, processes  # so the counts above are sums over two processes
    assert scraped[
        key("lifeorg_step_duration_seconds_bucket", actor="probe_effect", le="+Inf")
    ] == len(effects)
    assert key("lifeorg_steps_total", actor="probe_effect", outcome="failed") not in scraped
    with pytest.raises(urllib.error.HTTPError) as elsewhere:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=SCRAPE_TIMEOUT_S)
    assert elsewhere.value.code == 404

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


@pytest.mark.slow
def test_a_taken_port_leaves_the_workers_working(database, redis_broker, start_worker, tmp_path):
    """With the metrics port in use, the log says so and the steps still run."""
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        worker = start_worker("taken", "--processes", "1", LIFEORG_METRICS_PORT=str(port))
        job = submit("probe_effect", "despite", redis_broker)

        wait_for(lambda: Job.get_by_id(job.id).status == "completed", 60, "the step to complete")
        log = tmp_path / "taken.log"
        wait_for(lambda: "cannot listen on port" in log.read_text(), 30, "the metrics error")
    assert "set LIFEORG_METRICS_PORT to a free port, or 0" in log.read_text()

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


@pytest.mark.slow
def test_port_zero_serves_no_metrics(database, redis_broker, start_worker, tmp_path):
    """LIFEORG_METRICS_PORT=0: no metrics process and no samples directory."""
    worker = start_worker("off", "--processes", "1", LIFEORG_METRICS_PORT="0")
    job = submit("probe_effect", "quiet", redis_broker)
    wait_for(lambda: Job.get_by_id(job.id).status == "completed", 60, "the step to complete")

    log = (tmp_path / "off.log").read_text()
    assert "serve_worker_metrics" not in log
    assert not (Path(tempfile.gettempdir()) / f"lifeorg-metrics-{worker.pid}").exists()

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
