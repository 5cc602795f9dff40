"""A private PostgreSQL cluster (``initdb``/``pg_ctl`` from Debian's packages) on a port of its own.

``initdb`` and ``postgres`` refuse to run as root. Started by root, the cluster belongs to the
``postgres`` OS user (created when missing): its folders are chowned to it and every server
command runs through ``runuser -u postgres --``. Clients always connect over TCP as the database
superuser ``postgres`` with trust authentication: ``dsn(db)`` is
``postgresql://postgres@127.0.0.1:<port>/<db>``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from .debian import apt_install
from .locks import exclusive, lock_path_for
from .processes import pid_alive, process_cmdline, tail

SERVER_USER = "postgres"
SUPERUSER = "postgres"
STOP_MODES = ("smart", "fast", "immediate")
# sun_path is 108 bytes; PostgreSQL names the socket ".s.PGSQL.<port>" and needs room for ".lock"
MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535.lock")
# folders never chowned to the server user to host the socket
_SHARED_DIRS = {"/", "/tmp", "/var/tmp", "/var", "/home", "/root", "/usr", "/opt", "/srv", "/work", "/run"}


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([\d.]+)/bin/", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def postgres_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: from PATH, else the newest
    ``/usr/lib/postgresql/<version>/bin``; None when PostgreSQL is not installed."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        real = Path(os.path.realpath(initdb)).parent
        if (real / "pg_ctl").exists():
            return real
    candidates = [p for p in glob.glob("/usr/lib/postgresql/*/bin/initdb") if Path(p).with_name("pg_ctl").exists()]
    if not candidates:
        return None
    return Path(max(candidates, key=_version_key)).parent


def ensure_postgres_installed() -> Path:
    """The folder of ``initdb``/``pg_ctl``/``postgres``; installs Debian's ``postgresql`` package
    (``apt-get update`` then ``apt-get install -y``, non-interactive) when they are missing."""
    found = postgres_bin_dir()
    if found:
        return found
    with exclusive(lock_path_for(Path("/usr/lib/postgresql"), "postgres-install")):
        found = postgres_bin_dir()
        if found:
            return found
        apt_install(["postgresql"])
    found = postgres_bin_dir()
    if not found:
        raise RuntimeError("the postgresql package was installed but initdb/pg_ctl were not found")
    return found


def server_user() -> str | None:
    """The OS user that runs initdb/postgres: None (ourselves) unless we are root, then
    ``postgres``, created as a system user when missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/postgresql",
                        "--shell", "/bin/bash", SERVER_USER], check=True)
    return SERVER_USER


def render_postgresql_conf(port: int, socket_dir: Path) -> str:
    """The settings appended to ``postgresql.conf`` after ``initdb``."""
    return "\n".join([
        "",
        "# ---- devstack: private local cluster ----",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        "max_connections = 300",
        "shared_buffers = 128MB",
        "fsync = on                      # kept on: durability is under test",
        "synchronous_commit = on",
        "full_page_writes = on",
        "logging_collector = off",
        "log_min_messages = warning",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        "",
    ])


def render_pg_hba() -> str:
    """``pg_hba.conf``: trust on the local socket and on 127.0.0.1 only."""
    return "\n".join([
        "# devstack: trust on the unix socket and on loopback, nothing else",
        "# TYPE  DATABASE     USER  ADDRESS        METHOD",
        "local   all          all                  trust",
        "host    all          all   127.0.0.1/32   trust",
        "local   replication  all                  trust",
        "host    replication  all   127.0.0.1/32   trust",
        "",
    ])


