"""Telegram's rate limits, shared by every worker: 30 messages a second overall, about one a
second per chat (with a short burst), 20 a minute per group.

Each limit is a GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp
per key): sends are spaced by the limit's interval, with ``burst`` allowed at once. Window
counters in whole seconds would let twice the limit through at a second's boundary, which
Telegram answers with 429. The state lives in Redis when there is one (an atomic script,
shared by all worker processes, timed by Redis's clock) and in this process otherwise.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Limit:
    """At most one send per ``interval_s`` on average, ``burst`` at once."""

    interval_s: float
    burst: int = 1


# About 10% under Telegram's limits: our clock and theirs see a send at slightly different
# moments, and a 429 costs more than a slightly slower burst.
GLOBAL = Limit(interval_s=1 / 28)
CHAT = Limit(interval_s=1.1, burst=3)
GROUP = Limit(interval_s=3.3)
# How long a waiting sender sleeps at most between looks.
MAX_NAP_S = 0.25


class _Store(Protocol):
    def take(self, key: str, limit: Limit) -> float:
        """0 if a send may go now (and count it), else how long to wait."""


class LocalStore:
    """Limits kept in this process (the one-process setups have no other sender)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}

    def take(self, key: str, limit: Limit) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            wait = tat - (limit.burst - 1) * limit.interval_s - now
            if wait > 0:
                return wait
            self._tat[key] = tat + limit.interval_s
            return 0.0


# KEYS[1]: the limit's key. ARGV: interval and tolerance in microseconds. Returns the wait
# in microseconds (0: granted and counted). TIME is Redis's clock, the same for every worker.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return wait end
local ttl = math.ceil((tat + interval - now) / 1000) + 1000
redis.call('SET', KEYS[1], tat + interval, 'PX', ttl)
return 0
"""


class RedisStore:
    """Limits kept in Redis, shared by every worker process."""

    def __init__(self, client: Any) -> None:
        self._script = client.register_script(_GCRA)

    def take(self, key: str, limit: Limit) -> float:
        interval = int(limit.interval_s * 1_000_000)
        wait = self._script(keys=[key], args=[interval, (limit.burst - 1) * interval])
        return int(wait) / 1_000_000


class Pacer:
    """Waits for a sending turn under every limit that applies to a chat."""

    def __init__(self, store: _Store, namespace: str = "lifeorg") -> None:
        self.store = store
        self.namespace = namespace

    def wait_turn(self, chat_id: int, timeout_s: float) -> bool:
        """Take a sending turn for ``chat_id``; False if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        chat_limit = GROUP if chat_id < 0 else CHAT
        for key, limit in ((f"tg:chat:{chat_id}", chat_limit), ("tg:global", GLOBAL)):
            while (wait := self.store.take(f"{self.namespace}:{key}", limit)) > 0:
                if time.monotonic() + wait > deadline:
                    return False
                time.sleep(min(wait, MAX_NAP_S))
        return True


class Unlimited:
    """No limits: for a messenger that is not Telegram (the terminal chat)."""

    def wait_turn(self, chat_id: int, timeout_s: float) -> bool:
        return True
