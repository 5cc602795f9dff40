"""Pure parts of devstack.postgres: configuration rendering and finding the binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import postgres
from devstack.postgres import render_pg_hba, render_postgresql_conf

pytestmark = pytest.mark.unit


def settings(text: str) -> dict[str, str]:
    result = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            result[key] = value
    return result


def test_postgresql_conf_private_durable_cluster():
    conf = settings(render_postgresql_conf(55432, Path("/work/.run/run")))
    assert conf["listen_addresses"] == "'127.0.0.1'"
    assert conf["port"] == "55432"
    assert conf["unix_socket_directories"] == "'/work/.run/run'"
    assert conf["max_connections"] == "300"
    assert conf["shared_buffers"] == "128MB"
    assert conf["fsync"] == "on"
    assert conf["synchronous_commit"] == "on"


def test_pg_hba_trusts_only_socket_and_loopback():
    rules = [line.split() for line in render_pg_hba().splitlines() if line and not line.startswith("#")]
    assert ["local", "all", "all", "trust"] in rules
    assert ["host", "all", "all", "127.0.0.1/32", "trust"] in rules
    assert all(rule[0] == "local" or rule[3] == "127.0.0.1/32" for rule in rules)


def test_newest_installed_version_wins():
    paths = ["/usr/lib/postgresql/9.6/bin/initdb", "/usr/lib/postgresql/15/bin/initdb",
             "/usr/lib/postgresql/13/bin/initdb"]
    assert max(paths, key=postgres._version_key) == "/usr/lib/postgresql/15/bin/initdb"


def test_bin_dir_found_outside_path(monkeypatch, tmp_path):
    bin_dir = tmp_path / "postgresql" / "16" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (bin_dir / name).touch()
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [str(bin_dir / "initdb")])
    assert postgres.postgres_bin_dir() == bin_dir


def test_install_is_skipped_when_present(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "postgres_bin_dir", lambda: tmp_path)
    monkeypatch.setattr(postgres, "apt_install", lambda packages: pytest.fail("apt must not run"))
    assert postgres.ensure_postgres_installed() == tmp_path


def test_install_runs_apt_when_missing(monkeypatch, tmp_path):
    installed: list[list[str]] = []
    monkeypatch.setattr(postgres, "postgres_bin_dir", lambda: tmp_path if installed else None)
    monkeypatch.setattr(postgres, "apt_install", installed.append)
    assert postgres.ensure_postgres_installed() == tmp_path
    assert installed == [["postgresql"]]


def test_dsn_is_postgres_over_tcp(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "server_user", lambda: None)
    cluster = postgres.PostgresCluster(tmp_path / "pg", 56543)
    assert cluster.dsn("orders") == "postgresql://postgres@127.0.0.1:56543/orders"
    assert cluster.dsn() == "postgresql://postgres@127.0.0.1:56543/postgres"
    assert cluster.socket_dir == tmp_path
    assert not cluster.is_running()
    with pytest.raises(ValueError):
        cluster.stop("abrupt")
