"""The ``lifeorg`` command line.

Each command imports what it needs when it runs, so ``lifeorg --help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _settings():
    from lifeorg.config import load_settings

    return load_settings()


def _open(settings, *, migrate: bool = False):
    from lifeorg.database import open_database

    return open_database(settings, migrate=migrate)


# --- db -----------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply pending schema migrations; safe to run again."""
    from lifeorg.database import applied_migrations, build_database, upgrade

    database = build_database(_settings().database_url, 1)
    with database.connection_context():
        applied_now = upgrade(database)
        head = applied_migrations(database)[-1]
    if applied_now:
        print(f"applied {', '.join(applied_now)}; schema now at {head}")
    else:
        print(f"nothing to apply; schema already at {head}")
    return EXIT_OK


def cmd_db_status(args: argparse.Namespace) -> int:
    """List migrations and whether each is applied."""
    from lifeorg.database import build_database, migration_runner

    settings = _settings()
    database = build_database(settings.database_url, 1)
    with database.connection_context():
        rows = migration_runner(database).status()
    for migration in rows:
        state = migration.applied.isoformat(" ", "seconds") if migration.applied else "pending"
        print(f"{migration.name:<40} {state}")
    return EXIT_OK if all(m.applied for m in rows) else EXIT_FAILED


# --- worker -------------------------------------------------------------------------------


# How often a worker looks at an idle queue.
IDLE_POLL_MS = 100


def cmd_worker(args: argparse.Namespace) -> int:
    """Run Dramatiq worker processes over every actor (and any extra actor modules)."""
    settings = _settings()
    if settings.queue_url is None:
        print(
            "lifeorg worker: no broker configured. Set REDIS_URL (or LIFEORG_BROKER_URL=amqp://...)"
            " so separate worker processes can share the queue; without one, the workers run"
            " inside the single lifeorg process.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    _open(settings, migrate=True)  # migrate once here, and fail clearly before forking
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "lifeorg.worker_boot",
        *args.modules,
        "--processes",
        str(args.processes or settings.worker_processes),
        "--threads",
        str(args.threads or settings.worker_threads),
    ]
    if args.queues:
        command += ["--queues", *args.queues]
    # A worker holds two fetched messages per thread (Dramatiq's default, which keeps the
    # threads fed: one per thread cost a third of the throughput at 20 messages a second),
    # and as many of its delayed retries, not Dramatiq's thousand per thread: what a
    # SIGKILLed worker held waits for the broker's dead-worker recovery.
    prefetch = str(2 * (args.threads or settings.worker_threads))
    os.environ.setdefault("dramatiq_delay_queue_prefetch", prefetch)
    # An idle queue is polled every 100 ms, not every second: a message passes two queues
    # (default, then notify), and at a message a second the reply's median wait went from
    # 601 ms to 158 ms (`python -m bench latency`), for about ten cheap Redis calls a second.
    os.environ.setdefault("dramatiq_worker_timeout", str(IDLE_POLL_MS))
    if settings.log_format == "json":
        # Dramatiq's own set-up writes text lines; each process sets up JSON as it starts.
        command.append("--skip-logging")
    if settings.metrics_port:
        # Every worker process writes its samples here; one fork process serves their sum.
        from lifeorg.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

        os.environ[MULTIPROC_ENV] = str(prepare_multiprocess_dir(os.getpid()))
        command += ["--fork-function", "lifeorg.metrics:serve_worker_metrics"]
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return EXIT_FAILED  # not reached


# --- jobs ---------------------------------------------------------------------------------


def cmd_jobs_list(args: argparse.Namespace) -> int:
    """List ledger rows, newest first."""
    from lifeorg.models import Job

    _open(_settings())
    query = Job.select().order_by(Job.id.desc()).limit(args.limit)
    if args.status:
        query = query.where(Job.status == args.status)
    if args.kind:
        query = query.where(Job.kind == args.kind)
    print(f"{'id':>8}  {'kind':<16} {'status':<10} {'tries':>5}  {'updated':<19}  error")
    for job in query:
        error = (job.last_error or "").strip().splitlines()[-1:] or [""]
        print(
            f"{job.id:>8}  {job.kind:<16} {job.status:<10} {job.attempts:>2}/{job.max_attempts:<2}"
            f"  {job.updated_at:%Y-%m-%d %H:%M:%S}  {error[0][:60]}"
        )
    return EXIT_OK


