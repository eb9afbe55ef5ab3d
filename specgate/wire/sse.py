"""Server-Sent Events framing for the two stream formats, and the responses that send them: a
native Anthropic stream in one loop (``AnthropicStreamResponse``), the platform envelope's frames
through ``EventStreamResponse``. Both turn an error after the stream started into an error frame
and a clean end."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from specgate.core import deepjson
from specgate.core.errors import ApiError, GatewayError, OverloadedError, error_body
from specgate.core.streams import DELTA, TappedStream, aclose
from specgate.core.types import SSEEvent
from specgate.ops.drain import SHUTTING_DOWN, Drain
from specgate.wire.disconnect import hangup_of, until_disconnected

log = logging.getLogger("specgate.stream")


def encode(event: SSEEvent) -> bytes:
    if event.raw is not None:
        return event.raw
    return b"event: " + event.event.encode() + b"\ndata: " + deepjson.dumps(event.data) + b"\n\n"


def error_frame(exc: GatewayError, request_id: str) -> bytes:
    body = error_body(exc.type, exc.message, request_id)
    return b"event: error\ndata: " + deepjson.dumps(body) + b"\n\n"


def _ending(exc: Exception, request_id: str) -> bytes:
    """The last frame of a native stream that ``exc`` ended (logged here: a ``GatewayError`` as a
    warning, anything else with its traceback, as ``api_error``). Call it where ``exc`` is caught."""
    if isinstance(exc, GatewayError):
        log.warning("stream %s ended by error: %s %s", request_id, exc.status_code, exc.type)
        return error_frame(exc, request_id)
    log.exception("stream %s failed", request_id)
    return error_frame(ApiError(), request_id)


async def _events(first: SSEEvent, rest: AsyncIterator[SSEEvent], drain: Drain) -> AsyncIterator[SSEEvent]:
    """``first`` then ``rest``; ``OverloadedError`` when the shutdown grace ends (``specgate.ops.drain``)."""
    yield first
    watch = drain.watch()
    try:
        while (event := await watch.next(rest)) is not None:
            yield event
    finally:
        watch.close()


_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "model_context_window_exceeded": "length",
}


def _chunk(cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None) -> bytes:
    obj = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + deepjson.dumps(obj) + b"\n\n"


async def envelope_stream(
    first: SSEEvent, rest: AsyncIterator[SSEEvent], request_id: str, model: str, drain: Drain
) -> AsyncIterator[bytes]:
    """The platform route's stream: chat.completion.chunk data lines, then ``data: [DONE]``."""
    created = int(time.time())
    cid = "chatcmpl-" + request_id.removeprefix("req_")
    tool_index = -1
    block_tool: dict[int, int] = {}

    try:
        async for event in _events(first, rest, drain):
            data = event.data
            kind = data.get("type")
            if kind == "message_start":
                yield _chunk(cid, model, created, {"role": "assistant", "content": ""}, None)
            elif kind == "content_block_start" and data["content_block"].get("type") == "tool_use":
                tool_index += 1
                block_tool[data["index"]] = tool_index
                block = data["content_block"]
                call = {
                    "index": tool_index,
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": ""},
                }
                yield _chunk(cid, model, created, {"tool_calls": [call]}, None)
            elif kind == "content_block_delta":
                delta = data["delta"]
                if delta.get("type") == "text_delta":
                    yield _chunk(cid, model, created, {"content": delta["text"]}, None)
                elif delta.get("type") == "input_json_delta" and data["index"] in block_tool:
                    call = {
                        "index": block_tool[data["index"]],
                        "function": {"arguments": delta["partial_json"]},
                    }
                    yield _chunk(cid, model, created, {"tool_calls": [call]}, None)
            elif kind == "message_delta":
                reason = (data.get("delta") or {}).get("stop_reason")
                yield _chunk(cid, model, created, {}, _FINISH.get(str(reason), "stop"))
            elif kind == "error":
                raise GatewayError(str((data.get("error") or {}).get("message", "upstream error")))
        yield b"data: [DONE]\n\n"
    except GatewayError as exc:
        body = {"success": False, "code": str(exc.status_code), "message": exc.message, "data": None}
        yield b"data: " + deepjson.dumps(body) + b"\n\n"
    except Exception:
        log.exception("stream %s failed", request_id)
        body = {"success": False, "code": "500", "message": "Internal server error", "data": None}
        yield b"data: " + deepjson.dumps(body) + b"\n\n"
    finally:
        await aclose(rest)


