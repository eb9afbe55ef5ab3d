"""A fake Anthropic Messages API upstream: ``POST /v1/messages`` (JSON or SSE) and
``POST /v1/messages/count_tokens``, speaking the real wire format.

Answers echo the upstream model name so the gateway's model rewriting is observable, and carry
fields the gateway does not know (``brand_new_field``, ``usage.inference_geo``) so relaying
without loss is observable too. Errors use Anthropic's body and a ``request-id`` header.
"""

from __future__ import annotations

import itertools

from aiohttp import web

from tests.fakes.server import FakeServer, Json, Recorded, Reply, dumps

TEXT_PIECES = ("Hello", ", ", "world", "!")


def anthropic_error(status: int, error_type: str, message: str, **headers: str) -> Reply:
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_fake_err"}
    return Reply(status, body, {"request-id": "req_fake_err", **headers})


def frame(event: str, data: Json) -> bytes:
    return f"event: {event}\ndata: {dumps(data)}\n\n".encode()


class FakeAnthropic(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    def message(self, model: str, message_id: str) -> Json:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "".join(TEXT_PIECES)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": len(TEXT_PIECES), "inference_geo": "global"},
            "brand_new_field": {"kept": True},
        }

    def frames(self, model: str, message_id: str) -> list[bytes]:
        head = {**self.message(model, message_id), "content": [], "stop_reason": None}
        head["usage"] = {"input_tokens": 12, "output_tokens": 1}
        frames = [
            frame("message_start", {"type": "message_start", "message": head}),
            frame(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            frame("ping", {"type": "ping"}),
        ]
        for piece in TEXT_PIECES:
            delta = {"type": "text_delta", "text": piece}
            frames.append(frame("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
        frames += [
            frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
            frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(TEXT_PIECES)},
                },
            ),
            frame("message_stop", {"type": "message_stop"}),
        ]
        return frames

    async def messages(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        step, answered = await self.next_step(request)
        if answered is not None:
            return answered
        if invalid := _invalid(recorded):
            return invalid
        body = recorded.body
        n = next(self._ids)
        headers = {"request-id": f"req_fake_{n}"}
        if not body.get("stream") or self.ignore_stream:
            return web.json_response(self.message(body["model"], f"msg_fake_{n}"), headers=headers, dumps=dumps)
        return await self.respond_stream(request, step, self.frames(body["model"], f"msg_fake_{n}"), headers)

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        _step, answered = await self.next_step(request)
        if answered is not None:
            return answered
        body = recorded.body
        if not isinstance(body, dict) or "max_tokens" in body or "stream" in body:
            return _error_response(400, "invalid_request_error", "count_tokens: unexpected fields")
        return web.json_response({"input_tokens": len(dumps(body.get("messages"))) // 4})


def _error_response(status: int, error_type: str, message: str) -> web.Response:
    reply = anthropic_error(status, error_type, message)
    return web.json_response(reply.body, status=status, headers=reply.headers, dumps=dumps)


def _invalid(recorded: Recorded) -> web.Response | None:
    body = recorded.body
    if not isinstance(body, dict):
        return _error_response(400, "invalid_request_error", "request body is not valid JSON")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            return _error_response(400, "invalid_request_error", f"{name}: Field required")
    if "betas" in body:
        return _error_response(400, "invalid_request_error", "betas: Extra inputs are not permitted")
    if not recorded.headers.get("x-api-key"):
        return _error_response(401, "authentication_error", "x-api-key header is required")
    return None
