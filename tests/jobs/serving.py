"""Helpers for the durable-store tests that run `specgate serve` as real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support.http import Reply, request

KEY = "sk-durable"
H = {"x-api-key": KEY}
LEASE_S = 1.5  # short leases: a killed process's work is taken over 1.5 s after its last renewal


def config(store: str, delay_ms: int = 0, **jobs: Any) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY]},
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": delay_ms}}],
        "jobs": {"store": store, "shutdown_grace_s": 1, "lease_ttl_s": LEASE_S, **jobs},
    }


def body(text: str) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": text}]}


def submit(url: str, text: str = "durable hello") -> str:
    reply = request(url + "/v1/messages", body=body(text), headers={**H, "x-bf-async": "true"})
    assert reply.status == 200, reply.body
    return str(reply.json()["id"])


def submit_many(url: str, n: int, prefix: str = "job") -> dict[str, str]:
    """Submit ``n`` jobs whose prompts are ``{prefix} {i}``; returns job id -> prompt."""
    texts = [f"{prefix} {i}" for i in range(n)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda t: submit(url, t), texts))
    return dict(zip(ids, texts, strict=True))


def poll(url: str, job_id: str) -> Reply:
    return request(url + "/v1/messages", body={}, headers={**H, "x-bf-async-id": job_id})


def status_of(reply: Reply) -> str:
    return str(reply.headers.get("x-bf-async-status"))


def wait_status(url: str, job_id: str, wanted: str, timeout: float = 30) -> Reply:
    deadline = time.monotonic() + timeout
    while True:
        reply = poll(url, job_id)
        if status_of(reply) == wanted:
            return reply
        assert time.monotonic() < deadline, f"job {job_id} never became {wanted}; last: {reply.status} {reply.headers}"
        time.sleep(0.1)


def wait_count(url: str, ids: list[str], wanted: str, at_least: int, timeout: float = 60) -> int:
    """Poll until at least ``at_least`` of ``ids`` are ``wanted``; return how many are."""
    deadline = time.monotonic() + timeout
    while True:
        count = sum(status_of(poll(url, job_id)) == wanted for job_id in ids)
        if count >= at_least:
            return count
        assert time.monotonic() < deadline, f"only {count} of {len(ids)} jobs became {wanted}"
        time.sleep(0.1)


def assert_all_completed(url: str, jobs: dict[str, str], timeout: float = 60) -> None:
    """Every job completes, each with its own prompt echoed back (none failed, none mixed up)."""
    wait_count(url, list(jobs), "completed", len(jobs), timeout)
    for job_id, text in jobs.items():
        reply = poll(url, job_id)
        assert reply.status == 200, reply.body
        assert reply.json()["content"][0]["text"] == text


def children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children (uvicorn's workers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
