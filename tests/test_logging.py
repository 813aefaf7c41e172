"""Logs: one line per step with its ids and timing, text or JSON lines, and never a secret.

The end-to-end tests run real processes at DEBUG (``lifeorg run`` against the fake Bot API
and the fake model; ``lifeorg worker`` on Redis) with every kind of secret configured, and
search everything they printed for each secret.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import secrets
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import dramatiq
import pytest

from lifeorg import logs
from lifeorg.actors.step import run_step
from lifeorg.models import Job
from lifeorg.models.base import utcnow
from tests.conftest import ROOT, clean_env, lifeorg_command, make_settings, wait_for
from tests.fake_llm import FakeLLM
from tests.fake_telegram import FakeTelegram
from tests.test_cli import COMMAND_TIMEOUT_S

ME = 111
# Each secret is random, so finding one in the output can only mean it leaked.
TOKEN = f"7{secrets.randbelow(10**9):09d}:AA{secrets.token_urlsafe(24)}"
API_KEY = f"sk-test-{secrets.token_hex(16)}"
SECRET_KEY = secrets.token_hex(16)
WEBHOOK_SECRET = f"hook_{secrets.token_hex(12)}"
DB_PASSWORD = f"db-{secrets.token_hex(8)}/p@ss"  # characters a URL must escape
REDIS_PASSWORD = f"redis{secrets.token_hex(8)}"
MAILBOX_PASSWORD = f"mail{secrets.token_hex(8)}"


def every_secret() -> dict[str, str]:
    """Each secret by name, with the forms in which it could leak."""
    return {
        "bot token": TOKEN,
        "bot token's secret part": TOKEN.partition(":")[2],
        "LLM API key": API_KEY,
        "secret key": SECRET_KEY,
        "webhook secret": WEBHOOK_SECRET,
        "database password": DB_PASSWORD,
        "database password, escaped": quote(DB_PASSWORD, safe=""),
        "Redis password": REDIS_PASSWORD,
        "mailbox password": MAILBOX_PASSWORD,
    }


def assert_no_secret(output: str) -> None:
    leaked = [name for name, value in every_secret().items() if value in output]
    assert not leaked, f"leaked into the output: {leaked}"


def mailboxes_json() -> str:
    """A mailbox on a closed loopback port: polling it fails, with its password at hand."""
    box = {
        "owner": ME,
        "host": "127.0.0.1",
        "port": 1,
        "security": "plain",
        "username": "me",
        "password": MAILBOX_PASSWORD,
    }
    return json.dumps([box])


def with_password(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password@`` (percent-escaped) in front of its host."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def redaction() -> Iterator[None]:
    """Leaves the process's record factory and redactor as they were."""
    factory = logging.getLogRecordFactory()
    saved = logs._redactor, logs._factory_before
    yield
    logging.setLogRecordFactory(factory)
    logs._redactor, logs._factory_before = saved


def full_settings(tmp_path: Path):
    return make_settings(
        tmp_path,
        telegram_bot_token=TOKEN,
        llm_api_key=API_KEY,
        secret_key=SECRET_KEY,
        webhook_secret=WEBHOOK_SECRET,
        database_url=f"postgresql://me:{quote(DB_PASSWORD, safe='')}@127.0.0.1:5432/x",
        redis_url=f"redis://default:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        mailboxes=mailboxes_json(),
    )


# --- redaction ---------------------------------------------------------------------------------


def test_the_settings_name_every_secret(tmp_path: Path):
    """Bot token (and its secret part), keys, mailbox passwords and URL passwords, escaped
    or not, are all known secrets."""
    found = logs.secrets_of(full_settings(tmp_path))

    assert set(every_secret().values()) <= found


