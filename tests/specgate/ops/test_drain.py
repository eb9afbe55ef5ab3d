"""Streams still open when the shutdown grace ends get ``event: error`` and a clean end."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from specgate.core.errors import OverloadedError
from specgate.ops.drain import SHUTTING_DOWN, Drain
from tests.support.http import open_stream
from tests.support.process import spawn

KEY = "sk-drain"


async def _forever() -> AsyncIterator[int]:
    yield 1
    await asyncio.Event().wait()
    yield 2


async def test_a_wait_in_progress_and_a_later_one_end_at_the_grace() -> None:
    drain = Drain()

    async def waiting() -> None:
        watch = drain.watch()
        events = _forever()
        assert await watch.next(events) == 1
        try:
            await watch.next(events)
        finally:
            watch.close()

    task = asyncio.create_task(waiting())
    await asyncio.sleep(0.01)
    drain.begin(0.05)
    with pytest.raises(OverloadedError, match=SHUTTING_DOWN):
        await asyncio.wait_for(task, 5)
    assert not task.cancelled() and task.cancelling() == 0  # the cancellation was taken back
    with pytest.raises(OverloadedError):  # after the grace every wait ends at once
        await drain.watch().next(_forever())


async def test_before_the_drain_nothing_is_interrupted() -> None:
    drain = Drain()
    watch = drain.watch()
    events = _forever()
    assert await watch.next(events) == 1
    drain.begin(10)
    nothing = asyncio.create_task(watch.next(events))
    await asyncio.sleep(0.05)
    assert not nothing.done()
    nothing.cancel()  # a cancellation that is not the drain's stays a cancellation
    with pytest.raises(asyncio.CancelledError):
        await nothing


def _read_to_end(sock: socket.socket, received: bytes = b"") -> bytes:
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_streams_open_at_the_end_of_the_grace_get_an_error_event_and_no_traceback(tmp_path: Path) -> None:
    config = {
        "server": {"shutdown_grace_s": 1},
        "auth": {"api_keys": [KEY]},
        "providers": [{"name": "echo", "type": "echo", "options": {"token_delay_ms": 100}}],
    }
    served = spawn(config, tmp_path)
    port = int(served.url.rsplit(":", 1)[1])
    words = " ".join(f"word{i}" for i in range(200))  # 200 deltas x 100 ms: far past the grace
    socks = [open_stream(port, words, KEY) for _ in range(3)]
    try:
        firsts = [sock.recv(65536) for sock in socks]
        assert all(b"event: message_start" in first for first in firsts)
        served.proc.send_signal(signal.SIGTERM)
        bodies = [_read_to_end(sock, first) for sock, first in zip(socks, firsts, strict=True)]
    finally:
        for sock in socks:
            sock.close()
    # one SIGTERM only: a second one sent while the process finalises (Python has put the default
    # handlers back by then) kills it with -15 on a loaded machine
    code = served.proc.wait(timeout=30)
    log = served.log.read_text()
    assert code == 0
    for body in bodies:
        assert body.endswith(b"0\r\n\r\n"), body[-200:]  # a clean end of the chunked response
        assert b"event: message_stop" not in body
        frame = body[body.rindex(b"event: error") :].split(b"\r\n")[0]
        error = json.loads(frame.split(b"data: ", 1)[1])
        assert error["type"] == "error" and error["request_id"].startswith("req_")
        assert error["error"] == {"type": "overloaded_error", "message": SHUTTING_DOWN}
    assert "Traceback" not in log and "Exception in ASGI application" not in log
    assert "Cancel" not in log  # uvicorn had nothing left to cancel