class EventStreamResponse(StreamingResponse):
    """A ``StreamingResponse`` that ends when the client leaves (``specgate.wire.disconnect``:
    the server's hangup signal, else one watcher task), not starlette's anyio task group, which it
    starts per stream for ASGI 2.3 servers such as uvicorn. Cancelling the iteration closes the
    frames' generator and with it the upstream stream, as before."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await until_disconnected(receive, self.stream_response(send), hangup_of(scope))


class AnthropicStreamResponse(Response):
    """A native stream: ``first``, then each event of ``rest`` as its frame, written from one loop.

    The loop steps the upstream's events itself instead of through layers of generators (the
    frames, the drain's wait, the taps of a ``TappedStream``, starlette's body iterator): each
    layer cost a generator step down and back up on every event. It keeps what they did:

    * a ``TappedStream``'s taps see each event here, and its closers run once at the end;
    * an error of the upstream's stream closes it (its closers told it failed) and ends the
      client's stream with an ``event: error`` frame (``api_error`` for an unexpected one);
    * the drain (``specgate.ops.drain``): once the shutdown grace has ended, a stream waiting
      for its next event, or about to, ends with ``overloaded_error`` (not between the events of
      one read, whose frames are written together: ``providers.relay.one_write``);
    * the client's disconnect (``specgate.wire.disconnect``) cancels the loop, which closes the
      upstream stream.
    """

    media_type = "text/event-stream"

    def __init__(
        self, first: SSEEvent, rest: AsyncIterator[SSEEvent], request_id: str, drain: Drain, headers: dict[str, str]
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(headers)
        self._first = first
        self._rest = rest
        self._request_id = request_id
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await until_disconnected(receive, self._pump(send), hangup_of(scope))

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        rest, drain, request_id = self._rest, self._drain, self._request_id
        if isinstance(rest, TappedStream):
            source, taps, every = rest.parts()
            finish = rest.finish
        else:
            source, taps, every = rest, [], []

            async def finish(*, failed: bool) -> None:
                await aclose(rest)

        step = source.__anext__
        watch = drain.watch()
        last = False
        delta_seen = False  # the first_delta_only taps see no later content_block_delta
        try:
            frame = encode(self._first)
        except Exception as exc:
            frame, last = _ending(exc, request_id), True
        try:
            while True:
                if frame:  # empty: this event's frame comes with a later one of its read (relay.one_write)
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                if last:
                    break
                if drain.expired and frame:
                    frame, last = _ending(OverloadedError(SHUTTING_DOWN), request_id), True
                    continue
                try:
                    watch.waiting = True
                    try:
                        event = await step()
                    finally:
                        watch.waiting = False
                    if event.event != DELTA or not delta_seen:
                        delta_seen = delta_seen or event.event == DELTA
                        for tap in taps:
                            tap(event)
                    for tap in every:
                        tap(event)
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if not watch.taken_over():
                        raise
                    await finish(failed=False)
                    frame, last = _ending(OverloadedError(SHUTTING_DOWN), request_id), True
                    continue
                except Exception as exc:
                    await finish(failed=True)
                    frame, last = _ending(exc, request_id), True
                    continue
                raw = event.raw  # encode(), inlined for the relayed frame: a call less an event
                frame = raw if raw is not None else encode(event)
        finally:
            watch.close()
            await finish(failed=False)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
