"""Telegram pacing (GCRA) in this process and shared through a real Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from lifeorg.pacing import CHAT, Limit, LocalStore, Pacer, RedisStore


@pytest.fixture(params=["local", "redis"])
def stores(request):
    """Two stores that must share their counts: two worker processes, say."""
    if request.param == "local":
        store = LocalStore()
        return store, store
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    return RedisStore(client), RedisStore(
        redis.Redis.from_url(request.getfixturevalue("redis_url"))
    )


def test_a_burst_then_one_per_interval(stores):
    """Three at once, then the fourth waits about one interval."""
    first, second = stores
    key = f"test:{uuid.uuid4()}"
    limit = Limit(interval_s=0.5, burst=3)
    assert [first.take(key, limit) for _ in range(2)] == [0.0, 0.0]
    assert second.take(key, limit) == 0.0  # the other process counts the same limit
    wait = first.take(key, limit)
    assert 0.3 < wait <= 0.5


def test_the_pacer_spaces_sends_to_one_chat(stores):
    """Five sends to one chat: three at once, then CHAT.interval_s apart."""
    pacer = Pacer(stores[0], namespace=f"test-{uuid.uuid4()}")
    times = []
    for _ in range(5):
        assert pacer.wait_turn(42, timeout_s=5)
        times.append(time.monotonic())
    assert times[2] - times[0] < 0.2
    assert times[4] - times[0] >= 2 * CHAT.interval_s - 0.05


def test_no_turn_within_the_timeout_says_so(stores):
    """A sender that cannot get a turn in time gives up at once instead of oversleeping."""
    pacer = Pacer(stores[0], namespace=f"test-{uuid.uuid4()}")
    for _ in range(CHAT.burst):
        assert pacer.wait_turn(7, timeout_s=1)
    started = time.monotonic()
    assert pacer.wait_turn(7, timeout_s=0.2) is False
    assert time.monotonic() - started < 0.2
