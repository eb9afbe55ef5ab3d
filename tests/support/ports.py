"""Loopback ports for the servers the tests start, without the race of ``bind(0)``-then-close.

A port from ``bind(("127.0.0.1", 0))`` is in the kernel's ephemeral range: once that socket is
closed, any outgoing connection on the box (the suite's own clients, another xdist worker's) may
take it as its local port before the server the test then starts has bound it, and the server
fails to start. The ports here come from below the ephemeral range, which the kernel never picks
on its own; each xdist worker draws from its own slice of it, in turn, and each port is checked
free with a bind before it is handed out. When the box leaves no room below its ephemeral range,
``bind(0)`` it is.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

LOWEST = 10_000  # well above the well-known and registered ports our CI might run
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortPool:
    """The ports ``[low, high)`` in turn, from an offset of this process's own (subprocesses of a
    test draw from the same slice), skipping any that is in use."""

    def __init__(self, low: int, high: int, seed: int) -> None:
        self.low, self.size = low, high - low
        self._next = seed % self.size if self.size > 0 else 0

    def take(self) -> int:
        for _ in range(self.size):
            port = self.low + self._next
            self._next = (self._next + 1) % self.size
            if _is_free(port):
                return port
        return _kernel_port()


def slice_for(worker: str, workers: int, ephemeral_low: int) -> tuple[int, int]:
    """The ports below ``ephemeral_low`` that xdist worker ``gw<N>`` of ``workers`` uses."""
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    workers = max(workers, index + 1, 1)
    width = (ephemeral_low - LOWEST) // workers
    low = LOWEST + index * width
    return low, low + width


@functools.cache
def _pool() -> PortPool:
    try:
        ephemeral_low = int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32_768  # Linux's default
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    low, high = slice_for(os.environ.get("PYTEST_XDIST_WORKER", "gw0"), workers, ephemeral_low)
    return PortPool(low, high, seed=os.getpid() * 7919)


def free_port() -> int:
    """A loopback port nothing listens on now and no outgoing connection will take meanwhile."""
    pool = _pool()
    return pool.take() if pool.size > 100 else _kernel_port()
