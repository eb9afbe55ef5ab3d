"""Nothing blocks the event loop: a gateway on an asyncio loop in debug mode, whose slow-callback
report (a callback running longer than SLOW_S) is collected while it serves a mix of requests,
among them the expensive ones: a 650-message body, and a 2 MB invalid body whose error is worded
by python-jsonschema (a full pass takes about a second; it is focused and kept off the loop)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from providers.registry import provider_types
from specgate.app import create_app
from specgate.config import default_config
from tests.support.http import request

SLOW_S = 0.1  # generous for a noisy machine; the blocking this guards against is 10x longer


class SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing"):
            self.reports.append(message)


@pytest.fixture
def debug_gateway() -> Iterator[tuple[str, SlowCallbacks]]:
    app = create_app(default_config(), provider_types=provider_types())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, loop="asyncio", lifespan="on", log_level="warning")
    )
    slow = SlowCallbacks()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(slow)

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = SLOW_S
        try:
            loop.run_until_complete(server.serve())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", slow
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        asyncio_log.removeHandler(slow)


def conversation(turns: int, size: int) -> list[dict[str, Any]]:
    text = "the quick brown fox jumps over the lazy dog " * (size // 44 + 1)
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": [{"type": "text", "text": text[:size]}]}
        for i in range(turns)
    ]


def test_no_callback_blocks_the_loop(debug_gateway: tuple[str, SlowCallbacks]) -> None:
    url, slow = debug_gateway
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

    assert slow.reports == []