def test_a_secret_is_redacted_from_message_arguments_and_tracebacks(tmp_path: Path, redaction):
    """Given the settings' secrets, a record carrying them in its arguments and in its
    exception reaches every handler with *** instead, a library's own handler included."""
    logs.use_secrets(full_settings(tmp_path))
    ours, theirs = io.StringIO(), io.StringIO()
    logger = logging.getLogger(f"test.redaction.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.StreamHandler(ours))
    library = logging.getLogger(f"{logger.name}.library")
    library.addHandler(logging.StreamHandler(theirs))  # a handler set up later, elsewhere

    try:
        raise RuntimeError(f"login as me/{MAILBOX_PASSWORD} refused")
    except RuntimeError:
        logger.exception("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    library.debug("Authorization: Bearer %s", API_KEY)

    assert_no_secret(ours.getvalue() + theirs.getvalue())
    assert "https://api.telegram.org/bot***/getMe" in ours.getvalue()
    assert "login as me/*** refused" in ours.getvalue()  # the traceback, redacted
    assert "Bearer ***" in theirs.getvalue()


def test_any_password_in_a_url_is_redacted_even_if_unknown():
    """A driver quoting its DSN never shows the password, configured or not."""
    text = "cannot connect to postgresql://app:hunter2!x@db.example:5432/lifeorg"

    assert logs.redact(text) == "cannot connect to postgresql://app:***@db.example:5432/lifeorg"


def test_short_values_are_not_treated_as_secrets():
    """A password of a few characters would garble every line it occurs in by chance."""
    redactor = logs.RedactSecrets(["ab", "abc", "abcd"])

    assert redactor.redact("abc abcd") == "abc ***"


def test_a_failed_step_keeps_no_secret_in_the_ledger(database, tmp_path: Path, redaction):
    """The traceback stored as a job's last error is redacted like a log line."""
    logs.use_secrets(full_settings(tmp_path))
    job, _ = Job.submit("probe_effect", "leaky", {"tag": "leaky"}, lease_until=utcnow())

    def leaky(job: Job) -> None:
        raise ConnectionError(f"https://api.telegram.org/bot{TOKEN}/sendMessage: key {API_KEY}")

    with pytest.raises(dramatiq.Retry) as retried:  # with the step's own backoff
        run_step(leaky, job.id, time_limit_s=5)
    assert isinstance(retried.value.__cause__, ConnectionError)

    error = Job.get_by_id(job.id).last_error
    assert "ConnectionError: https://api.telegram.org/bot***/sendMessage: key ***" in error
    assert_no_secret(error)


# --- the JSON format ---------------------------------------------------------------------------


def test_json_lines_carry_the_record_and_its_extra_fields():
    """One JSON object: time, level, logger, message, the extra fields, the exception."""
    record = logging.LogRecord("lifeorg.steps", logging.ERROR, __file__, 1, "step=%s", ("x",), None)
    record.job_id, record.ms = 42, 3.5
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()

    entry = json.loads(logs.JsonFormatter().format(record))

    assert entry["level"] == "ERROR" and entry["logger"] == "lifeorg.steps"
    assert entry["message"] == "step=x"
    assert (entry["job_id"], entry["ms"]) == (42, 3.5)
    assert entry["exception"].endswith("ValueError: bad")
    assert dt.datetime.fromisoformat(entry["time"]).tzinfo is not None


# --- real processes ----------------------------------------------------------------------------


def read_json_lines(text: str) -> list[dict]:
    """Every line of ``text`` as a JSON object; fails on a line that is not one."""
    entries = []
    for line in text.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}")
    return entries


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
def fake_model() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_lifeorg_run_at_debug_prints_no_secret(
    log_format, fake_telegram, fake_model, fresh_postgres_url, tmp_path: Path
):
    """`lifeorg run` at DEBUG, with a model call, mail polls and Telegram traffic, prints
    none of the secrets it was given; in JSON every line is an object."""
    answer = {"intent": "task", "text": "look at the leak", "date": None, "time": None}
    for _ in range(3):
        fake_model.reply(answer | {"confidence": 0.8})
    fake_telegram.push_message(ME, "the plumber should look at the leak before the guests arrive")
    env = clean_env(
        DATABASE_URL=with_password(fresh_postgres_url, "postgres", DB_PASSWORD),
        TELEGRAM_BOT_TOKEN=TOKEN,
        LIFEORG_TELEGRAM_API_URL=fake_telegram.base_url,
        LIFEORG_ALLOWED_USERS=str(ME),
        LIFEORG_POLLING_TIMEOUT_S="1",
        LIFEORG_LLM_MODEL="openai/fake-model",
        LIFEORG_LLM_API_BASE=fake_model.api_base,
        LIFEORG_LLM_API_KEY=API_KEY,
        LIFEORG_SECRET_KEY=SECRET_KEY,
        LIFEORG_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LIFEORG_MAILBOXES=mailboxes_json(),
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
        LIFEORG_LOG_LEVEL="DEBUG",
        LIFEORG_LOG_FORMAT=log_format,
    )
    # Files, not pipes: a process logging at DEBUG would block on a full pipe.
    with open(tmp_path / "run.out", "w+") as out, open(tmp_path / "run.err", "w+") as err:
        process = subprocess.Popen(
            lifeorg_command("run"), cwd=tmp_path, env=env, stdout=out, stderr=err, text=True
        )
        try:
            fake_telegram.wait_for_sent(lambda s: s.chat_id == ME, timeout=COMMAND_TIMEOUT_S)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=COMMAND_TIMEOUT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        output = Path(out.name).read_text() + Path(err.name).read_text()

    assert fake_model.requests, "the model was never called, so its key was never used"
    assert "DEBUG" in output  # the level asked for was applied
    assert_no_secret(output)
    if log_format == "json":
        entries = read_json_lines(Path(tmp_path / "run.err").read_text())
        steps = [e for e in entries if e["logger"] == "lifeorg.steps"]
        assert {"ingest", "classify"} <= {e["kind"] for e in steps}


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: what a deployment with worker processes uses."""
    return "postgres"


@pytest.fixture
def worker_env(tmp_path: Path, redis_url: str, database_url: str, database) -> dict[str, str]:
    """A worker's environment with secrets everywhere, on this test's database and Redis
    namespace (the password is accepted: the test Redis has none)."""
    return clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=with_password(redis_url, "default", REDIS_PASSWORD),
        LIFEORG_QUEUE_NAMESPACE=f"lifeorg-logs-{uuid.uuid4().hex[:8]}",
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        LIFEORG_LLM_API_KEY=API_KEY,
        LIFEORG_SECRET_KEY=SECRET_KEY,
        LIFEORG_WEBHOOK_SECRET=WEBHOOK_SECRET,
        LIFEORG_MAILBOXES=mailboxes_json(),
        LIFEORG_METRICS_PORT="0",
        LIFEORG_LOG_LEVEL="DEBUG",
        LIFEORG_LOG_FORMAT="json",
    )


@pytest.mark.slow
def test_worker_json_logs_have_the_step_fields_and_no_secret(
    worker_env, tmp_path: Path, redis_url: str
):
    """A real worker logging JSON at DEBUG: one object per line; each step line names its
    kind, job id, attempt, time and outcome; no secret anywhere."""
    from lifeorg import ledger
    from lifeorg.broker import build_broker

    broker = build_broker(
        make_settings(
            tmp_path,
            redis_url=redis_url,
            queue_namespace=worker_env["LIFEORG_QUEUE_NAMESPACE"],
        )
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            lifeorg_command("worker", "tests.steps", "--processes", "1", "--threads", "2"),
            cwd=ROOT,
            env=worker_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        jobs = []
        for tag in ("a", "b"):
            job, _ = Job.submit("probe_effect", f"logs-{tag}", {"tag": tag}, lease_until=utcnow())
            assert ledger.dispatch(job, broker)
            jobs.append(job.id)

        def step_lines() -> list[dict]:
            entries = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            return [e for e in entries if e.get("kind") == "probe_effect"]

        lines = wait_for(lambda: len(step_lines()) == 2 and step_lines(), 60, "two step lines")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            import os

            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        for key in broker.client.keys(f"{worker_env['LIFEORG_QUEUE_NAMESPACE']}:*"):
            broker.client.delete(key)

    assert sorted(line["job_id"] for line in lines) == jobs
    for line in lines:
        assert (line["attempt"], line["outcome"], line["level"]) == (1, "completed", "INFO")
        assert isinstance(line["ms"], float) and line["logger"] == "lifeorg.steps"
    output = log_path.read_text()
    read_json_lines(output)
    assert any(entry["level"] == "DEBUG" for entry in read_json_lines(output))
    assert_no_secret(output)
