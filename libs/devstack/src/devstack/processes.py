"""Start, watch and stop the processes of a local stack, tracked by PID files."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.text import Text

COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_white", "bright_cyan", "bright_magenta"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_pid(pid: int, timeout: float = 15.0, group: bool = True) -> None:
    """SIGTERM (the process group), wait, then SIGKILL."""
    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.05)
    if pid_alive(pid):
        send(signal.SIGKILL)
        while pid_alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: Path
    health_url: str | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)


class Supervisor:
    """Runs processes in their own process groups; Ctrl-C, SIGTERM or exit stops every one of them."""

    def __init__(self, run_dir: Path, echo: bool = False, console: Console | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.console = console or Console()
        self.processes: dict[str, ManagedProcess] = {}
        self._lock = threading.Lock()
        atexit.register(self.stop_all)

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(self, process: ManagedProcess) -> ManagedProcess:
        self._stop_leftover(process.name)
        process.log_path.parent.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(process.argv, env=process.env, cwd=process.cwd, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        process.popen = popen
        self.pid_file(process.name).write_text(str(popen.pid))
        with self._lock:
            self.processes[process.name] = process
        colour = COLOURS[len(self.processes) % len(COLOURS)]
        threading.Thread(target=self._pump, args=(process, colour), daemon=True).start()
        return process

    def _pump(self, process: ManagedProcess, colour: str) -> None:
        assert process.popen and process.popen.stdout
        with open(process.log_path, "ab") as log:
            for line in iter(process.popen.stdout.readline, b""):
                log.write(line)
                log.flush()
                if self.echo:
                    text = Text(f"{process.name:>18} | ", style=colour)
                    text.append(line.decode(errors="replace").rstrip())
                    self.console.print(text, soft_wrap=True, highlight=False)

    def _stop_leftover(self, name: str) -> None:
        pid_file = self.pid_file(name)
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().strip())
                if pid_alive(pid):
                    stop_pid(pid)
            except ValueError:
                pass
            pid_file.unlink(missing_ok=True)

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        pending = {n: p for n, p in self.processes.items() if p.health_url}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, process in list(pending.items()):
                    if process.popen and process.popen.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.popen.returncode}; log: {process.log_path}\n"
                                           + _tail(process.log_path))
                    try:
                        if client.get(process.health_url).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not healthy after {timeout}s: {', '.join(pending)}\n"
                                       + "\n".join(_tail(p.log_path) for p in pending.values()))
                time.sleep(0.2)

    def exited(self) -> list[str]:
        return [n for n, p in self.processes.items() if p.popen is not None and p.popen.poll() is not None]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one process (fault tests: ``kill -9``)."""
        process = self.processes[name]
        if process.popen:
            os.killpg(process.popen.pid, sig)
            if sig == signal.SIGKILL:
                process.popen.wait(10)

    def restart(self, name: str) -> ManagedProcess:
        process = self.processes[name]
        if process.popen and process.popen.poll() is None:
            stop_pid(process.popen.pid)
        return self.start(ManagedProcess(process.name, process.argv, process.env, process.cwd, process.log_path,
                                         process.health_url))

    def stop_all(self) -> None:
        with self._lock:
            processes = list(self.processes.values())
            self.processes.clear()
        for process in processes:
            if process.popen and process.popen.poll() is None:
                stop_pid(process.popen.pid)
            self.pid_file(process.name).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
