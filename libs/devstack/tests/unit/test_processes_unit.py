"""Pure parts of devstack.processes: PID bookkeeping."""

from __future__ import annotations

import os

import pytest

from devstack.processes import ManagedProcess, pid_alive, process_start_time, read_pid_file

pytestmark = pytest.mark.unit


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    assert not pid_alive(2**22 + 12345)  # above pid_max


def test_read_pid_file(tmp_path):
    assert read_pid_file(tmp_path / "missing.pid") is None
    (tmp_path / "bad.pid").write_text("not a pid\n")
    assert read_pid_file(tmp_path / "bad.pid") is None
    (tmp_path / "good.pid").write_text("1234 5678\n")
    assert read_pid_file(tmp_path / "good.pid") == 1234


def test_start_time_identifies_a_process():
    assert process_start_time(os.getpid()) == process_start_time(os.getpid())
    assert process_start_time(2**22 + 12345) is None


def test_fresh_copy_drops_the_process_handle(tmp_path):
    process = ManagedProcess("svc", ["true"], {"A": "1"}, tmp_path, tmp_path / "svc.log", "http://127.0.0.1:1/health")
    copy = process.fresh_copy()
    assert copy == process and copy.popen is None and copy.env is not process.env
    assert not copy.running()
