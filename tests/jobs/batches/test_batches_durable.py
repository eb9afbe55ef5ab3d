"""Batches in the SQLite store survive a restart; one cut short by a shutdown or a crash is resumed
by the next process, and every request ends on its own merits."""

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
        "jobs": {"store": store, "shutdown_grace_s": 1, "lease_ttl_s": 1.5},
        "batches": {"max_concurrency": 4},
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


def test_sqlite_batches_resume_after_sigterm_and_kill_9(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    first = spawn(config(store, delay_ms=250), tmp_path)
    with client(first) as c:
        done_id = create(c, 3)
        wait_ended(c, done_id)
        before = results(c, done_id)
        stopped_id = create(c, 20)
    time.sleep(0.8)  # a few requests finish, four at a time
    code, log = first.stop(signal.SIGTERM)  # graceful: in-flight ones finish, the batch is handed back
    assert code == 0 and "handed back at shutdown" in log

    crashed = spawn(config(store, delay_ms=250), tmp_path)
    with client(crashed) as c:
        crashed_id = create(c, 20)
    time.sleep(0.8)
    crashed.stop(signal.SIGKILL)  # nothing gets to hand it back: taken over once its lease expires

    again = spawn(config(store), tmp_path)
    c = client(again)
    try:
        done = c.messages.batches.retrieve(done_id)
        assert done.processing_status == "ended" and done.request_counts.succeeded == 3
        assert done.results_url == f"{again.url}/anthropic/v1/messages/batches/{done_id}/results"
        assert results(c, done_id) == before

        for batch_id in (stopped_id, crashed_id):  # every request ran, here or before: all 20 succeeded
            batch = wait_ended(c, batch_id)
            counts = batch.request_counts
            assert batch.ended_at is not None
            assert (counts.processing, counts.succeeded, counts.errored) == (0, 20, 0), counts
            found = results(c, batch_id)
            assert sorted(found) == sorted(f"r{i}" for i in range(20))
            for custom_id, result in found.items():
                assert result.type == "succeeded"
                assert result.message.content[0].text == f"answer {custom_id[1:]}"
        listed = [b.id for b in c.messages.batches.list()]
        assert listed == [crashed_id, stopped_id, done_id]
        _, log = again.stop(signal.SIGTERM)
        assert "batches at start-up: took over 1 batch(es)" in log  # the crashed one (the other was handed back)
    finally:
        c.close()
        again.stop(signal.SIGKILL)
