"""A private PostgreSQL cluster (initdb/pg_ctl) on a port of its own, from Debian's packages."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

SERVER_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def ensure_postgres_installed() -> Path:
    """The directory of initdb/pg_ctl/postgres; installs Debian's ``postgresql`` package when missing."""
    found = postgres_bin_dir()
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"], check=True,
                   env=env)
    found = postgres_bin_dir()
    if not found:
        raise RuntimeError("postgresql was installed but initdb was not found")
    return found


def _server_user() -> str | None:
    """initdb and postgres refuse to run as root: as root we run them as the ``postgres`` OS user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash",
                        SERVER_USER], check=True)
    return SERVER_USER


class PostgresCluster:
    def __init__(self, data_dir: Path, port: int):
        self.requested_dir = Path(data_dir)
        self.port = port
        self.user = _server_user()
        self.data_dir = self._usable_dir(self.requested_dir)

    def _usable_dir(self, wanted: Path) -> Path:
        """The server user must reach the folder; when the checkout is somewhere it cannot (e.g. under
        /root), the cluster lives in /var/tmp under a name derived from the wanted folder."""
        if self.user is None:
            return wanted
        probe = wanted.parent
        probe.mkdir(parents=True, exist_ok=True)
        reachable = subprocess.run(["runuser", "-u", self.user, "--", "test", "-x", str(probe)]).returncode == 0
        if reachable:
            return wanted
        digest = hashlib.sha1(str(wanted.resolve()).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"oms-postgres-{digest}"

    def _run(self, *argv: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        bin_dir = ensure_postgres_installed()
        command = [str(bin_dir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, stdout=subprocess.DEVNULL if quiet else None,
                              stderr=subprocess.STDOUT if quiet else None, cwd="/")

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.initialised():
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False, quiet=True).returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.data_dir, self.user, self.user)
            os.chmod(self.data_dir, 0o700)
        if not self.initialised():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-instructions", quiet=True)
            with open(self.data_dir / "postgresql.conf", "a") as conf:
                conf.write("\n# oms local cluster\n"
                           "listen_addresses = '127.0.0.1'\n"
                           f"port = {self.port}\n"
                           f"unix_socket_directories = '{self.socket_dir}'\n"
                           "max_connections = 300\n"
                           "shared_buffers = 128MB\n"
                           "fsync = on\n"
                           "logging_collector = off\n")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port}", "start", quiet=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        if self.is_running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False, quiet=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone():
                try:
                    conn.execute(f'CREATE DATABASE "{name}"')
                except psycopg.errors.DuplicateDatabase:
                    pass

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        """Stop and remove the cluster's files."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
