"""The native stream response: one loop that steps the upstream's events, shows them to the taps,
writes their frames and ends cleanly on an upstream error, the drain's grace or a disconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import Message

from specgate.core.errors import ApiError, RateLimitError
from specgate.core.streams import TappedStream
from specgate.core.types import SSEEvent
from specgate.ops.drain import Drain
from specgate.wire.sse import AnthropicStreamResponse, encode

FIRST = SSEEvent("message_start", {"type": "message_start", "message": {"id": "msg_1"}})
DELTA = SSEEvent("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"text": "hi"}})
RAW = SSEEvent("ping", {"type": "ping"}, raw=b'event: ping\ndata: {"type": "ping"}\n\n')


class Client:
    """An ASGI client: what was sent, and a ``receive`` that never says the client left."""

    def __init__(self, log: list[str]) -> None:
        self.messages: list[Message] = []
        self.log = log

    async def send(self, message: Message) -> None:
        self.messages.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            self.log.append("frame " + message["body"].split(b"\n")[0].decode())

    async def receive(self) -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def frames(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body" and m.get("body")]

    def ended(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.body" and last.get("more_body") is False


def tapped(source: AsyncIterator[SSEEvent], log: list[str]) -> TappedStream:
    stream = TappedStream(source)
    stream.tap(lambda event: log.append("tap " + event.event))

    async def closer(failed: bool) -> None:
        log.append(f"closed failed={failed}")

    stream.on_close(closer)
    return stream


async def serve(rest: AsyncIterator[SSEEvent], client: Client, drain: Drain | None = None) -> None:
    response = AnthropicStreamResponse(FIRST, rest, "req_1", drain or Drain(), {"x-test": "1"})
    await response({"type": "http", "asgi": {"spec_version": "2.3"}}, client.receive, client.send)


async def test_each_event_is_tapped_and_written_and_the_closers_run_once() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA
        yield RAW

    client = Client(log)
    await serve(tapped(source(), log), client)
    assert client.messages[0]["type"] == "http.response.start"
    assert (b"x-test", b"1") in client.messages[0]["headers"]
    assert (b"content-type", b"text/event-stream; charset=utf-8") in client.messages[0]["headers"]
    assert client.frames() == [encode(FIRST), encode(DELTA), RAW.raw]
    assert client.ended()
    assert log == [
        "frame event: message_start",
        "tap content_block_delta",
        "frame event: content_block_delta",
        "tap ping",
        "frame event: ping",
        "closed failed=False",
    ]


async def test_a_first_delta_only_tap_sees_the_first_text_delta_and_every_other_event() -> None:
    log: list[str] = []
    seen: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA
        yield DELTA
        yield RAW
        yield DELTA

    stream = tapped(source(), log)
    stream.tap(lambda event: seen.append(event.event), first_delta_only=True)
    client = Client(log)
    await serve(stream, client)
    assert seen == ["content_block_delta", "ping"]
    assert [line for line in log if line.startswith("tap")] == ["tap content_block_delta"] * 2 + [
        "tap ping",
        "tap content_block_delta",
    ]
    assert len(client.frames()) == 5 and client.ended()


async def test_an_upstream_error_closes_the_stream_as_failed_then_ends_with_its_error_frame() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA
        raise RateLimitError("slow down")

    client = Client(log)
    await serve(tapped(source(), log), client)
    assert log[-2:] == ["closed failed=True", "frame event: error"]  # settled before the client hears
    error = json.loads(client.frames()[-1].split(b"data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
    assert error["request_id"] == "req_1"
    assert client.ended()


async def test_an_unexpected_failure_is_an_api_error_frame(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        raise KeyError("bug")
        yield DELTA  # pragma: no cover

    client = Client(log)
    await serve(tapped(source(), log), client)
    assert json.loads(client.frames()[-1].split(b"data: ", 1)[1])["error"]["type"] == "api_error"
    assert "closed failed=True" in log and client.ended()
    assert "stream req_1 failed" in caplog.text


async def test_a_tap_that_fails_ends_the_stream_like_its_source_failing() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA

    stream = tapped(source(), log)

    def broken(event: SSEEvent) -> None:
        raise ApiError("tap broke")

    stream.tap(broken)
    client = Client(log)
    await serve(stream, client)
    assert log[-2:] == ["closed failed=True", "frame event: error"]
    assert client.ended()


async def test_the_grace_ending_while_a_stream_waits_ends_it_with_overloaded() -> None:
    log: list[str] = []
    drain = Drain()

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA
        await asyncio.Event().wait()  # the upstream goes quiet
        yield DELTA  # pragma: no cover

    client = Client(log)
    task = asyncio.create_task(serve(tapped(source(), log), client, drain))
    await asyncio.sleep(0.02)
    drain.begin(0.0)
    await asyncio.wait_for(task, 5)
    assert not task.cancelled()
    assert log[-2:] == ["closed failed=False", "frame event: error"]
    error: dict[str, Any] = json.loads(client.frames()[-1].split(b"data: ", 1)[1])
    assert error["error"]["type"] == "overloaded_error"
    assert client.ended()


async def test_after_the_grace_the_next_wait_ends_at_once() -> None:
    log: list[str] = []
    drain = Drain()
    drain.expire()

    async def source() -> AsyncIterator[SSEEvent]:
        yield DELTA  # pragma: no cover

    client = Client(log)
    await serve(tapped(source(), log), client, drain)
    assert json.loads(client.frames()[-1].split(b"data: ", 1)[1])["error"]["type"] == "overloaded_error"
    assert log == ["frame event: message_start", "frame event: error", "closed failed=False"]


async def test_a_cancellation_that_is_not_the_drains_stays_one_and_closes_the_upstream() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        try:
            yield DELTA
            await asyncio.Event().wait()
        finally:
            log.append("upstream closed")

    client = Client(log)
    task = asyncio.create_task(serve(tapped(source(), log), client))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log[-2:] == ["upstream closed", "closed failed=False"]
    assert not client.ended()


async def test_a_plain_iterator_is_closed_at_the_end() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[SSEEvent]:
        try:
            yield DELTA
            yield DELTA
        finally:
            log.append("closed")

    client = Client(log)
    await serve(source(), client)
    assert log[-1] == "closed" and len(client.frames()) == 3 and client.ended()


async def test_the_frames_of_one_read_go_out_in_one_write_even_as_the_grace_ends() -> None:
    """Events that came in one read (``relay.one_write``: the last carries their frames, the others
    an empty ``raw``) are one send; the grace ending between them does not cut the read short."""
    log: list[str] = []
    drain = Drain()
    joined = encode(DELTA) + RAW.raw  # type: ignore[operator]

    async def source() -> AsyncIterator[SSEEvent]:
        yield SSEEvent(DELTA.event, DELTA.data, raw=b"")
        yield SSEEvent(RAW.event, RAW.data, raw=joined)
        yield DELTA  # pragma: no cover

    def grace_ends(event: SSEEvent) -> None:
        # between the two events of the read (``Drain.expire`` sets this flag; it also cancels a
        # waiting stream, and this one is not waiting: the next event is here)
        if event.raw == b"":
            drain.expired = True

    client = Client(log)
    stream = tapped(source(), log)
    stream.tap(grace_ends)
    await serve(stream, client, drain)
    frames = client.frames()
    assert frames[:2] == [encode(FIRST), joined]
    assert json.loads(frames[2].split(b"data: ", 1)[1])["error"]["type"] == "overloaded_error"
    assert len(frames) == 3
    bodies = [m for m in client.messages if m["type"] == "http.response.body"]
    assert all(m["body"] or m["more_body"] is False for m in bodies)  # no empty write but the end
    assert log[:4] == [
        "frame event: message_start",
        "tap content_block_delta",
        "tap ping",
        "frame event: content_block_delta",
    ]
