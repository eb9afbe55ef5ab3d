"""Operations as a user runs them: real `specgate serve` subprocesses, JSON logs on stderr,
graceful SIGTERM during an open stream, and several workers sharing one port and one metrics view."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support import metrics as prom
from tests.support.http import open_stream, request
from tests.support.ports import free_port
from tests.support.process import READY_S

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ops-secret-7c1e"
DELTAS = 80
PROMPT_WORDS = " ".join(f"secretword{i}" for i in range(DELTAS))


def write_config(path: Path, delay_ms: int = 25) -> Path:
    path.write_text(
        json.dumps(  # JSON is YAML
            {
                "server": {"shutdown_grace_s": 10},
                "auth": {"api_keys": [KEY]},
                "providers": [{"name": "echo", "type": "echo", "options": {"token_delay_ms": delay_ms}}],
                "logging": {"level": "info"},
            }
        )
    )
    return path


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


def wait_ready(served: Served, timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise AssertionError(f"server exited: {served.proc.stderr.read() if served.proc.stderr else ''}")
        try:
            if request(served.url + "/readyz", "GET", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become ready")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> Served:
        port = free_port()
        config = write_config(tmp_path / "ops.yaml")
        proc = subprocess.Popen(
            [sys.executable, "-m", "specgate", "serve", "--port", str(port), "--config", str(config), *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: teardown can stop the workers too
        )
        served = Served(proc, port)
        started.append(served)
        wait_ready(served)
        return served

    yield start
    for served in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.proc.pid, signal.SIGKILL)  # the group we created (workers included)
        served.proc.communicate(timeout=20)


def read_until(sock: socket.socket, marker: bytes, received: bytes = b"") -> bytes:
    while marker not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def sigterm_during_stream(served: Served, settle_s: float = 0.3) -> tuple[bytes, float]:
    """Open a slow stream, SIGTERM the server mid-way; return what the client got and how long
    the process took to exit after the signal. ``settle_s``: how long until new connections are
    no longer served (uvicorn's multi-worker supervisor looks at signals every 0.5 s)."""
    sock = open_stream(served.port, PROMPT_WORDS, KEY)  # 80 deltas x 25 ms: about 2 s
    received = read_until(sock, b"event: content_block_delta")
    assert b"event: content_block_delta" in received
    served.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(settle_s)
    with pytest.raises(OSError):  # no longer accepting
        request(served.url + "/healthz", "GET", timeout=2)
    received = read_until(sock, b"event: message_stop", received)
    sock.close()
    served.proc.wait(timeout=30)
    return received, time.monotonic() - signalled


def test_json_logs_and_graceful_sigterm_during_a_stream(serve: Any) -> None:
    served = serve()
    reply = request(
        served.url + "/v1/messages",
        body={"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": "hello logs"}]},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert reply.status == 200
    assert request(served.url + "/v1/messages", body={"model": "m"}, headers={"x-api-key": "sk-nope"}).status == 401

    received, _ = sigterm_during_stream(served)
    assert served.proc.returncode == 0
    assert received.count(b"event: content_block_delta") == DELTAS, "the open stream was cut"
    assert b"event: message_stop" in received
    _, stderr = served.proc.communicate(timeout=10)

    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    requests = [line for line in lines if line["logger"] == "specgate.access"]
    by_model = {line["model"]: line for line in requests if line["route"] == "/v1/messages"}
    plain, stream = by_model["claude-x"], by_model["m"]
    for field in ("ts", "level", "request_id", "route", "key_id", "model", "provider", "status", "latency_ms"):
        assert field in plain, field
    assert plain["request_id"] == reply.headers["request-id"]
    assert plain["status"] == 200 and plain["provider"] == "echo" and plain["retries"] == 0
    assert plain["key_id"].startswith("key_") and plain["input_tokens"] == reply.json()["usage"]["input_tokens"]
    assert plain["output_tokens"] == reply.json()["usage"]["output_tokens"]
    assert stream["stream"] is True and stream["output_tokens"] == DELTAS and stream["ttft_ms"] > 0
    assert stream["latency_ms"] >= DELTAS * 25 * 0.9
    assert any(line["status"] == 401 and line["key_id"] == "anonymous" for line in requests)
    assert KEY not in stderr and "sk-nope" not in stderr
    assert "hello logs" not in stderr and "secretword" not in stderr, "prompts or completions were logged"


def test_two_workers_share_the_port_and_the_metrics(serve: Any, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale junk from a previous run")
    served = serve("--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}

    def one(_: int) -> int:
        return request(served.url + "/v1/messages", body=body, headers={"x-api-key": KEY}).status

    def worker_pids() -> set[str]:
        text = request(served.url + "/metrics", "GET").body.decode()
        return {lbl["pid"] for name, lbl, _ in prom.samples(text) if name == "specgate_worker_up"}

    deadline = time.monotonic() + 30
    while len(worker_pids()) < 2:  # /readyz answered as soon as the first worker was up
        assert time.monotonic() < deadline, "the second worker never started"
        time.sleep(0.2)

    def served_by() -> set[str]:  # pids that counted a request (one file per process)
        return {p.name.split("_")[-1].removesuffix(".db") for p in metrics_dir.glob("counter_*.db")}

    sent = 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        # the kernel picks the worker that accepts: send batches until both have served some
        while sent < 40 or (len(served_by()) < 2 and sent < 2000):
            statuses = list(pool.map(one, range(20)))
            assert statuses == [200] * 20
            sent += 20
    assert len(served_by()) == 2, f"{sent} requests, all served by one worker"

    for _ in range(6):  # whichever worker answers the scrape, it reports both workers' counts
        text = prom.settled(lambda: request(served.url + "/metrics", "GET").body.decode())
        assert prom.value(text, "specgate_requests_total", route="/v1/messages", status="200") == sent
        assert prom.value(text, "specgate_request_duration_seconds_count", route="/v1/messages") == sent
        assert len({lbl["pid"] for name, lbl, _ in prom.samples(text) if name == "specgate_worker_up"}) == 2

    received, _ = sigterm_during_stream(served, settle_s=1.0)
    assert served.proc.returncode == 0
    assert received.count(b"event: content_block_delta") == DELTAS and b"event: message_stop" in received