def cmd_jobs_show(args: argparse.Namespace) -> int:
    """Show one ledger row in full."""
    import json

    from playhouse.shortcuts import model_to_dict

    from lifeorg.models import Job

    _open(_settings())
    job = Job.get_or_none(Job.id == args.job_id)
    if job is None:
        print(f"no job {args.job_id}", file=sys.stderr)
        return EXIT_FAILED
    row = model_to_dict(job, recurse=False)
    print(json.dumps(row, indent=2, default=str, ensure_ascii=False))
    return EXIT_OK


def cmd_jobs_requeue(args: argparse.Namespace) -> int:
    """Send failed jobs again with a fresh retry budget."""
    from lifeorg import ledger, runtime
    from lifeorg.models import Job
    from lifeorg.models.states import JobStatus

    rt = runtime.start(_settings())
    ids = list(args.job_ids)
    if args.failed:
        query = Job.select(Job.id).where(Job.status == JobStatus.FAILED)
        if args.kind:
            query = query.where(Job.kind == args.kind)
        ids += [job.id for job in query]
    if not ids:
        print("nothing to requeue (name job ids, or --failed)")
        return EXIT_OK
    code = EXIT_OK
    for job_id in ids:
        job = Job.get_or_none(Job.id == job_id)
        if job is None or job.status != JobStatus.FAILED:
            state = "missing" if job is None else job.status
            print(f"job {job_id}: not failed ({state}); left alone", file=sys.stderr)
            code = EXIT_FAILED
            continue
        ledger.requeue(job_id)
        print(f"job {job_id}: requeued")
    if rt.in_process:
        rt.start_workers()
        rt.settle()
        rt.stop()
    return code


def cmd_jobs_sweep(args: argparse.Namespace) -> int:
    """Requeue unfinished jobs whose lease ran out (the scheduler does this regularly)."""
    import datetime as dt

    from lifeorg import ledger, runtime

    rt = runtime.start(_settings())
    lease = dt.timedelta(seconds=rt.settings.job_dispatch_lease_s)
    report = ledger.sweep(dispatch_lease=lease)
    print(f"requeued {report.requeued}, failed {report.failed}, not sent {report.not_sent}")
    if rt.in_process and report.requeued:
        rt.start_workers()
        rt.settle()
        rt.stop()
    return EXIT_OK


# --- bot, web, run ------------------------------------------------------------------------


def cmd_bot(args: argparse.Namespace) -> int:
    """Run the Telegram bot: long polling, allowlist, enqueue (a Procfile process)."""
    from lifeorg.bot.process import run_bot

    run_bot(_settings())
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the database now (the scheduler also does it nightly)."""
    from lifeorg.backups import make_backup

    settings = _settings()
    _open(settings)
    made = make_backup(settings)
    print(f"backup written: {made.location} ({made.size_bytes} bytes)")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database with a backup file (stop the other processes first)."""
    from pathlib import Path

    from lifeorg.backups import restore

    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "lifeorg restore replaces the whole database; add --yes to confirm", file=sys.stderr
            )
            return EXIT_CONFIG
        if input("This replaces the whole database. Type 'restore' to go on: ") != "restore":
            print("nothing restored")
            return EXIT_FAILED
    settings = _settings()
    from lifeorg.database import build_database
    from lifeorg.models.base import db

    db.initialize(build_database(settings.database_url, 2))
    restore(settings, Path(args.file))
    print(f"restored {args.file}; processes apply any newer migrations when they start")
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Run the scheduler: enqueue due reminders, expire suggestions, sweep the ledger."""
    from lifeorg.scheduler.process import run_scheduler

    run_scheduler(_settings())
    return EXIT_OK


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the Telegram webhook on $PORT (a Procfile process), or register it and exit."""
    from lifeorg.bot import process

    if args.set_webhook:
        print(f"webhook set to {process.set_webhook(_settings(), args.set_webhook)}")
        return EXIT_OK
    process.run_web(_settings())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run everything in one process: polling and the workers."""
    from lifeorg.bot.process import run_all

    run_all(_settings())
    return EXIT_OK


# --- chat ---------------------------------------------------------------------------------


def cmd_chat(args: argparse.Namespace) -> int:
    """Talk to the organiser in this terminal, standing in for Telegram (one process)."""
    from lifeorg.bot.terminal import run_chat

    return run_chat(_settings(), user_id=args.user_id)


# --- doctor -------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the configuration and that every configured part can be reached."""
    from lifeorg.doctor import run_checks

    results = run_checks(worker_timeout_s=args.worker_timeout)
    for result in results:
        print(f"{result.label:<5} {result.name:<15} {result.detail}")
    failed = [r for r in results if not r.ok]
    print("all good" if not failed else f"{len(failed)} problem(s) found")
    return EXIT_OK if not failed else EXIT_FAILED


