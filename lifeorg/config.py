"""Configuration: one settings class, read once at process start and passed down.

Platform conventions are honoured unprefixed (``DATABASE_URL``, ``REDIS_URL``, ``PORT``,
``TELEGRAM_BOT_TOKEN``); everything else is ``LIFEORG_*``. A ``.env`` file in the working
directory is read when present. The defaults make a working laptop setup: SQLite under
``data/`` and the in-process broker.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lifeorg.errors import ConfigError

DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_URL = "sqlite:///data/lifeorg.db"
# A date without a time ("remind me on friday") needs a time of day; 09:00 is when most
# people start their day and is what the brief suggests.
DEFAULT_REMINDER_TIME = "09:00"
# Eight threads keep a worker busy while steps wait on the network (Telegram, the LLM,
# IMAP) without exhausting a small database's connection limit.
DEFAULT_WORKER_THREADS = 8

_DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")
_BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _env(name: str) -> AliasChoices:
    """Accept a platform variable both bare and with the LIFEORG_ prefix."""
    return AliasChoices(name, f"LIFEORG_{name}")


# Names of servers reachable without crossing the internet, besides loopback and private
# addresses: the only ones a mailbox may be read from without TLS (a local Dovecot, a
# bridge such as Proton's on 127.0.0.1).
_LOCAL_HOSTNAMES = ("localhost",)


class Mailbox(BaseModel):
    """One IMAP mailbox whose mail becomes event suggestions for one user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The owner's Telegram user id: their suggestions go to them, and only to them.
    owner: int
    host: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    # tls (IMAPS, port 993) by default; starttls upgrades port 143; plain is for a server
    # on this machine or the local network only.
    security: Literal["tls", "starttls", "plain"] = "tls"
    port: int | None = Field(None, ge=1, le=65535)
    folder: str = "INBOX"
    # What happens to a handled mail: nothing (the default: the mailbox is not changed),
    # flagged as seen, or moved to ``move_to``.
    after: Literal["none", "seen", "move"] = "none"
    move_to: str | None = None
    # The first poll looks back this far, so connecting an old mailbox does not turn years
    # of mail into suggestions.
    since_days: int = Field(30, ge=0, le=3650)
    name: str | None = Field(None, description="A stable name; defaults to user@host/folder.")

    @model_validator(mode="after")
    def _check(self) -> Mailbox:
        if self.security == "plain" and not _is_local(self.host):
            raise ValueError(
                f"security 'plain' sends the password in clear text, so it is only allowed "
                f"for a server on this machine or the local network, not {self.host!r}: "
                f"use 'tls' or 'starttls'"
            )
        if self.after == "move" and not self.move_to:
            raise ValueError("after 'move' needs move_to, the folder handled mail goes to")
        return self

    @property
    def key(self) -> str:
        """The name the mailbox's state and processed mails are recorded under."""
        return self.name or f"{self.username}@{self.host}/{self.folder}"

    @property
    def imap_port(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)


def _is_local(host: str) -> bool:
    """A loopback or private address (or localhost): plaintext stays off the internet."""
    import ipaddress

    if host.lower() in _LOCAL_HOSTNAMES or host.lower().endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


