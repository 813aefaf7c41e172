"""Reply latency under a steady 20 messages a second, offline.

``python -m bench latency [--quick] [--json]``. ``lifeorg bot`` long-polls the fake Bot API
(which enforces Telegram's limits) and one ``lifeorg worker`` (the default: one process,
eight threads) runs the steps on Redis and a throwaway PostgreSQL database, no LLM. Text
messages from 40 chats (one every two seconds each) are offered at 20 a second for 30 s
(10 s with --quick). A message's latency runs from the moment the fake hands its update to
the bot (the getUpdates answer) until the fake receives the reply to it.
"""

from __future__ import annotations

import argparse
import itertools
import time

from bench._common import (
    MESSAGE_MIX,
    START_TIMEOUT_S,
    Setup,
    logger,
    report,
    services,
    summary_ms,
    wait_for_replies,
)

RATE_PER_S = 20
FULL_SECONDS = 30
QUICK_SECONDS = 10
# Each chat writes every CHATS / RATE_PER_S = 2 s: within Telegram's 1/s per chat.
CHATS = 40
FIRST_CHAT = 300_000
WARMUP_MESSAGES = 10
# After the last message is offered, the replies still queued get this long.
DRAIN_TIMEOUT_S = 300


def offer_steadily(setup: Setup, chats: list[int], seconds: int) -> list[tuple[int, int]]:
    """Push RATE_PER_S messages a second for ``seconds``, each on its own tick."""
    texts, rooms = itertools.cycle(MESSAGE_MIX), itertools.cycle(chats)
    sent, started = [], time.monotonic()
    for index in range(RATE_PER_S * seconds):
        delay = started + index / RATE_PER_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent.append(setup.fake.push_text(next(rooms), next(texts)))
    return sent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench latency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS} s of load")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # seconds (smoke test)
    args = parser.parse_args(argv)
    seconds = args.size or (QUICK_SECONDS if args.quick else FULL_SECONDS)
    log = logger(args.json)

    with services("latency", log, telegram_limits=True) as setup:
        chats = [FIRST_CHAT + i for i in range(CHATS)]
        setup.add_users(chats)
        setup.start_worker()
        setup.start_bot()
        warmup = [setup.fake.push_text(chat, MESSAGE_MIX[0]) for chat in chats[:WARMUP_MESSAGES]]
        wait_for_replies(setup, warmup, START_TIMEOUT_S)
        log(f"warmed up; offering {RATE_PER_S} messages/s for {seconds} s")
        sent = offer_steadily(setup, chats, seconds)
        replies = wait_for_replies(setup, sent, DRAIN_TIMEOUT_S)
        latencies = [replies[key] - setup.fake.delivered[key] for key in sent]
        result = {"messages": len(sent), "offered_per_s": RATE_PER_S, "seconds": seconds}
        result |= summary_ms(latencies)
        result["http_429"] = setup.fake.count_429
    report(result, args.json)
    return 0
