"""A fake LLM upstream for the benchmark, bound to 127.0.0.1 only (run it as its own process).

``POST /v1/messages`` answers an Anthropic Message, or an Anthropic SSE stream when the body has
``"stream": true`` (message_start, content_block_start, ping, N text deltas, content_block_stop,
message_delta, message_stop). ``POST /v1/chat/completions`` answers OpenAI chat completions,
JSON or SSE chunks ending ``data: [DONE]``. ``POST /model/{id}/invoke`` and
``/invoke-with-response-stream`` answer as Bedrock does (the same Message, or the same events as
an AWS event stream of base64 ``chunk`` payloads); they require a SigV4 ``Authorization`` header
but do not recompute it (the tests' fake does). ``GET /health`` answers ``ok``.

Knobs: ``--delay-ms`` (before the response starts), ``--chunks`` (text deltas per stream),
``--chunk-delay-ms`` (between deltas). Usage:
``python -m bench.upstream --port 9001 --chunks 20 --chunk-delay-ms 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
import uvloop
from aiohttp import web

Json = dict[str, Any]
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


@dataclass(frozen=True)
class Shape:
    delay_s: float = 0.0
    chunks: int = 20
    chunk_delay_s: float = 0.005


def _sse(event: str, data: Json) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


_CHUNK_HEADERS = b"".join(
    struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    for n, v in ((b":event-type", b"chunk"), (b":content-type", b"application/json"), (b":message-type", b"event"))
)


def _bedrock_chunk(event: Json) -> bytes:
    """One AWS event-stream ``chunk`` message carrying an Anthropic event, as Bedrock frames it."""
    payload = b'{"bytes":"' + base64.b64encode(orjson.dumps(event)) + b'"}'
    prelude = struct.pack(">II", 12 + len(_CHUNK_HEADERS) + len(payload) + 4, len(_CHUNK_HEADERS))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + _CHUNK_HEADERS + payload
    return message + struct.pack(">I", zlib.crc32(message))


class FakeUpstream:
    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.pieces = [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(shape.chunks)]
        self.text = "".join(self.pieces)
        self._ids = itertools.count(1)
        self.spans_bytes = 0  # OTLP exports received (the tracing rows)

    async def _body(self, request: web.Request) -> Json:
        body = orjson.loads(await request.read())
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    @staticmethod
    def _input_tokens(body: Json) -> int:
        return max(1, len(str(body.get("messages", ""))) // 4)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if self.shape.delay_s:
            await asyncio.sleep(self.shape.delay_s)
        model = str(body.get("model", "fake"))
        mid = f"msg_bench{next(self._ids):012d}"
        usage = {"input_tokens": self._input_tokens(body), "output_tokens": self.shape.chunks}
        headers = {"request-id": "req_" + mid}
        if not body.get("stream"):
            message = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": self.text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
            return web.Response(body=orjson.dumps(message), content_type="application/json", headers=headers)
        start = {**usage, "output_tokens": 1}
        message = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": []}
        head = [
            _sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {**message, "stop_reason": None, "stop_sequence": None, "usage": start},
                },
            ),
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _sse("ping", {"type": "ping"}),
        ]
        deltas = [
            _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            for piece in self.pieces
        ]
        tail = [
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.shape.chunks},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return await self._stream(request, headers, b"".join(head), deltas, b"".join(tail))

    async def bedrock(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            return web.json_response({"message": "Missing Authentication Token"}, status=403)
        body = await self._body(request)
        if self.shape.delay_s:
            await asyncio.sleep(self.shape.delay_s)
        model = request.match_info["model_id"]
        mid = f"msg_bench{next(self._ids):012d}"
        usage = {"input_tokens": self._input_tokens(body), "output_tokens": self.shape.chunks}
        headers = {"x-amzn-RequestId": "req_" + mid}
        message = {"id": mid, "type": "message", "role": "assistant", "model": model}
        if not request.path.endswith("/invoke-with-response-stream"):
            whole = {
                **message,
                "content": [{"type": "text", "text": self.text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
            return web.Response(body=orjson.dumps(whole), content_type="application/json", headers=headers)
        start: Json = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        head: list[Json] = [
            {"type": "message_start", "message": start},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
        ]
        deltas = [
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            for piece in self.pieces
        ]
        tail: list[Json] = [
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": self.shape.chunks},
            },
            {"type": "message_stop"},
        ]
        headers["content-type"] = "application/vnd.amazon.eventstream"
        return await self._stream(
            request,
            headers,
            b"".join([_bedrock_chunk(e) for e in head]),
            [_bedrock_chunk(d) for d in deltas],
            b"".join([_bedrock_chunk(e) for e in tail]),
        )

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if self.shape.delay_s:
            await asyncio.sleep(self.shape.delay_s)
        model = str(body.get("model", "fake"))
        cid = f"chatcmpl-bench{next(self._ids):012d}"
        prompt = self._input_tokens(body)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": self.shape.chunks,
            "total_tokens": prompt + self.shape.chunks,
        }
        if not body.get("stream"):
            completion = {
                "id": cid,
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}
                ],
                "usage": usage,
            }
            return web.Response(body=orjson.dumps(completion), content_type="application/json")

        def chunk(delta: Json, finish: str | None = None) -> bytes:
            obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + orjson.dumps(obj) + b"\n\n"

        final = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        tail = chunk({}, "stop") + b"data: " + orjson.dumps(final) + b"\n\ndata: [DONE]\n\n"
        deltas = [chunk({"content": piece}) for piece in self.pieces]
        return await self._stream(request, {}, chunk({"role": "assistant", "content": ""}), deltas, tail)

    async def _stream(
        self, request: web.Request, headers: dict[str, str], head: bytes, deltas: list[bytes], tail: bytes
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache", **headers})
        await resp.prepare(request)
        await resp.write(head)
        for delta in deltas:
            if self.shape.chunk_delay_s:
                await asyncio.sleep(self.shape.chunk_delay_s)
            await resp.write(delta)
        await resp.write(tail)
        await resp.write_eof()
        return resp

    async def health(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def traces(self, request: web.Request) -> web.Response:
        """An OTLP/HTTP sink for the tracing rows: read the export, answer an empty
        ``ExportTraceServiceResponse`` (zero protobuf bytes)."""
        self.spans_bytes += len(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")


def build_app(shape: Shape) -> web.Application:
    fake = FakeUpstream(shape)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/messages", fake.messages)
    app.router.add_post("/v1/chat/completions", fake.chat_completions)
    app.router.add_post("/model/{model_id}/invoke", fake.bedrock)
    app.router.add_post("/model/{model_id}/invoke-with-response-stream", fake.bedrock)
    app.router.add_get("/health", fake.health)
    app.router.add_post("/v1/traces", fake.traces)
    return app


async def serve(port: int, shape: Shape) -> None:
    runner = web.AppRunner(build_app(shape), access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096, reuse_address=True)
    await site.start()
    print(f"bench upstream listening on 127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay-ms", type=float, default=5.0)
    args = parser.parse_args()
    shape = Shape(args.delay_ms / 1000.0, max(1, args.chunks), args.chunk_delay_ms / 1000.0)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, shape))


if __name__ == "__main__":
    main()
