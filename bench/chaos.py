"""The chaos run: nothing lost, nothing sent twice, while the machinery keeps failing.

``python -m bench chaos [--quick] [--json]``. ``lifeorg bot`` long-polls the fake Bot API,
``lifeorg scheduler`` fires reminders and sweeps the ledger, and one ``lifeorg worker`` runs
the steps on a throwaway PostgreSQL database and a Redis of the run's own. 1000 messages
(200 with --quick) from 20 users arrive at 5 a second: notes, tasks, events, searches,
"I did X" and "remind me in 1 minute to ..." (so reminders fall due during the run).
Meanwhile the worker is SIGKILLed a few seconds after each start and started again, Redis
is killed and restarted once halfway (its queued messages are gone: the ledger's sweeper
must send them again), the fake model fails 30% of its calls and the fake Bot API answers
10% of its calls with 5xx and 3% with 429.

Then the run waits (``--settle-timeout``) until the ledger is quiet (no job queued or
processing, no reply pending, every reminder due has gone off) and counts: each message
must have made exactly one memory and exactly one reply (a sendMessage replying to it), each
reminder must have gone off exactly once, and no job may be left unfinished or failed.
When something is off, the logs of every process and the ledger rows concerned are kept
(``evidence.json``) and their directory named on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench._chaos_support import ChaosSetup, DyingWorker, chaos_services
from bench._common import logger, report
from lifeorg.models import AuditEntry, Job, Memory, OutboxMessage, Reminder
from lifeorg.models.base import utcnow
from lifeorg.models.states import AuditAction, JobStatus, OutboxStatus, ReminderState

FULL_MESSAGES = 1000
QUICK_MESSAGES = 200
CHATS = 20
FIRST_CHAT = 400_000
# Five messages a second: the pipeline keeps up with that even at half its strength, so the
# run measures recovery, not a backlog.
OFFER_PER_S = 5.0
# A worker lives this long (seconds, drawn uniformly) after it is ready, then is SIGKILLed.
WORKER_LIFETIME_S = (2.0, 6.0)
# Redis is killed and restarted once, this far into the messages.
REDIS_RESTART_AT = 0.5
TELEGRAM_5XX = 0.10
TELEGRAM_429 = 0.03
MODEL_FAILURES = 0.30
# How long a queued job waits for a worker before the sweeper sends it again: short, so a
# message lost with Redis is sent again within the run.
DISPATCH_LEASE_S = 10
# After the chaos, the longest designed recovery is a killed model step: its lease (90 s
# limit + 30 s grace) and a sweep (every 30 s), plus a retry's backoff. Twice that.
SETTLE_TIMEOUT_S = 360
# How often the run looks at the ledger while it settles, and how many looks in a row must
# find it quiet: one look could fall between a step's commit and the next step's claim.
SETTLE_POLL_S = 1.0
QUIET_LOOKS = 2
# The main loop's tick: offers, kills and restarts happen on it.
TICK_S = 0.02
SEED = 20261124
# The messages, by share: (kind, share, template). {n} makes each one unique.
MIX = (
    ("note", 0.20, "the gate code for shed {n} is {code}"),
    ("note", 0.10, "idea: a picnic for the team of room {n}"),
    ("task", 0.15, "pay invoice {n} by friday"),
    ("reminder", 0.15, "remind me in {minutes} to water plant {n}"),
    ("event", 0.10, "dentist on december 3 at 14:30"),
    ("search", 0.15, "what's the gate code for shed {near}?"),
    ("done", 0.15, "I paid invoice {near}"),
)


Log = Callable[[str], None]


@dataclass(frozen=True)
class Offered:
    """One message the fake handed to the bot."""

    chat_id: int
    message_id: int
    update_id: int
    kind: str
    text: str

    @property
    def key(self) -> tuple[int, int]:
        return self.chat_id, self.message_id


def compose(index: int, rng: random.Random) -> tuple[str, str]:
    """The ``index``-th message: a kind drawn by share, its text unique to the index."""
    kinds, shares = zip(*((kind, share) for kind, share, _ in MIX), strict=True)
    pick = rng.choices(range(len(MIX)), weights=shares)[0]
    minutes = rng.choice(("1 minute", "2 minutes"))
    near = max(0, index - rng.randint(1, 20))
    text = MIX[pick][2].format(n=index, code=1000 + index, minutes=minutes, near=near)
    return kinds[pick], text


def offer(setup: ChaosSetup, chat_id: int, kind: str, text: str) -> Offered:
    """Queue one user message at the fake Bot API."""
    fake = setup.fake
    with fake._cv:  # re-entrant: the message id read here is the one push_message assigns
        message_id = fake._next_message_id
        update_id = fake.push_message(chat_id, text)
    return Offered(chat_id, message_id, update_id, kind, text)


# --- the run --------------------------------------------------------------------------------


def start_processes(setup: ChaosSetup, rng: random.Random, log: Log) -> DyingWorker:
    """Users, scheduler, worker and bot, in that order, before any fault is switched on."""
    worker = DyingWorker(setup, rng, WORKER_LIFETIME_S)
    worker.start()
    setup.start_scheduler()
    worker.calm()
    setup.start_bot()
    log("scheduler, worker and bot running; faults on")
    setup.fake.chaos(TELEGRAM_5XX, TELEGRAM_429, seed=rng.randrange(2**32))
    worker.unleash()
    return worker


def storm(
    setup: ChaosSetup, worker: DyingWorker, count: int, rng: random.Random, log: Log
) -> list[Offered]:
    """Offer ``count`` messages at OFFER_PER_S while killing the worker and, once, Redis."""
    rooms = itertools.cycle(range(FIRST_CHAT, FIRST_CHAT + CHATS))
    offered: list[Offered] = []
    started = time.monotonic()
    restart_at = started + count / OFFER_PER_S * REDIS_RESTART_AT
    while len(offered) < count:
        now = time.monotonic()
        while len(offered) < count and now >= started + len(offered) / OFFER_PER_S:
            offered.append(offer(setup, next(rooms), *compose(len(offered), rng)))
        worker.tick(now)
        if setup.redis.restarts == 0 and now >= restart_at:
            log(f"restarting Redis ({len(offered)} messages offered)")
            took = setup.redis.restart()
            log(f"Redis back after {took:.2f} s")
        setup.children.check()
        time.sleep(TICK_S)
    log(f"{count} messages offered; {worker.kills} kills; the worker may live now")
    worker.calm()
    return offered


def quiet(setup: ChaosSetup) -> bool:
    """Every update taken, no job unfinished, no reply pending, every reminder gone off."""
    if setup.fake.pending_update_ids():
        return False
    with setup.database.connection_context():
        unfinished = Job.status.in_([JobStatus.QUEUED, JobStatus.PROCESSING])
        if Job.select().where(unfinished).exists():
            return False
        if OutboxMessage.select().where(OutboxMessage.status == OutboxStatus.PENDING).exists():
            return False
        waiting = Reminder.state.in_([ReminderState.SCHEDULED, ReminderState.SNOOZED])
        return not Reminder.select().where(waiting).exists()


def settle(setup: ChaosSetup, worker: DyingWorker, timeout: float) -> bool:
    """Wait until the ledger is quiet QUIET_LOOKS times running; False after ``timeout``."""
    deadline, looks = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        worker.tick(time.monotonic())
        setup.children.check()
        looks = looks + 1 if quiet(setup) else 0
        if looks == QUIET_LOOKS:
            return True
        time.sleep(SETTLE_POLL_S)
    return False


# --- counting -------------------------------------------------------------------------------


def tally(setup: ChaosSetup, offered: list[Offered], chats_by_user: dict[int, int]) -> dict:
    """The run's outcome from the fake's records and the ledger."""
    keys = {o.key for o in offered}
    sent = setup.fake.new_messages()
    replies, fired = reply_counts(sent), fired_counts(sent)
    with setup.database.connection_context():
        memories = Counter(
            (m.source_chat_id, m.source_message_id)
            for m in Memory.select(Memory.source_chat_id, Memory.source_message_id)
        )
        due = Reminder.select().where(Reminder.fire_at <= utcnow())
        reminders = [(chats_by_user[r.owner_id], r.text) for r in due]
        stuck = Job.select().where(Job.status != JobStatus.COMPLETED).count()
        requeued = AuditEntry.select().where(
            (AuditEntry.entity_type == "job") & (AuditEntry.action == AuditAction.REQUEUED)
        )
        unsent = OutboxMessage.select().where(OutboxMessage.status != OutboxStatus.SENT).count()
        attempts = sum(j.attempts for j in Job.select(Job.attempts))
    times_fired = [fired[(chat, f"⏰ {text}")] for chat, text in reminders]
    return {
        "updates": len(offered),
        "memories": sum(1 for k in keys if memories[k]),
        "duplicate_memories": sum(memories[k] - 1 for k in keys if memories[k] > 1),
        "replies": sum(1 for k in keys if replies[k]),
        "duplicate_replies": sum(replies[k] - 1 for k in keys if replies[k] > 1),
        "lost": sum(1 for k in keys if not memories[k] or not replies[k]),
        "reminders": len(reminders),
        "reminders_fired_twice": sum(1 for n in times_fired if n > 1),
        "reminders_missed": sum(1 for n in times_fired if n == 0),
        "stuck_jobs": stuck,
        "outbox_unsent": unsent,
        "jobs_requeued": requeued.count(),
        "job_attempts": attempts,
    }


def reply_counts(sent: list) -> Counter:
    """How many messages replied to each (chat, message id)."""
    return Counter((s.chat_id, s.reply_to_message_id) for s in sent if s.reply_to_message_id)


def fired_counts(sent: list) -> Counter:
    """How many unprompted messages (no reply) each (chat, first line) got: a reminder's
    notification has "⏰ <its text>" on its first line."""
    return Counter(
        (s.chat_id, (s.text or "").split("\n")[0]) for s in sent if not s.reply_to_message_id
    )


TROUBLE = (
    "lost",
    "duplicate_memories",
    "duplicate_replies",
    "reminders_fired_twice",
    "reminders_missed",
    "stuck_jobs",
    "outbox_unsent",
)


def evidence(setup: ChaosSetup, offered: list[Offered], chats_by_user: dict[int, int]) -> dict:
    """The ledger rows and sends behind each problem, for whoever fixes it."""
    sent = setup.fake.new_messages()
    by_reply, fired = reply_counts(sent), fired_counts(sent)
    with setup.database.connection_context():
        memory_of = {
            (m.source_chat_id, m.source_message_id): m.id
            for m in Memory.select(Memory.id, Memory.source_chat_id, Memory.source_message_id)
        }
        troubled = [o for o in offered if by_reply[o.key] != 1 or o.key not in memory_of]
        messages = [_message_trail(o, memory_of.get(o.key), sent) for o in troubled]
        unfinished = Job.select().where(Job.status != JobStatus.COMPLETED)
        reminders = [
            _reminder_trail(r, chats_by_user[r.owner_id], fired)
            for r in Reminder.select().where(Reminder.fire_at <= utcnow())
            if fired[(chats_by_user[r.owner_id], f"⏰ {r.text}")] != 1
        ]
        return {
            "broker": setup.redis.holdings(),
            "messages": messages,
            "reminders": reminders,
            "unfinished_jobs": [_job_row(j) for j in unfinished],
            "unsent_outbox": [
                _row(o)
                for o in OutboxMessage.select().where(OutboxMessage.status != OutboxStatus.SENT)
            ],
        }


def _message_trail(o: Offered, memory_id: int | None, sent: list) -> dict:
    keys = [f"update:{o.update_id}"]
    if memory_id is not None:
        keys += [f"{step}:memory:{memory_id}" for step in ("classify", "search", "match_task")]
        keys.append(f"notify:reply:memory:{memory_id}")
    jobs = Job.select().where(Job.idempotency_key.in_(keys)).order_by(Job.id)
    replies = [
        {"message_id": s.message_id, "time": s.time, "text": (s.text or "")[:80]}
        for s in sent
        if (s.chat_id, s.reply_to_message_id) == o.key
    ]
    return {
        **asdict(o),
        "memory_id": memory_id,
        "jobs": [_job_row(j) for j in jobs],
        "replies": replies,
    }


def _reminder_trail(reminder: Reminder, chat_id: int, fired: Counter) -> dict:
    jobs = Job.select().where(Job.idempotency_key.startswith(f"fire_reminder:{reminder.id}:"))
    return {
        **_row(reminder),
        "times_fired": fired[(chat_id, f"⏰ {reminder.text}")],
        "jobs": [_job_row(j) for j in jobs],
    }


def _job_row(job: Job) -> dict:
    audit = AuditEntry.select().where(
        (AuditEntry.entity_type == "job") & (AuditEntry.entity_id == str(job.id))
    )
    return {**_row(job), "audit": [_row(a) for a in audit.order_by(AuditEntry.id)]}


def _row(model: Any) -> dict:
    """A row as JSON-able values (instants as ISO text)."""
    return json.loads(json.dumps(model.__data__, default=str))


# --- the command ----------------------------------------------------------------------------


def run(
    setup: ChaosSetup, messages: int, settle_timeout: float, log: Log
) -> tuple[dict, dict | None]:
    """The whole run; returns the result and, when something is off, the evidence."""
    rng = random.Random(SEED)
    chats = list(range(FIRST_CHAT, FIRST_CHAT + CHATS))
    users = setup.add_users(chats)
    chats_by_user = {user: chat for chat, user in users.items()}
    worker = start_processes(setup, rng, log)
    started = time.monotonic()
    offered = storm(setup, worker, messages, rng, log)
    chaos_s = time.monotonic() - started
    settled = settle(setup, worker, settle_timeout)
    elapsed = time.monotonic() - started
    log("the ledger is quiet" if settled else f"not quiet after {settle_timeout:.0f} s")
    result = tally(setup, offered, chats_by_user)
    result |= {
        "settled": settled,
        "kills": worker.kills,
        "worker_crashes": worker.crashes,
        "redis_restarts": setup.redis.restarts,
        "chaos_s": round(chaos_s, 1),
        "settle_s": round(elapsed - chaos_s, 1),
        "elapsed_s": round(elapsed, 1),
        "http_5xx": sum(1 for c in setup.fake.calls if c.status >= 500),
        "http_429": setup.fake.count_429,
        "llm_calls": len(setup.model.requests),
        "llm_failures": setup.model.failures,
    }
    trouble = any(result[name] for name in TROUBLE) or not settled
    return result, evidence(setup, offered, chats_by_user) if trouble else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES} messages")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=SETTLE_TIMEOUT_S,
        help=f"seconds to wait for the ledger to go quiet (default {SETTLE_TIMEOUT_S})",
    )
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)  # the smoke test
    args = parser.parse_args(argv)
    messages = args.messages or (QUICK_MESSAGES if args.quick else FULL_MESSAGES)
    log = logger(args.json)

    with chaos_services(
        log, dispatch_lease_s=DISPATCH_LEASE_S, model_fail_ratio=MODEL_FAILURES, seed=SEED
    ) as setup:
        try:
            result, found = run(setup, messages, args.settle_timeout, log)
        except BaseException:
            log(f"the run failed; its logs are kept in {setup.tmp}")
            raise
    if found is None:
        shutil.rmtree(setup.tmp, ignore_errors=True)
    else:
        (setup.tmp / "evidence.json").write_text(json.dumps(found, indent=1))
        log(f"something is off: logs and evidence.json kept in {setup.tmp}")
    report(result, args.json)
    return 0 if found is None else 1
