"""Free ports on 127.0.0.1, for stacks that must not collide with one another."""

from __future__ import annotations

import contextlib
import socket


def free_port() -> int:
    """A port the kernel has just found free (it may be taken again by the time it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_block(size: int, start: int = 18000) -> int:
    """A base port such that base+1 .. base+size-1 are all free on 127.0.0.1."""
    for base in range(start, start + 2000, 100):
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base + 1, base + size):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
                return base
            except OSError:
                continue
    raise RuntimeError("no block of free ports")
