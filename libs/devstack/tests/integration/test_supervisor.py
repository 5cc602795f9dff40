"""The process supervisor with real child processes: health checks, kill -9, restart, stop on
Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from devstack.ports import free_port
from devstack.processes import ManagedProcess, Supervisor, pid_alive

pytestmark = pytest.mark.integration


def http_server(name: str, tmp_path: Path) -> ManagedProcess:
    port = free_port()
    return ManagedProcess(name, [sys.executable, "-u", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                          env=dict(os.environ), cwd=tmp_path, log_path=tmp_path / "logs" / f"{name}.log",
                          health_url=f"http://127.0.0.1:{port}/")


def test_start_health_kill_restart_stop_all(tmp_path):
    console = Console(record=True, width=200)
    with Supervisor(tmp_path / "run", echo=True, console=console, handle_signals=False) as supervisor:
        supervisor.start(http_server("alpha", tmp_path))
        supervisor.start(http_server("beta", tmp_path))
        supervisor.wait_healthy(30)
        alpha_pid = supervisor.processes["alpha"].pid
        assert (tmp_path / "run" / "alpha.pid").read_text().split()[0] == str(alpha_pid)

        supervisor.kill("alpha", signal.SIGKILL)
        assert supervisor.exited() == ["alpha"] and supervisor.running() == ["beta"]

        supervisor.restart("alpha")
        supervisor.wait_healthy(30)
        assert supervisor.processes["alpha"].pid != alpha_pid
        pids = [p.pid for p in supervisor.processes.values()]

        supervisor.stop_all()
        assert not any(pid_alive(pid) for pid in pids if pid)
        assert not list((tmp_path / "run").glob("*.pid"))
    log = (tmp_path / "logs" / "alpha.log").read_text()
    assert log.count("starting alpha") == 2 and "GET / HTTP" in log
    assert "alpha | " in console.export_text()


def test_wait_healthy_reports_a_process_that_exits(tmp_path):
    with Supervisor(tmp_path / "run", handle_signals=False) as supervisor:
        supervisor.start(ManagedProcess("broken", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                                        None, tmp_path, tmp_path / "broken.log", "http://127.0.0.1:9/health"))
        with pytest.raises(RuntimeError, match="broken exited with 3"):
            supervisor.wait_healthy(10)
    assert "boom" in (tmp_path / "broken.log").read_text()


def test_leftover_of_a_killed_supervisor_is_stopped(tmp_path):
    first = Supervisor(tmp_path / "run", handle_signals=False)
    leftover = first.start(ManagedProcess("sleeper", ["sleep", "60"], None, tmp_path, tmp_path / "s.log"))
    first.processes.clear()  # as if that supervisor had died without stopping it
    second = Supervisor(tmp_path / "run", handle_signals=False)
    second.start(ManagedProcess("sleeper", ["sleep", "60"], None, tmp_path, tmp_path / "s.log"))
    assert leftover.popen is not None
    leftover.popen.wait(10)
    second.stop_all()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_every_child(tmp_path, sig):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from devstack.processes import ManagedProcess, Supervisor
        supervisor = Supervisor(Path({str(tmp_path / 'run')!r}))
        for name in ("one", "two"):
            p = supervisor.start(ManagedProcess(name, ["sleep", "120"], None, "/", Path({str(tmp_path)!r}) / (name + ".log")))
            print(p.pid, flush=True)
        try:
            print("ready", flush=True)
            while True:
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    children = [int(parent.stdout.readline()), int(parent.stdout.readline())]
    assert parent.stdout.readline().strip() == "ready"
    parent.send_signal(sig)
    code = parent.wait(30)
    rest = parent.stdout.read()
    if sig == signal.SIGINT:
        assert code == 130 and "interrupted" in rest  # KeyboardInterrupt still reaches the program
    else:
        assert code == -signal.SIGTERM
    deadline = time.monotonic() + 5
    while any(pid_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(pid) for pid in children)
    assert not list((tmp_path / "run").glob("*.pid"))
