"""Telegram's rate limits, shared by every worker: 30 messages a second overall, about one a
second per chat (with a short burst), 20 a minute per group.

The counters live in Redis when there is one (so all worker processes share them) and in
this process otherwise (the one-process setups, which have only this process sending).
"""

from __future__ import annotations

import time

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backend import RateLimiterBackend

# A little under Telegram's 30/s: its own counting is not ours, and a 429 costs more than a
# slightly slower burst.
GLOBAL_PER_SECOND = 28
# One a second per private chat, with room for a reply and its follow-up at once.
CHAT_BURST = 3
CHAT_WINDOW_S = 3
GROUP_PER_MINUTE = 20
# How often a waiting sender looks again.
POLL_S = 0.05


class Pacer:
    """Waits for a sending turn under every limit that applies to a chat."""

    def __init__(self, backend: RateLimiterBackend, namespace: str = "lifeorg") -> None:
        self.backend = backend
        self.namespace = namespace
        self._global = WindowRateLimiter(
            backend, f"{namespace}:tg:global", limit=GLOBAL_PER_SECOND, window=1
        )

    def _chat(self, chat_id: int) -> WindowRateLimiter:
        if chat_id < 0:  # groups and channels
            return WindowRateLimiter(
                self.backend,
                f"{self.namespace}:tg:chat:{chat_id}",
                limit=GROUP_PER_MINUTE,
                window=60,
            )
        return WindowRateLimiter(
            self.backend,
            f"{self.namespace}:tg:chat:{chat_id}",
            limit=CHAT_BURST,
            window=CHAT_WINDOW_S,
        )

    def wait_turn(self, chat_id: int, timeout_s: float) -> bool:
        """Take a sending turn for ``chat_id``; False if none came within ``timeout_s``."""
        chat = self._chat(chat_id)
        deadline = time.monotonic() + timeout_s
        while True:
            with chat.acquire(raise_on_failure=False) as chat_ok:
                if chat_ok and self._take_global(deadline):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)

    def _take_global(self, deadline: float) -> bool:
        while True:
            with self._global.acquire(raise_on_failure=False) as ok:
                if ok:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
