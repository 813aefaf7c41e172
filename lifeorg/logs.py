"""Logging, set up once per process: the level, text or JSON lines, and no secrets.

``configure(settings)`` runs at process start (``lifeorg.runtime.start``):

- the root logger's level is ``LIFEORG_LOG_LEVEL``, in every process, the Dramatiq worker
  processes included (Dramatiq sets up their handler before ours runs);
- ``LIFEORG_LOG_FORMAT=json`` gives one JSON object per line: ``time``, ``level``, ``logger``,
  ``message``, ``process``, any fields passed as ``extra`` (the step fields of
  ``lifeorg.middleware.StepMetrics``) and ``exception`` when there is one;
- every secret in the settings becomes ``***`` (see ``RedactSecrets``).

Redaction happens when a record is made (a LogRecord factory), not in one handler: a filter
on the root handler would miss handlers that libraries bring (pyTelegramBotAPI writes to its
own stderr handler) and handlers set up later (``lifeorg chat`` logs to a file). ``redact``
does the same for text that is stored rather than logged, such as a job's last error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from lifeorg.config import Settings

REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# A shorter value turns up by chance in ordinary words and numbers, and replacing it would
# garble every line while protecting nothing a guess could not find.
MIN_SECRET_CHARS = 4
# Settings that are URLs and may carry a password (user:password@host).
URL_SETTINGS = ("database_url", "redis_url", "broker_url", "llm_api_base", "telegram_api_url")
# Any URL's password, known or not (a driver's error message may quote its DSN).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@", re.IGNORECASE)
# Loggers that write every request line, Bot API path and so the bot token included, at
# DEBUG: redaction covers the token, and they stay at INFO anyway, so DEBUG stays readable.
REQUEST_LOGGERS = ("urllib3.connectionpool",)
# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

_redactor: RedactSecrets | None = None
_factory_before: Any = None


class RedactSecrets(logging.Filter):
    """Replace the given secrets, and any password inside a URL, with ``***``.

    As a filter it rewrites a record's message, exception and stack text before formatting;
    it never drops a record.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        known = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a malformed call: the handler reports it, as logging always does
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secrets_of(settings: Settings) -> set[str]:
    """Every secret the settings hold: SecretStr values, mailbox and URL passwords."""
    found: set[str] = set()
    for _name, value in settings:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
    if settings.telegram_bot_token is not None:
        # "<bot id>:<secret>": the part after the colon is the secret, and is logged alone
        # where a library hides only the whole token.
        found.add(settings.telegram_bot_token.get_secret_value().partition(":")[2])
    found.update(mailbox.password.get_secret_value() for mailbox in settings.mailboxes)
    for name in URL_SETTINGS:
        password = _url_password(getattr(settings, name))
        if password:
            found.update({password, unquote(password)})
    return {secret for secret in found if secret}


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:  # not a URL the settings would have let through
        return None


def redact(text: str) -> str:
    """``text`` with this process's secrets replaced (URL passwords only before start)."""
    return (_redactor or RedactSecrets()).redact(text)


def use_secrets(settings: Settings) -> RedactSecrets:
    """Redact the settings' secrets from every log record made from now on, and in ``redact``."""
    global _redactor, _factory_before
    _redactor = RedactSecrets(secrets_of(settings))
    if _factory_before is None:
        _factory_before = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_redacted_record)
    return _redactor


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _factory_before(*args, **kwargs)
    if _redactor is not None:
        _redactor.filter(record)
    return record


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(settings: Settings) -> None:
    """Set this process's log level, line format and redaction (see the module docstring)."""
    use_secrets(settings)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())  # stderr, like logging.basicConfig
    root.setLevel(settings.log_level)
    for handler in root.handlers:
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter())
        elif handler.formatter is None:
            # A handler with a format keeps it: Dramatiq's names the process and thread.
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.getEffectiveLevel()))


def adopt(*names: str) -> None:
    """Send the named loggers' records to the root handlers instead of their own.

    For libraries that install a handler of their own when imported (litellm): their lines
    then have the configured format instead of a second one of their own.
    """
    for name in names:
        logger = logging.getLogger(name)
        for handler in logger.handlers[:]:
            logger.removeHandler(handler)
        logger.propagate = True