class Settings(BaseSettings):
    """Everything a Life Organiser process needs to know about its environment."""

    model_config = SettingsConfigDict(
        env_prefix="LIFEORG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    broker_url: str | None = Field(
        None,
        description="Broker URL (redis:// or amqp://); overrides REDIS_URL for the queue.",
    )
    port: int = Field(8000, validation_alias=_env("PORT"), ge=1, le=65535)
    telegram_bot_token: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    # Set by Heroku and Dokku in every process they start ("web.1", "worker.2"): each runs in
    # a container of its own, whose files no other process sees. Never set by hand.
    dyno: str | None = Field(None, validation_alias=AliasChoices("DYNO"))

    data_dir: Path = DEFAULT_DATA_DIR
    image_dir: Path | None = None
    backup_dir: Path | None = None

    timezone: str = "UTC"
    default_reminder_time: str = DEFAULT_REMINDER_TIME
    # An unanswered question is withdrawn after this many days, audited as expired: a
    # message whose intent the user never chose (kept as a note), an event found in email,
    # a "which task did you finish?". A week covers a holiday without piling up questions.
    suggestion_ttl_days: float = Field(7.0, gt=0, le=365)
    # Suggested photo tags wait longer: they cost nothing while they wait, and confirming
    # tags is something people do in batches.
    tag_suggestion_ttl_days: float = Field(14.0, gt=0, le=365)

    queue_namespace: str = Field("lifeorg", pattern=r"^[A-Za-z0-9_.:-]+$")
    worker_processes: int = Field(1, ge=1, le=64)
    worker_threads: int = Field(DEFAULT_WORKER_THREADS, ge=1, le=256)
    # How long a queued ledger row may wait for a worker before the sweeper sends it again.
    # Longer than any normal queue wait, so a backlog is not duplicated; a resent message
    # is harmless anyway, because a job is claimed by compare-and-set.
    job_dispatch_lease_s: int = Field(600, ge=5)
    # Seconds added to a step's time limit to form its lease: a worker that has not
    # finished by then is dead or frozen, and the sweeper hands the job to another.
    job_lease_grace_s: int = Field(30, ge=1)
    database_pool_size: int = Field(20, ge=1, le=500)
    # Heroku Redis serves TLS (rediss://) with a self-signed certificate that cannot be
    # verified: false there keeps the connection encrypted without checking the certificate.
    redis_tls_verify: bool = True
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    # text for a terminal; json (one object per line) for a log collector.
    log_format: Literal["text", "json"] = "text"
    # Where `lifeorg worker` serves Prometheus metrics (/metrics) for all its processes;
    # 0 serves none. 9191 is the port Dramatiq's own Prometheus exporter uses.
    metrics_port: int = Field(9191, ge=0, le=65535)

    # The LLM is optional: without a model everything runs on the offline path.
    llm_model: str | None = Field(
        None, description="litellm model name: gpt-4o-mini, anthropic/..., ollama/..., openai/..."
    )
    llm_api_base: str | None = None
    llm_api_key: SecretStr | None = None
    # A model call that takes longer than this is abandoned and retried (or the offline path
    # answers): a user waiting for a reply should not wait on a stuck provider.
    llm_timeout_s: float = Field(20.0, gt=0, le=600)
    # After this many consecutive failed calls the breaker opens and work takes the offline
    # path for llm_breaker_cooldown_s, instead of every message waiting on a dead provider.
    llm_breaker_failures: int = Field(5, ge=1)
    llm_breaker_cooldown_s: float = Field(120.0, gt=0)

    # Telegram user ids allowed to use this instance, comma-separated. Empty refuses everyone:
    # an open personal organiser would file strangers' messages.
    allowed_users: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # Signs button tokens; derived from the bot token when unset (stable across restarts).
    secret_key: SecretStr | None = None
    # The Bot API server: Telegram's, or a local one (telegram-bot-api) for large files.
    telegram_api_url: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None
    # Long polling waits this long for updates; Telegram allows up to 50 s.
    polling_timeout_s: int = Field(25, ge=0, le=50)

    # IMAP mailboxes read for events: a JSON list of objects (see docs/configuration.md).
    mailboxes: Annotated[list[Mailbox], NoDecode] = Field(default_factory=list)
    # How often each mailbox is looked at. Appointments by mail are rarely urgent to the
    # minute, and providers throttle clients that poll more often than every few minutes.
    mail_poll_s: int = Field(300, ge=30, le=86400)
    # A confirmed event from email is announced this long before it starts.
    event_reminder_minutes: int = Field(60, ge=0, le=10080)

    @field_validator("allowed_users", mode="before")
    @classmethod
    def _split_users(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",")]
            try:
                return [int(part) for part in parts if part]
            except ValueError:
                raise ValueError(
                    f"must be Telegram user ids separated by commas (got {value!r})"
                ) from None
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("mailboxes", mode="before")
    @classmethod
    def _parse_mailboxes(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                # The message names the position, never the text: it holds passwords.
                raise ValueError(
                    f"must be a JSON list of mailboxes (not valid JSON at character {exc.pos})"
                ) from None
        if isinstance(value, dict):
            return [value]
        return value

    @field_validator("mailboxes")
    @classmethod
    def _unique_mailboxes(cls, value: list[Mailbox]) -> list[Mailbox]:
        keys = [mailbox.key for mailbox in value]
        if len(set(keys)) != len(keys):
            raise ValueError("two mailboxes have the same name; give each a distinct 'name'")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in _DATABASE_SCHEMES:
            raise ValueError(
                f"must start with sqlite:/// or postgresql:// (got {_redact(value)!r})"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis:// URL (got {_redact(value)!r})")
        return value or None

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        if value and value.split("://", 1)[0].lower() not in _BROKER_SCHEMES:
            raise ValueError(f"must be a redis:// or amqp:// URL (got {_redact(value)!r})")
        return value or None

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @field_validator("default_reminder_time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError(f"must be a 24-hour time HH:MM such as 09:00 (got {value!r})")
        return value

    @property
    def images_path(self) -> Path:
        """Where stored images live."""
        return self.image_dir or self.data_dir / "images"

    @property
    def backups_path(self) -> Path:
        """Where backups are written."""
        return self.backup_dir or self.data_dir / "backups"

    def redis_connection_url(self, url: str) -> str:
        """``url`` as Redis clients get it: with certificate checks off when configured."""
        if url.startswith("rediss://") and not self.redis_tls_verify and "ssl_cert_reqs" not in url:
            return f"{url}{'&' if '?' in url else '?'}ssl_cert_reqs=none"
        return url

    @property
    def queue_url(self) -> str | None:
        """The broker URL the queue uses, or None for the in-process broker."""
        return self.broker_url or self.redis_url

    def button_key(self) -> bytes:
        """The key that signs button tokens."""
        import hashlib

        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if self.telegram_bot_token is not None:
            seed = self.telegram_bot_token.get_secret_value()
            return hashlib.sha256(f"lifeorg buttons:{seed}".encode()).digest()
        return _local_key(self.data_dir)

    @property
    def llm_configured(self) -> bool:
        """Whether a model is configured (otherwise the offline path does everything)."""
        return bool(self.llm_model)

    @property
    def default_time(self) -> dt.time:
        """The default reminder time as a time of day."""
        return dt.time.fromisoformat(self.default_reminder_time)

    @property
    def suggestion_ttl(self) -> dt.timedelta:
        """How long an unanswered question (intent, email event, task match) stands."""
        return dt.timedelta(days=self.suggestion_ttl_days)

    @property
    def tag_suggestion_ttl(self) -> dt.timedelta:
        """How long a suggested photo tag waits for the user."""
        return dt.timedelta(days=self.tag_suggestion_ttl_days)


def _local_key(data_dir: Path) -> bytes:
    """A random key kept in the data directory, for setups without a bot token (the chat)."""
    import secrets

    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def _redact(url: str) -> str:
    """Hide the password in a URL so it never reaches an error message."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)?[^@\s]*@", r"\1***@", url, flags=re.IGNORECASE)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; raises ConfigError with every problem named."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{_variable_name(field)}: {_clean(error['msg'])}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    _refuse_unshared_sqlite(settings)
    return settings


def _refuse_unshared_sqlite(settings: Settings) -> None:
    """Refuse SQLite where the processes of one deployment run in separate containers.

    On Heroku and Dokku (``DYNO`` is set) each process has a filesystem of its own, emptied
    at every restart on Heroku; with a shared broker the processes hand work to each other,
    so each would read and write a SQLite file nobody else sees, and lose it on the next
    deploy. One machine (a laptop, ``lifeorg run``) shares its file and is left alone.
    Raises ConfigError naming DATABASE_URL.
    """
    if settings.dyno is None or settings.queue_url is None:
        return
    if not settings.database_url.lower().startswith("sqlite"):
        return
    if "database_url" in settings.model_fields_set:
        database = f"{_redact(settings.database_url)} is a SQLite file"
    else:
        database = f"is not set, so the database would be a SQLite file ({DEFAULT_DATABASE_URL})"
    broker = "LIFEORG_BROKER_URL" if settings.broker_url else "REDIS_URL"
    raise ConfigError(
        f"invalid configuration:\n  DATABASE_URL {database}, which the processes of this "
        f"deployment cannot share: DYNO={settings.dyno} says the platform (Heroku or Dokku) "
        f"runs each process in a container with its own filesystem, and {broker} hands work "
        "between them. Use PostgreSQL: `heroku addons:create heroku-postgresql` or "
        "`dokku postgres:link DB APP` sets DATABASE_URL. SQLite is for one machine "
        "(`lifeorg run` or `lifeorg chat` without a shared broker)."
    )


def _variable_name(field: str) -> str:
    """The environment variable a user sets for a settings field (and where inside it)."""
    bare = {"database_url", "redis_url", "port", "telegram_bot_token"}
    name, *inside = field.lower().removeprefix("lifeorg_").split(".")
    variable = name.upper() if name in bare else f"LIFEORG_{name.upper()}"
    if name == "mailboxes" and inside and inside[0].isdigit():
        where = f"mailbox {int(inside[0]) + 1}" + (
            f", {'.'.join(inside[1:])}" if inside[1:] else ""
        )
        return f"{variable} ({where})"
    return variable


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
