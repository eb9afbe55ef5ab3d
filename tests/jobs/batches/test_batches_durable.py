"""Batches in the SQLite store survive a restart; one cut short by a crash or a shutdown ends
(requests without a result become errored) instead of staying in_progress forever."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import anthropic

from tests.support.process import Served, spawn

KEY = "sk-durable"


def config(store: str, delay_ms: int = 0) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY]},
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": delay_ms}}],
        "jobs": {"store": store, "shutdown_grace_s": 1},
        "batches": {"max_concurrency": 1},
    }


def client(served: Served) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=KEY, base_url=served.url + "/anthropic", max_retries=0)


def create(c: anthropic.Anthropic, n: int) -> str:
    requests: Any = [
        {
            "custom_id": f"r{i}",
            "params": {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": f"answer {i}"}]},
        }
        for i in range(n)
    ]
    return c.messages.batches.create(requests=requests).id


def wait_ended(c: anthropic.Anthropic, batch_id: str) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batch = c.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end")


def results(c: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result for r in c.messages.batches.results(batch_id)}


def test_sqlite_batches_survive_restarts(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = spawn(config(store, delay_ms=250), tmp_path)
    with client(first) as c:
        done_id = create(c, 3)
        wait_ended(c, done_id)
        before = results(c, done_id)
        stopped_id = create(c, 10)
    time.sleep(0.6)  # a few requests finish, one at a time
    assert first.stop(signal.SIGTERM)[0] == 0  # graceful: in-flight finish, the rest are errored

    crashed = spawn(config(store, delay_ms=250), tmp_path)
    with client(crashed) as c:
        crashed_id = create(c, 10)
    time.sleep(1.0)
    crashed.stop(signal.SIGKILL)  # nothing gets to end the batch

    again = spawn(config(store), tmp_path)
    c = client(again)
    try:
        done = c.messages.batches.retrieve(done_id)
        assert done.processing_status == "ended" and done.request_counts.succeeded == 3
        assert done.results_url == f"{again.url}/anthropic/v1/messages/batches/{done_id}/results"
        assert results(c, done_id) == before

        for batch_id, reason in ((crashed_id, "restart"), (stopped_id, "shutdown")):
            batch = c.messages.batches.retrieve(batch_id)
            counts = batch.request_counts
            assert batch.processing_status == "ended" and batch.ended_at is not None
            assert counts.processing == 0 and counts.succeeded + counts.errored == 10
            assert 1 <= counts.succeeded <= 8, counts
            found = results(c, batch_id)
            assert sorted(found) == sorted(f"r{i}" for i in range(10))
            errored = [r for r in found.values() if r.type == "errored"]
            assert len(errored) == counts.errored
            assert all(reason in r.error.error.message and r.error.error.type == "api_error" for r in errored)
            for custom_id, result in found.items():
                if result.type == "succeeded":
                    assert result.message.content[0].text == f"answer {custom_id[1:]}"
        listed = [b.id for b in c.messages.batches.list()]
        assert listed == [crashed_id, stopped_id, done_id]
    finally:
        c.close()
        again.stop(signal.SIGKILL)
