"""Nothing blocks the event loop: a gateway on an asyncio loop in debug mode (in its own process,
tests/support/debug_serve.py), whose slow-callback reports (a callback running longer than
SLOW_S) are collected while it serves a mix of requests,
among them the expensive ones: a 650-message body, and a 2 MB invalid body whose error is worded
by python-jsonschema (a full pass takes about a second; it is focused and kept off the loop)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import request
from tests.support.ports import free_port
from tests.support.process import Served, launch

SLOW_S = 0.3  # 3 test workers share 2 cores; what this guards against (a 2 MB body worded on the loop) takes 0.6 s+


@pytest.fixture
def debug_gateway(tmp_path: Path) -> Iterator[Served]:
    # A process of its own: the test process's other threads and heap must not be what is timed.
    port = free_port()
    served = launch(["-m", "tests.support.debug_serve", str(port), str(SLOW_S)], port, tmp_path)
    try:
        yield served
    finally:
        served.stop()


def conversation(turns: int, size: int) -> list[dict[str, Any]]:
    text = "the quick brown fox jumps over the lazy dog " * (size // 44 + 1)
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": text[:size]}]}
        for i in range(turns)
    ]


def test_no_callback_blocks_the_loop(debug_gateway: Served) -> None:
    url = debug_gateway.url
    small = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}
    big = {"model": "m", "max_tokens": 16, "messages": conversation(650, 120)}
    invalid = {"model": "m", "max_tokens": 16, "messages": conversation(4000, 500)}
    invalid["messages"][-1]["content"][0] = {"type": "video"}  # the last of 4,000 turns is wrong

    assert request(url + "/v1/messages", body=small).status == 200
    assert request(url + "/v1/messages", body={**small, "stream": True}).status == 200
    assert request(url + "/v1/messages", body=big).status == 200
    assert request(url + "/v1/messages/count_tokens", body={"model": "m", "messages": big["messages"]}).status == 200
    refused = request(url + "/v1/messages", body=invalid)
    assert refused.status == 400
    assert refused.json()["error"]["message"].startswith("messages.3999.content.0.type: Input tag 'video'")
    submitted = request(url + "/v1/messages", body=small, headers={"x-bf-async": "true"})
    assert submitted.status == 200
    job = submitted.headers["x-bf-async-id"]
    for _ in range(100):
        polled = request(url + "/v1/messages", body=b"", headers={"x-bf-async-id": job})
        if polled.headers.get("x-bf-async-status") == "completed":
            break
        time.sleep(0.02)
    assert polled.headers.get("x-bf-async-status") == "completed"
    batch = {"requests": [{"custom_id": f"r{i}", "params": small} for i in range(200)]}
    assert request(url + "/v1/messages/batches", body=batch).status == 200

    _code, log = debug_gateway.stop()
    assert [line for line in log.splitlines() if line.startswith("SLOW ")] == []
