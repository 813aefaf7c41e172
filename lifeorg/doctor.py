"""``lifeorg doctor``: is the configuration valid and can every configured part be reached?"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifeorg.config import Settings
from lifeorg.errors import LifeorgError

# How often the worker check looks at the ledger while waiting for a worker's answer.
POLL_S = 0.05


@dataclass
class CheckResult:
    """One line of the report: ok, a warning (works, but worth knowing), or a failure."""

    name: str
    ok: bool
    detail: str
    warning: bool = False

    @property
    def label(self) -> str:
        return "FAIL" if not self.ok else "warn" if self.warning else "ok"


def run_checks(*, worker_timeout_s: float = 10.0) -> list[CheckResult]:
    """Run every check that applies to this configuration, stopping where one blocks the rest."""
    from lifeorg.config import load_settings

    try:
        settings = load_settings()
    except LifeorgError as exc:
        return [CheckResult("configuration", False, str(exc))]
    results = [CheckResult("configuration", True, _describe(settings))]
    results += [
        _guard(f"storage {name}", lambda p=path: _check_dir(p))
        for name, path in (
            ("data", settings.data_dir),
            ("images", settings.images_path),
            ("backups", settings.backups_path),
        )
    ]
    database = _guard("database", lambda: _check_database(settings))
    results.append(database)
    broker = _guard("broker", lambda: _check_broker(settings))
    results.append(broker)
    if database.ok and not database.warning and broker.ok and settings.queue_url is not None:
        results.append(_guard("workers", lambda: _check_workers(worker_timeout_s)))
    if settings.telegram_bot_token is not None:
        results.append(_guard("telegram", lambda: _check_telegram(settings)))
    if settings.llm_configured:
        results.append(_guard("llm", lambda: _check_llm(settings)))
    results += [
        _guard(f"mailbox {mailbox.key}", lambda m=mailbox: _check_mailbox(m))
        for mailbox in settings.mailboxes
    ]
    return results


class _Warning(Exception):
    """A check passed with something the operator should know."""


def _guard(name: str, check: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, check())
    except _Warning as exc:
        return CheckResult(name, True, str(exc), warning=True)
    except LifeorgError as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


def _describe(settings: Settings) -> str:
    queue = "in-process" if settings.queue_url is None else settings.queue_url.split("://")[0]
    return (
        f"time zone {settings.timezone}, default time {settings.default_reminder_time},"
        f" queue {queue}"
    )


def _check_dir(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK):
        raise LifeorgError(f"{path} is not writable")
    return f"{path.resolve()} writable"


def _check_database(settings: Settings) -> str:
    from lifeorg.database import build_database, check

    description, pending = check(build_database(settings.database_url, 2))
    if pending:
        # Not a failure: every long-running process migrates when it starts.
        raise _Warning(
            f"{description}; {len(pending)} migration(s) to apply, which the next process"
            " start or `lifeorg db upgrade` does"
        )
    return description


def _check_broker(settings: Settings) -> str:
    from lifeorg.broker import build_broker, check

    return check(build_broker(settings))


def _check_workers(timeout_s: float) -> str:
    """Send a ping through the real queue and wait for a worker to complete it."""
    from lifeorg import ledger, runtime
    from lifeorg.config import load_settings
    from lifeorg.models import Job
    from lifeorg.models.states import JobStatus

    runtime.start(load_settings())
    started = time.monotonic()
    job = ledger.submit("ping", f"ping:{uuid.uuid4()}", {}, max_attempts=1)
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        job = Job.get_by_id(job.id)
        if job.status == JobStatus.COMPLETED:
            took_ms = (time.monotonic() - started) * 1000
            return f"a worker answered in {took_ms:.0f} ms ({job.result['worker']})"
        time.sleep(POLL_S)
    raise LifeorgError(
        f"no worker answered within {timeout_s:g} s; start one with `lifeorg worker`"
    )


def _check_telegram(settings: Settings) -> str:
    """The token works: the Bot API knows the bot (the token itself is never shown)."""
    from lifeorg.telegram import TelegramClient

    client = TelegramClient(
        settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url
    )
    me = client.get_me()
    return f"bot @{me.get('username')} (id {me.get('id')}) at {settings.telegram_api_url}"


def _check_llm(settings: Settings) -> str:
    """One tiny completion through the configured model, timed."""
    from pydantic import BaseModel

    from lifeorg.llm import LLMClient
    from lifeorg.pipeline.prompts import Prompt

    class Pong(BaseModel):
        ok: bool

    ping = Prompt(name="doctor_ping", system="Answer with ok set to true.")
    started = time.monotonic()
    LLMClient(settings).complete(ping, {"check": "ping"}, Pong)
    took_ms = (time.monotonic() - started) * 1000
    return f"{settings.llm_model} answered in {took_ms:.0f} ms"


def _check_mailbox(mailbox) -> str:
    """Log in, open the folder, count its mail; nothing in the mailbox changes."""
    from lifeorg.imap import session

    with session(mailbox) as imap:
        total = imap.client.folder.status(mailbox.folder, ["MESSAGES"])["MESSAGES"]
        validity = imap.uidvalidity()
    return (
        f"{mailbox.folder} on {mailbox.host}:{mailbox.imap_port} ({mailbox.security}): "
        f"{total} mails, UIDVALIDITY {validity}"
    )
