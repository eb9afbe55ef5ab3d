"""Durable job stores with the real server: restarts (SQLite) and replicas (Redis), as subprocesses."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from tests.fakes.redis_server import find_redis_server
from tests.support.http import Reply, request
from tests.support.process import spawn

BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "durable hello"}]}


def config(store: str, delay_ms: int = 0) -> dict[str, Any]:
    return {
        "auth": {"api_keys": ["sk-durable"]},
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": delay_ms}}],
        "jobs": {"store": store, "shutdown_grace_s": 1},
    }


H = {"x-api-key": "sk-durable"}


def submit(url: str) -> str:
    reply = request(url + "/v1/messages", body=BODY, headers={**H, "x-bf-async": "true"})
    assert reply.status == 200, reply.body
    return str(reply.json()["id"])


def poll(url: str, job_id: str) -> Reply:
    return request(url + "/v1/messages", body={}, headers={**H, "x-bf-async-id": job_id})


def wait_status(url: str, job_id: str, wanted: str, timeout: float = 30) -> Reply:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = poll(url, job_id)
        if reply.headers.get("x-bf-async-status") == wanted:
            return reply
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {wanted}; last: {reply.status} {reply.headers}")


def test_sqlite_results_survive_a_restart_and_interrupted_jobs_fail(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = spawn(config(store), tmp_path)
    done_id = submit(first.url)
    completed = wait_status(first.url, done_id, "completed")
    code, _ = first.stop(signal.SIGTERM)
    assert code == 0

    slow = spawn(config(store, delay_ms=30_000), tmp_path)
    stuck_id = submit(slow.url)
    wait_status(slow.url, stuck_id, "processing")
    slow.stop(signal.SIGKILL)  # dies mid-run: nothing gets to mark the job

    again = spawn(config(store), tmp_path)
    try:
        replay = poll(again.url, done_id)
        assert replay.status == 200 and replay.body == completed.body
        failed = poll(again.url, stuck_id)
        assert failed.headers["x-bf-async-status"] == "failed"
        assert failed.status == 500
        assert failed.json()["error"]["type"] == "api_error"
        assert "restart" in failed.json()["error"]["message"]
    finally:
        again.stop(signal.SIGKILL)


def test_graceful_shutdown_fails_leftover_jobs(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    slow = spawn(config(store, delay_ms=30_000), tmp_path)
    job_id = submit(slow.url)
    wait_status(slow.url, job_id, "processing")
    code, _ = slow.stop(signal.SIGTERM)  # grace 1 s, then the running job is failed, not left processing
    assert code == 0
    again = spawn(config(store), tmp_path)
    try:
        reply = poll(again.url, job_id)
        assert reply.headers["x-bf-async-status"] == "failed"
    finally:
        again.stop(signal.SIGKILL)


def test_redis_replicas_share_jobs_and_a_dead_replica_fails_its_job(tmp_path: Path, redis_url: str) -> None:
    a = spawn(config(redis_url), tmp_path)
    b = spawn(config(redis_url), tmp_path)
    try:
        job_id = submit(a.url)
        done = wait_status(b.url, job_id, "completed")  # submitted on A, polled on B
        assert done.json()["content"][0]["text"] == "durable hello"
        assert poll(a.url, job_id).body == done.body

        slow = spawn(config(redis_url, delay_ms=60_000), tmp_path)
        stuck = submit(slow.url)
        wait_status(b.url, stuck, "processing")
        slow.stop(signal.SIGKILL)
        failed = wait_status(b.url, stuck, "failed", timeout=30)  # once the dead replica's lease expires
        assert failed.json()["error"]["type"] == "api_error"
    finally:
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)


def test_readyz_follows_the_redis_job_store(tmp_path: Path, redis_server_factory: Any) -> None:
    server = redis_server_factory()
    url = f"redis://127.0.0.1:{server.port}/0"
    gw = spawn(config(url), tmp_path)
    try:
        assert request(gw.url + "/readyz", "GET").status == 200
        server.stop()
        down = request(gw.url + "/readyz", "GET", timeout=10)
        assert down.status == 503
        assert "jobs_store" in down.json()["error"]["message"]
        executable = find_redis_server()
        assert executable is not None
        server.restart(executable)
        deadline = time.monotonic() + 15
        while request(gw.url + "/readyz", "GET", timeout=10).status != 200:
            assert time.monotonic() < deadline, "readyz did not recover when Redis came back"
            time.sleep(0.2)
    finally:
        gw.stop(signal.SIGKILL)
