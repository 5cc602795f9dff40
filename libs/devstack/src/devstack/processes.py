"""A small supervisor for the processes of a local stack (the run command and end-to-end tests).

Each process runs in a process group of its own, its PID is kept in a PID file in the run folder,
and its output goes to a log file and, optionally, to the console prefixed with its coloured name.
``Supervisor.stop_all`` is registered for SIGINT, SIGTERM and interpreter exit, so Ctrl-C stops
every process the supervisor started.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
from rich.console import Console
from rich.text import Text

COLOURS = ["cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_green", "bright_cyan",
           "bright_magenta", "bright_yellow", "bright_blue"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def process_cmdline(pid: int) -> list[str] | None:
    """The command line of a live process, or None when it cannot be read.

    Right after ``Popen`` returns, the child may still be inside ``execve`` and show an empty command line
    (vfork: the parent resumes before the kernel has set up the new argv; under load this is common):
    that is "cannot tell" (None), not "some other process" (an empty list)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part] or None


def process_start_time(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (with the PID, a unique identity)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[19]
    except (OSError, IndexError):
        return None


def read_pid_file(path: Path) -> int | None:
    """The PID stored in a PID file (its first line), or None when missing or unreadable."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _signal_pid(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        if group:  # not a group leader (any more): signal the process itself
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def stop_pid(pid: int, timeout: float = 15.0, group: bool = True) -> None:
    """SIGTERM the process (its whole process group when ``group``), wait up to ``timeout``
    seconds, then SIGKILL what is left."""
    stop_pids([pid], timeout=timeout, group=group)


def stop_pids(pids: list[int], timeout: float = 15.0, group: bool = True,
              reap: Callable[[], None] | None = None) -> None:
    """Stop several processes at once: SIGTERM all, wait up to ``timeout`` for all, SIGKILL the rest.

    ``reap`` is called while waiting so that a parent can collect its children (zombies count as
    stopped anyway).
    """
    live = [pid for pid in pids if pid_alive(pid)]
    for pid in live:
        _signal_pid(pid, signal.SIGTERM, group)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reap:
            reap()
        live = [pid for pid in live if pid_alive(pid)]
        if not live:
            return
        time.sleep(0.05)
    for pid in live:
        _signal_pid(pid, signal.SIGKILL, group)
    deadline = time.monotonic() + 5
    while live and time.monotonic() < deadline:
        if reap:
            reap()
        live = [pid for pid in live if pid_alive(pid)]
        time.sleep(0.05)


@dataclass
class ManagedProcess:
    """One process of the stack: what to run and how to tell it is healthy.

    ``env`` None inherits the supervisor's environment. ``health_url``, when given, must answer
    HTTP 200 once the process is ready (see ``Supervisor.wait_healthy``).
    """

    name: str
    argv: list[str]
    env: dict[str, str] | None
    cwd: str | Path
    log_path: Path
    health_url: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def fresh_copy(self) -> ManagedProcess:
        """The same definition without the handle of a started process."""
        return ManagedProcess(self.name, list(self.argv), None if self.env is None else dict(self.env),
                              self.cwd, self.log_path, self.health_url)


SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Supervisor:
    """Starts processes in process groups of their own and stops every one of them on
    ``stop_all()``, Ctrl-C (SIGINT), SIGTERM or interpreter exit.

    ``run_dir`` keeps one ``<name>.pid`` file per process; a process left over from an earlier,
    killed supervisor with the same run folder is stopped before its name is started again.
    With ``echo`` each output line is also printed to ``console`` as ``<name> | <line>``.
    """

    def __init__(self, run_dir: Path, echo: bool = False, console: Console | None = None,
                 handle_signals: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.console = console or Console(stderr=False)
        self.processes: dict[str, ManagedProcess] = {}
        self._colours: dict[str, str] = {}
        self._lock = threading.RLock()
        self._print_lock = threading.Lock()
        self._pumps: dict[str, threading.Thread] = {}
        self._previous_handlers: dict[int, SignalHandler] = {}
        atexit.register(self.stop_all)
        if handle_signals:
            self._install_signal_handlers()

    # ---- signals ----
    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread; atexit still applies
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_all()
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)  # e.g. Python's default SIGINT handler raises KeyboardInterrupt
        elif previous == signal.SIG_IGN:
            return
        else:  # default action: die of that signal, as the caller expects
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were in place before this supervisor was created."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, previous in self._previous_handlers.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous_handlers.clear()

    # ---- starting ----
    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def colour(self, name: str) -> str:
        with self._lock:
            if name not in self._colours:
                self._colours[name] = COLOURS[len(self._colours) % len(COLOURS)]
            return self._colours[name]

    def start(self, process: ManagedProcess) -> ManagedProcess:
        """Start a process (stopping a leftover of the same name first) and pump its output."""
        self.run_dir.mkdir(parents=True, exist_ok=True)  # the run folder may have been wiped since
        with self._lock:
            current = self.processes.get(process.name)
            if current is not None and current.running():
                raise RuntimeError(f"{process.name} is already running (pid {current.pid})")
            self._stop_leftover(process.name)
            process.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(process.log_path, "ab")  # noqa: SIM115 - closed by the pump thread
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {process.name}: "
                      f"{' '.join(process.argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(process.argv, env=process.env, cwd=str(process.cwd),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            except OSError:
                log.close()
                raise
            process.popen = popen
            self.pid_file(process.name).write_text(f"{popen.pid} {process_start_time(popen.pid) or ''}\n")
            self.processes[process.name] = process
            pump = threading.Thread(target=self._pump, args=(process, popen, log), daemon=True,
                                    name=f"supervisor-pump-{process.name}")
            self._pumps[process.name] = pump
            pump.start()
            return process

    def _pump(self, process: ManagedProcess, popen: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        assert popen.stdout is not None
        colour = self.colour(process.name)
        width = max(12, max((len(n) for n in self.processes), default=0))
        with log:
            for line in iter(popen.stdout.readline, b""):
                log.write(line)
                log.flush()
                if self.echo:
                    text = Text(f"{process.name:>{width}} | ", style=colour)
                    text.append(line.decode(errors="replace").rstrip())
                    with self._print_lock:
                        self.console.print(text, soft_wrap=True, highlight=False, markup=False)
            popen.stdout.close()
            code = popen.wait()
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {process.name} exited with {code}\n".encode())

    def _stop_leftover(self, name: str) -> None:
        """Stop a process recorded in ``<name>.pid`` by an earlier supervisor, if it still runs
        (and its start time shows it is still that process, not a recycled PID)."""
        pid_file = self.pid_file(name)
        pid = read_pid_file(pid_file)
        if pid is not None and pid_alive(pid):
            recorded = pid_file.read_text().split()[1:2]
            if not recorded or recorded[0] == process_start_time(pid):
                stop_pid(pid)
        pid_file.unlink(missing_ok=True)

    # ---- watching ----
    def wait_healthy(self, timeout: float = 90.0, names: list[str] | None = None) -> None:
        """Poll every health URL with httpx until each answers 200.

        Raises ``RuntimeError`` (with the log's tail) as soon as a watched process exits, and
        ``TimeoutError`` naming the processes not healthy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            pending = {n: p for n, p in self.processes.items()
                       if p.health_url and (names is None or n in names)}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, process in list(pending.items()):
                    if process.popen is not None and process.popen.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.popen.returncode}; "
                                           f"log {process.log_path}:\n{tail(process.log_path)}")
                    try:
                        if client.get(process.health_url or "").status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if not pending:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not healthy after {timeout}s: {', '.join(pending)}\n"
                                       + "\n".join(f"== {p.log_path}\n{tail(p.log_path)}" for p in pending.values()))
                time.sleep(0.2)

    def exited(self) -> list[str]:
        """Names of started processes that have exited."""
        with self._lock:
            return [n for n, p in self.processes.items() if p.popen is not None and p.popen.poll() is not None]

    def running(self) -> list[str]:
        """Names of started processes that still run."""
        with self._lock:
            return [n for n, p in self.processes.items() if p.running()]

    # ---- faults and restarts ----
    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one process's group (fault tests: ``kill -9`` a single service).

        After SIGKILL it waits until the process is gone."""
        process = self.processes[name]
        if process.popen is None or process.popen.poll() is not None:
            return
        _signal_pid(process.popen.pid, sig, group=True)
        if sig == signal.SIGKILL:
            process.popen.wait(10)

    def restart(self, name: str, timeout: float = 15.0) -> ManagedProcess:
        """Stop a process (if it still runs) and start it again with the same definition."""
        with self._lock:
            process = self.processes[name]
            if process.popen is not None and process.popen.poll() is None:
                stop_pids([process.popen.pid], timeout=timeout, reap=process.popen.poll)
            if process.popen is not None:
                process.popen.wait(10)
            self.pid_file(name).unlink(missing_ok=True)
            del self.processes[name]
            return self.start(process.fresh_copy())

    def stop(self, name: str, timeout: float = 15.0) -> None:
        """Stop one process (SIGTERM, wait, SIGKILL) and forget it."""
        with self._lock:
            process = self.processes.pop(name, None)
        if process is None:
            return
        if process.popen is not None and process.popen.poll() is None:
            stop_pids([process.popen.pid], timeout=timeout, reap=process.popen.poll)
        self.pid_file(name).unlink(missing_ok=True)

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every started process at once, wait up to ``timeout``, SIGKILL what is left.

        Safe to call more than once, and from a signal handler."""
        with self._lock:
            processes = list(self.processes.values())
            self.processes.clear()
        live = [p for p in processes if p.popen is not None and p.popen.poll() is None]

        def reap() -> None:
            for p in live:
                assert p.popen is not None
                p.popen.poll()

        stop_pids([p.popen.pid for p in live if p.popen is not None], timeout=timeout, reap=reap)
        for process in processes:
            self.pid_file(process.name).unlink(missing_ok=True)
        for pump in list(self._pumps.values()):
            pump.join(timeout=2)
        self._pumps.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
        self.restore_signal_handlers()


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a text file ("" when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
