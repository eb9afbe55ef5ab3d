"""specgate.wire.disconnect under ``specgate serve``: the protocol's hangup signal (no watcher task)
cancels a waiting call and a stream when the client goes. (tests/handlers/test_upstream_routing.py
covers the watcher-task fallback, under a plain uvicorn.)"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from specgate.wire.disconnect import Hangup
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.server import Delay
from tests.handlers.upstreams import CLIENT_KEY, config, sdk
from tests.support.process import serving

HI = {"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


async def _send(url: str, *, stream: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    data = json.dumps({"model": "ant-model", "stream": stream, **HI}).encode()
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {CLIENT_KEY}\r\ncontent-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return reader, writer


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hang_up_cancels_the_upstream_call_under_specgate_serve(
    tmp_path: Path, anthropic_upstream: FakeAnthropic, stream: bool
) -> None:
    cfg = config(anthropic_upstream.url, "http://127.0.0.1:9", ant={"read_timeout_s": 5})
    if stream:
        anthropic_upstream.chunk_delay_s = 0.3  # the whole stream would take >= 1.8 s
    else:
        anthropic_upstream.script(Delay(4))  # longer than the test waits: only the hang-up can stop it
    with serving(cfg, tmp_path) as served:
        reader, writer = await _send(served.url, stream=stream)
        if stream:
            received = b""
            while b"event: message_start" not in received:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                assert chunk, "stream ended early"
                received += chunk
        else:
            for _ in range(250):  # until the upstream has the request (at most 5 s)
                if anthropic_upstream.requests:
                    break
                await asyncio.sleep(0.02)
            assert anthropic_upstream.requests
        writer.close()
        started = time.monotonic()
        await asyncio.wait_for(anthropic_upstream.disconnected.wait(), 3)
        assert anthropic_upstream.disconnects == 1
        assert time.monotonic() - started < 2.5, "the upstream call outlived the client"
        anthropic_upstream.chunk_delay_s = 0.0
        async with sdk(served.url) as client:  # still healthy
            msg = await client.messages.create(model="ant-model", **HI)
        assert msg.stop_reason == "end_turn"


async def test_a_hangup_that_fired_before_the_wait_cancels_at_the_first_await() -> None:
    hangup = Hangup()
    hangup.fire()
    from specgate.core.errors import ApiError
    from specgate.wire.disconnect import unless_disconnected

    async def never_asked() -> None:
        raise AssertionError("the client's receive is not read when the server gives a hangup")

    reached = []

    async def work() -> int:
        reached.append(1)
        await asyncio.sleep(1)
        return 1

    with pytest.raises(ApiError):
        await unless_disconnected(never_asked, work(), hangup)
    assert reached == [1]  # it started, and was cancelled at its first await
