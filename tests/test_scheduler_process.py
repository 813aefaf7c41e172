"""Two real `lifeorg scheduler` processes at once still fire each due reminder once."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import uuid

import pytest

from lifeorg.models import Job, Reminder, User
from lifeorg.models.base import utcnow
from lifeorg.models.states import ReminderState
from tests.conftest import ROOT, clean_env, lifeorg_command, wait_for

pytestmark = pytest.mark.slow


def test_two_schedulers_claim_every_due_reminder_exactly_once(
    database, database_url, redis_url, tmp_path
):
    """Given 40 due reminders and two scheduler processes, each is claimed by one of them:
    one fire_reminder job per reminder, all fired, and both processes stop cleanly."""
    user = User.create(telegram_user_id=5, chat_id=5, timezone="UTC", default_time="09:00")
    soon = utcnow() + dt.timedelta(seconds=2)  # due once both processes are polling
    for i in range(40):
        Reminder.create(owner=user, text=f"r{i}", fire_at=soon)
    env = clean_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LIFEORG_QUEUE_NAMESPACE=f"lifeorg-test-{uuid.uuid4().hex[:8]}",
        LIFEORG_DATA_DIR=str(tmp_path / "data"),
    )
    processes = [
        subprocess.Popen(
            lifeorg_command("scheduler"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_for(
            lambda: Reminder.select().where(Reminder.state == ReminderState.FIRED).count() == 40,
            timeout=30,
            what="both schedulers to claim every reminder",
        )
        assert all(p.poll() is None for p in processes)  # both alive throughout
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=20) for process in processes]
    fired = Job.select().where(Job.kind == "fire_reminder")
    assert fired.count() == 40
    assert len({job.payload["reminder_id"] for job in fired}) == 40
    assert codes == [0, 0]