# --- parse --------------------------------------------------------------------------------


def cmd_parse(args: argparse.Namespace) -> int:
    """Parse messages offline and print what each means as JSON (one line per message)."""
    import datetime as dt
    import json

    from lifeorg.config import DEFAULT_REMINDER_TIME
    from lifeorg.errors import ConfigError
    from lifeorg.pipeline.parse import parse_message
    from lifeorg.pipeline.zones import resolve_zone

    zone_name, default_time = args.tz, args.default_time
    if zone_name is None or default_time is None:
        try:
            settings = _settings()
        except ConfigError:
            if zone_name is None:
                raise  # no zone to fall back on: exit 2 naming the bad setting
            settings = None  # --tz given: the settings are not needed for the zone
        zone_name = zone_name or settings.timezone
        default_time = default_time or (
            settings.default_reminder_time if settings else DEFAULT_REMINDER_TIME
        )
    try:
        zone = resolve_zone(zone_name)
    except ValueError as exc:
        print(f"lifeorg parse: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        hours, _, minutes = default_time.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
            raise ValueError(default_time)
        at = dt.time(int(hours), int(minutes))
    except ValueError:
        message = f"--default-time must be HH:MM (got {default_time!r})"
        print(f"lifeorg parse: {message}", file=sys.stderr)
        return EXIT_CONFIG
    if args.now is None:
        now = dt.datetime.now(zone)
    else:
        try:
            now = dt.datetime.fromisoformat(args.now)
        except ValueError:
            message = f"--now must be an ISO 8601 time (got {args.now!r})"
            print(f"lifeorg parse: {message}", file=sys.stderr)
            return EXIT_CONFIG
        now = now.replace(tzinfo=zone) if now.tzinfo is None else now
    messages = [args.text] if args.text is not None else (line.rstrip("\r\n") for line in sys.stdin)
    for message in messages:
        parsed = parse_message(message, now, zone, at)
        print(json.dumps(parsed.to_json(), ensure_ascii=False), flush=True)
    return EXIT_OK


def cmd_extract_email(args: argparse.Namespace) -> int:
    """Print the events found in an .eml file as JSON (no database needed)."""
    import datetime as dt
    import json
    from pathlib import Path

    from lifeorg.errors import ConfigError
    from lifeorg.pipeline.mail.extract import extract_events
    from lifeorg.pipeline.zones import resolve_zone

    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"lifeorg extract-email: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = _settings()
    except ConfigError:
        if args.tz is None:
            raise  # no zone to fall back on: exit 2 naming the bad setting
        settings = None  # --tz given: run offline without the settings
    try:
        zone = resolve_zone(args.tz or settings.timezone)
    except ValueError as exc:
        print(f"lifeorg extract-email: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(zone)
    except ValueError:
        print(f"lifeorg extract-email: --now must be ISO 8601 (got {args.now!r})", file=sys.stderr)
        return EXIT_CONFIG
    now = now.replace(tzinfo=zone) if now.tzinfo is None else now
    llm = None
    if settings is not None and settings.llm_configured:
        from lifeorg.llm import LLMClient

        llm = LLMClient(settings)
    events = extract_events(raw, tz=zone, now=now, llm=llm)
    print(json.dumps([e.to_json() for e in events], indent=2, ensure_ascii=False))
    return EXIT_OK


# --- wiring -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lifeorg",
        description="Life Organiser: a personal organiser you talk to through Telegram.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable, parent=commands, **kw) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=handler.__doc__, description=handler.__doc__, **kw)
        sub.set_defaults(handler=handler)
        return sub

    db = commands.add_parser("db", help="Database schema.", description="Database schema.")
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    command("upgrade", cmd_db_upgrade, db_commands)
    command("status", cmd_db_status, db_commands)

    worker = command("worker", cmd_worker)
    worker.add_argument("modules", nargs="*", help="extra actor modules to load")
    worker.add_argument("-p", "--processes", type=int, help="worker processes")
    worker.add_argument("-t", "--threads", type=int, help="threads per process")
    worker.add_argument("-Q", "--queues", nargs="+", help="only these queues")

    jobs = commands.add_parser(
        "jobs", help="Inspect and requeue the job ledger.", description="The job ledger."
    )
    jobs_commands = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND")
    jobs.set_defaults(handler=cmd_jobs_list, status=None, kind=None, limit=50)
    listing = command("list", cmd_jobs_list, jobs_commands)
    listing.add_argument("--status", choices=["queued", "processing", "completed", "failed"])
    listing.add_argument("--kind")
    listing.add_argument("--limit", type=int, default=50)
    show = command("show", cmd_jobs_show, jobs_commands)
    show.add_argument("job_id", type=int)
    requeue = command("requeue", cmd_jobs_requeue, jobs_commands)
    requeue.add_argument("job_ids", type=int, nargs="*")
    requeue.add_argument("--failed", action="store_true", help="every failed job")
    requeue.add_argument("--kind", help="with --failed: only this kind")
    command("sweep", cmd_jobs_sweep, jobs_commands)

    command("bot", cmd_bot)
    web = command("web", cmd_web)
    web.add_argument(
        "--set-webhook", metavar="URL", help="register https://URL/telegram with Telegram and exit"
    )
    command("run", cmd_run)
    command("scheduler", cmd_scheduler)
    command("backup", cmd_backup)
    restore_cmd = command("restore", cmd_restore)
    restore_cmd.add_argument("file", help="a backup written by lifeorg backup")
    restore_cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    chat = command("chat", cmd_chat)
    chat.add_argument("--user-id", type=int, help="the Telegram user id to chat as (default: 1)")

    parse = command("parse", cmd_parse)
    parse.add_argument("text", nargs="?", help="the message; without it, one per line of stdin")
    parse.add_argument("--now", help="ISO 8601 time to parse at (no offset: in --tz)")
    parse.add_argument("--tz", help="IANA time zone (default: LIFEORG_TIMEZONE)")
    parse.add_argument("--default-time", help="HH:MM for a day without a time (default: 09:00)")

    extract_email = command("extract-email", cmd_extract_email)
    extract_email.add_argument("file", help="an RFC 822 message (.eml)")
    extract_email.add_argument("--tz", help="IANA time zone (default: LIFEORG_TIMEZONE)")
    extract_email.add_argument("--now", help="ISO 8601 time to read it at (no offset: in --tz)")

    doctor = command("doctor", cmd_doctor)
    doctor.add_argument(
        "--worker-timeout", type=float, default=10.0, help="seconds to wait for a worker's answer"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lifeorg.errors import ConfigError, LifeorgError

    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"lifeorg: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LifeorgError as exc:
        print(f"lifeorg: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        import peewee

        if not isinstance(exc, peewee.PeeweeException):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"lifeorg: database error: {first}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
