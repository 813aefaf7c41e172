"""600 reminders due at the same moment, for 600 chats, through Telegram's rate limits.

``python -m bench reminders [--quick] [--json]``. The real processes on Redis and a throwaway
PostgreSQL database: ``lifeorg scheduler`` claims the due reminders, one ``lifeorg worker``
(the default: one process, eight threads) runs ``fire_reminder`` and ``notify``, and notify
waits for its turn in the shared pacer (Redis) before calling the fake Bot API, which
enforces Telegram's limits (30 messages/s overall, 1/s per chat, 429 with retry_after
beyond). Reports the delivery rate against the 30/s cap, 429s, duplicates and how late the
first message went out. --quick does the same with 200 reminders.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter

from bench._common import Setup, logger, report, services, wait_until
from lifeorg.models import Reminder

FULL_REMINDERS = 600
QUICK_REMINDERS = 200
TELEGRAM_CAP_PER_S = 30  # Telegram's overall limit, which the fake enforces
FIRST_CHAT = 100_000
# The reminders fall due this long after they are written: the scheduler is already running.
LEAD_S = 3.0
# Even a slow run sends 600 messages well within this.
DELIVERY_TIMEOUT_S = 180
WARMUP_CHAT = FIRST_CHAT - 1


def schedule(owners: list[int], due: dt.datetime) -> None:
    """One reminder per owner, all due at ``due``."""
    rows = [{"owner": owner, "text": f"call {owner}", "fire_at": due} for owner in owners]
    with Reminder._meta.database.connection_context():
        Reminder.insert_many(rows).execute()


def due_in(seconds: float) -> tuple[dt.datetime, float]:
    """An instant ``seconds`` ahead, as a UTC datetime and on the fake's monotonic clock."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds), time.monotonic() + seconds


def warm_up(setup: Setup, user_id: int) -> None:
    """One reminder through scheduler, worker and fake first: pools, pacer and imports warm."""
    due, _ = due_in(0)
    schedule([user_id], due)
    wait_until(
        lambda: setup.fake.messages_to(WARMUP_CHAT), 60, "the warm-up reminder", setup.children
    )


def measure(setup: Setup, chats: list[int], owners: list[int], log) -> dict:
    """Schedule one reminder per chat, all due together, and time their delivery."""
    due, due_clock = due_in(LEAD_S)
    schedule(owners, due)
    log(f"{len(owners)} reminders due at {due:%H:%M:%S}")
    wanted = set(chats)

    def delivered() -> bool:
        return wanted <= {s.chat_id for s in setup.fake.new_messages()}

    wait_until(delivered, LEAD_S + DELIVERY_TIMEOUT_S, "every reminder", setup.children)
    sends = [s for s in setup.fake.new_messages() if s.chat_id in wanted]
    first, last = sends[0].time, sends[-1].time
    per_chat = Counter(s.chat_id for s in sends)
    rate = (len(sends) - 1) / (last - first) if last > first else float("inf")
    return {
        "reminders": len(chats),
        "rate_vs_cap": round(rate / TELEGRAM_CAP_PER_S, 3),
        "msgs_per_s": round(rate, 1),
        "http_429": setup.fake.count_429,
        "duplicates": sum(count - 1 for count in per_chat.values()),
        "first_late_s": round(first - due_clock, 3),
        "total_s": round(last - due_clock, 3),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench reminders", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REMINDERS} reminders")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)  # reminders (smoke test)
    args = parser.parse_args(argv)
    count = args.size or (QUICK_REMINDERS if args.quick else FULL_REMINDERS)
    log = logger(args.json)

    with services("reminders", log, telegram_limits=True) as setup:
        chats = [FIRST_CHAT + i for i in range(count)]
        users = setup.add_users([WARMUP_CHAT, *chats])
        setup.start_worker()
        setup.start_scheduler()
        log("scheduler and worker running")
        warm_up(setup, users[WARMUP_CHAT])
        result = measure(setup, chats, [users[c] for c in chats], log)
    report(result, args.json)
    return 0
