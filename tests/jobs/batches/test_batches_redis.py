"""Two replicas on one Redis: a batch made on one is seen, canceled and read on the other."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest


def test_a_batch_is_shared_by_replicas(gateway_factory: Any, redis_url: str) -> None:
    config = {
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": 100}}],
        "jobs": {"store": redis_url},
        "batches": {"max_concurrency": 1},
    }
    a, b = gateway_factory(config), gateway_factory(config)
    ca = anthropic.Anthropic(api_key="unused", base_url=a.url, max_retries=0)
    cb = anthropic.Anthropic(api_key="unused", base_url=b.url + "/anthropic", max_retries=0)
    requests: Any = [
        {
            "custom_id": f"r{i}",
            "params": {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
        }
        for i in range(100)
    ]
    batch = ca.messages.batches.create(requests=requests)
    assert cb.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    assert [x.id for x in cb.messages.batches.list()] == [batch.id]
    assert cb.messages.batches.cancel(batch.id).processing_status == "canceling"  # runs on replica A
    deadline = time.monotonic() + 15
    while (ended := cb.messages.batches.retrieve(batch.id)).processing_status != "ended":
        assert time.monotonic() < deadline, "replica A never saw the cancel"
        time.sleep(0.05)
    counts = ended.request_counts
    assert counts.canceled >= 50 and counts.succeeded + counts.canceled == 100
    assert ended.results_url is not None and ended.results_url.startswith(b.url + "/anthropic/v1/")
    found = {r.custom_id: r.result.type for r in cb.messages.batches.results(batch.id)}
    assert len(found) == 100 and list(found.values()).count("canceled") == counts.canceled
    assert ca.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        cb.messages.batches.retrieve(batch.id)
    ca.close()
    cb.close()


def test_a_batch_handed_back_by_a_stopping_replica_is_finished_by_another(gateway_factory: Any, redis_url: str) -> None:
    config = {
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": 200}}],
        "jobs": {"store": redis_url, "shutdown_grace_s": 0.1, "lease_ttl_s": 0.6},
        "batches": {"max_concurrency": 2},
    }
    a, b = gateway_factory(config), gateway_factory(config)
    ca = anthropic.Anthropic(api_key="unused", base_url=a.url, max_retries=0)
    cb = anthropic.Anthropic(api_key="unused", base_url=b.url, max_retries=0)
    requests: Any = [
        {
            "custom_id": f"r{i}",
            "params": {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": f"item {i}"}]},
        }
        for i in range(20)
    ]
    batch = ca.messages.batches.create(requests=requests)
    time.sleep(0.5)  # a few requests finish on A
    a.stop()  # graceful: in-flight requests get the grace, the batch goes back to the store unfinished
    assert cb.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    deadline = time.monotonic() + 20
    while (ended := cb.messages.batches.retrieve(batch.id)).processing_status != "ended":
        assert time.monotonic() < deadline, "replica B never took the batch over"
        time.sleep(0.05)
    assert ended.request_counts.succeeded == 20 and ended.request_counts.errored == 0
    found = {r.custom_id: r.result for r in cb.messages.batches.results(batch.id)}
    assert sorted(found) == sorted(f"r{i}" for i in range(20))
    for custom_id, result in found.items():
        assert result.type == "succeeded" and result.message.content[0].text == f"item {custom_id[1:]}"
    ca.close()
    cb.close()