class PostgresCluster:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port``, its unix socket in
    the data folder's parent (the stack's run folder).

    Started by root, the cluster runs as the ``postgres`` OS user. If that user cannot reach
    ``data_dir`` (e.g. a checkout under ``/root`` or a 0700 temp folder) the cluster lives in
    ``/var/tmp/oms-postgres-<digest>/<name>`` instead: ``data_dir`` tells where it really is.
    """

    def __init__(self, data_dir: Path, port: int):
        self.requested_dir = Path(data_dir).absolute()
        self.port = port
        self.user = server_user()
        self.data_dir = self._usable_dir(self.requested_dir)
        self._socket_dir: Path | None = None

    # ---- folders
    def _user_can(self, test: str, path: Path) -> bool:
        if self.user is None:
            return True
        return subprocess.run(["runuser", "-u", self.user, "--", "test", test, str(path)], cwd="/",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def _usable_dir(self, wanted: Path) -> Path:
        if self.user is None:
            return wanted
        wanted.parent.mkdir(parents=True, exist_ok=True)
        if self._user_can("-x", wanted.parent) and len(str(wanted.parent)) <= MAX_SOCKET_DIR:
            return wanted
        digest = hashlib.sha1(str(wanted).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"oms-postgres-{digest}" / wanted.name

    @property
    def run_dir(self) -> Path:
        """The folder that holds the data folder (and, normally, the unix socket)."""
        return self.data_dir.parent

    def _socket_dir_for(self) -> Path:
        run_dir = self.run_dir
        if len(str(run_dir)) > MAX_SOCKET_DIR:
            return self.data_dir
        if self.user is None or self._user_can("-w", run_dir) or self._may_hand_over(run_dir):
            return run_dir
        return self.data_dir

    @staticmethod
    def _may_hand_over(folder: Path) -> bool:
        """Whether root may chown ``folder`` to the server user: a folder of root's own that is
        neither a system folder nor anyone's home."""
        try:
            owner = folder.stat().st_uid
        except OSError:
            return True  # we are about to create it
        homes = {entry.pw_dir.rstrip("/") for entry in pwd.getpwall()}
        return owner == 0 and str(folder) not in _SHARED_DIRS and str(folder) not in homes

    @property
    def socket_dir(self) -> Path:
        """Where the unix socket ``.s.PGSQL.<port>`` lives: the run folder, else the data folder when
        the run folder's path is too long for a socket or may not be handed to the server user."""
        if self._socket_dir is None:
            self._socket_dir = self._socket_dir_for()
        return self._socket_dir

    @property
    def log_file(self) -> Path:
        """The server's log (``pg_ctl -l``)."""
        return self.data_dir / "server.log"

    def _prepare_dirs(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.data_dir, self.user, self.user)
            if self.socket_dir == self.run_dir and not self._user_can("-w", self.run_dir):
                shutil.chown(self.run_dir, self.user, self.user)
        os.chmod(self.data_dir, 0o700)

    # ---- commands
    def _command(self, *argv: str) -> list[str]:
        bin_dir = ensure_postgres_installed()
        command = [str(bin_dir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return command

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self._command(*argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                cwd="/")
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}):\n{result.stdout}"
                               f"\n{self.log_file}:\n{tail(self.log_file)}")
        return result

    # ---- state
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's PID while it runs (from ``postmaster.pid``), else None."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        if not pid_alive(pid):
            return None
        cmdline = process_cmdline(pid)
        if cmdline is not None and not any("postgres" in part for part in cmdline[:1]):
            return None  # a stale postmaster.pid whose PID was recycled
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    # ---- lifecycle
    def initdb(self) -> None:
        """Create the cluster: superuser ``postgres``, trust auth on socket and loopback, UTF-8."""
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-instructions")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(render_postgresql_conf(self.port, self.socket_dir))
        (self.data_dir / "pg_hba.conf").write_text(render_pg_hba())
        if self.user:
            for name in ("postgresql.conf", "pg_hba.conf"):
                shutil.chown(self.data_dir / name, self.user, self.user)

    def start(self) -> None:
        """Start the cluster (``pg_ctl -w start``), running ``initdb`` on first start. A cluster
        already running from this data folder is reused as it is."""
        ensure_postgres_installed()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(self.run_dir / f".{self.data_dir.name}.lock"):
            if self.is_running():
                return
            self._prepare_dirs()
            if not self.initialised():
                self.initdb()
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "120",
                      "-o", f"-p {self.port} -k {shlex.quote(str(self.socket_dir))}", "start")
        self.ensure_superuser()

    def ensure_superuser(self) -> None:
        """Create the ``postgres`` superuser role when the cluster was initialised by another user
        (as a plain ``initdb`` by a non-root user does), so that ``dsn()`` works."""
        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=5):
                return
        except psycopg.OperationalError as error:
            if "role" not in str(error) or "does not exist" not in str(error):
                return  # not ready yet or another problem: wait_ready reports it
        owner = pwd.getpwuid(self.data_dir.stat().st_uid).pw_name
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=owner, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN").format(sql.Identifier(SUPERUSER)))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``select 1`` succeeds over TCP; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"PostgreSQL on port {self.port} not ready after {timeout}s: {error}\n"
                                       f"{self.log_file}:\n{tail(self.log_file)}") from error
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m <mode>``: ``fast`` (clean: roll back sessions, checkpoint) or
        ``immediate`` (like a crash: no checkpoint, WAL replay on next start), or ``smart``."""
        if mode not in STOP_MODES:
            raise ValueError(f"mode must be one of {STOP_MODES}, not {mode!r}")
        if not self.is_running():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop", check=False)
        deadline = time.monotonic() + 30
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.1)

    def destroy(self) -> None:
        """Stop the cluster at once and remove its files."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.data_dir != self.requested_dir:  # relocated: remove the folder made for it too
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ---- databases
    def dsn(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create a database unless it exists (safe against a concurrent creator)."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, disconnecting its sessions."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
