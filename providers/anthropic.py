"""Anthropic provider (``type: anthropic``): relays ``/v1/messages`` to an Anthropic-compatible
upstream with the provider's own key.

Only three things change on the way up: ``model`` (the upstream name), the credentials (the
provider key as ``x-api-key``; the client's own headers are never forwarded) and ``betas``
(the body list is merged into the ``anthropic-beta`` header and removed from the body). On the
way down only ``model`` is rewritten back to the client's name; every other field and event is
relayed as is, event by event, as bytes arrive.

Top-level fields spec/ does not know yet are relayed too (``forwards_unknown_fields``, on unless
the config says ``forward_unknown_fields: false``): the gateway validated everything else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from typing import Any

import orjson

from providers.base import CallContext, Provider
from providers.events import message_to_events
from providers.faults import Malformed, ProviderError, capped, map_fault
from providers.http import JsonAnswer, UpstreamClient, load_json_object, note_upstream
from specgate.core import deepjson
from specgate.core.config import ProviderConfig
from specgate.core.errors import ApiError, UpstreamError
from specgate.core.types import Json, SSEEvent

DEFAULT_BASE_URL = "https://api.anthropic.com"

# fields a Messages request may carry that /v1/messages/count_tokens rejects
_NOT_FOR_COUNT_TOKENS = (
    "max_tokens",
    "stream",
    "metadata",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "service_tier",
)

_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def merge_betas(header_values: Iterable[str], body_betas: Any) -> list[str]:
    """Beta names from (possibly comma-joined) header values and a body ``betas`` list:
    split, trimmed, empty ones dropped, deduplicated in first-seen order."""
    names: list[str] = []
    values = list(header_values)
    if isinstance(body_betas, list):
        values += [str(b) for b in body_betas]
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    return names


def upstream_body(req: Json, upstream_model: str, *, stream: bool | None) -> Json:
    body = {k: v for k, v in req.items() if k != "betas"}
    body["model"] = upstream_model
    if stream is None:
        body.pop("stream", None)
    else:
        body["stream"] = stream
    return body


def parse_error(raw: bytes) -> ProviderError | None:
    """An Anthropic error body (``{"type": "error", "error": {"type", "message"}}``), or None
    for anything else (an HTML page, a proxy's text, another API's JSON)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or body.get("type", "error") != "error":
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    error_type, message = error.get("type"), error.get("message")
    if not isinstance(error_type, str) or not error_type or not isinstance(message, str):
        return None
    return ProviderError(error_type, message)


class _Frame:
    """Accumulates the lines of one SSE frame."""

    def __init__(self) -> None:
        self.event: bytes | None = None
        self.data: list[bytes] = []

    def add(self, line: bytes) -> None:
        if line.startswith(b":"):
            return  # comment
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"event":
            self.event = value
        elif field == b"data":
            self.data.append(value)

    def __bool__(self) -> bool:
        return bool(self.data)


def _to_event(frame: _Frame, client_model: str, provider: str, request_id: str) -> SSEEvent:
    payload = b"\n".join(frame.data)
    data = load_json_object(payload, "stream event", provider=provider, request_id=request_id)
    name = frame.event.decode() if frame.event else str(data.get("type", ""))
    if name == "message_start" and isinstance(data.get("message"), dict):
        data = {**data, "message": {**data["message"], "model": client_model}}
        payload = deepjson.dumps(data)
    raw = b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
    return SSEEvent(name, data, raw=raw)


def _stream_error(data: Json, request_id: str | None) -> UpstreamError:
    error = data.get("error") or {}
    error_type = str(error.get("type") or "api_error")
    message = capped(str(error.get("message") or "upstream stream error"))
    status = _STATUS_BY_TYPE.get(error_type, 500)
    return UpstreamError(status, error_type, message, upstream_request_id=request_id, retryable=False)


class AnthropicProvider:
    type = "anthropic"
    relays_upstream_shapes = True  # its answers are the upstream's, already in the client's shape

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.forwards_unknown_fields = config.forward_unknown_fields is not False
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._messages_url = f"{base}/v1/messages"
        self._count_url = f"{base}/v1/messages/count_tokens"
        self._client = UpstreamClient(config, auth=lambda key: {"x-api-key": key}, parse_error=parse_error)

    @property
    def client(self) -> UpstreamClient:
        return self._client

    def _headers(self, req: Json, ctx: CallContext) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": ctx.anthropic_version,
        }
        betas = merge_betas(ctx.anthropic_beta, req.get("betas"))
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        return headers

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        body = deepjson.dumps(upstream_body(request, upstream_model, stream=None))
        resp = await self._client.request(
            self._messages_url,
            body,
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            observer=ctx.observer,
            request_id=ctx.request_id,
            ctx=ctx,
        )
        note_upstream(ctx.response_headers, resp.headers)
        message = load_json_object(resp.body, "message body", provider=self.name, request_id=ctx.request_id)
        message["model"] = request.get("model", upstream_model)
        return message

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        body = deepjson.dumps(upstream_body(request, upstream_model, stream=True))
        client_model = str(request.get("model", upstream_model))
        lines = self._client.stream_lines(
            self._messages_url,
            body,
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            observer=ctx.observer,
            request_id=ctx.request_id,
            ctx=ctx,
        )
        try:
            async with aclosing(self._relay(lines, client_model, ctx)) as relay:
                async for event in relay:
                    yield event
        except JsonAnswer as answer:  # raised before any line: a proxy or mock that ignores "stream"
            for event in self._json_as_events(answer, client_model, ctx):
                yield event

    async def _relay(
        self, lines: AsyncGenerator[tuple[bytes, Mapping[str, str]]], client_model: str, ctx: CallContext
    ) -> AsyncGenerator[SSEEvent]:
        stopped = False
        frame = _Frame()
        async with aclosing(lines):
            async for line, headers in lines:
                if not ctx.response_headers:
                    note_upstream(ctx.response_headers, headers)
                if line:
                    frame.add(line)
                    continue
                if not frame or stopped:
                    frame = _Frame()
                    continue
                event = _to_event(frame, client_model, self.name, ctx.request_id)
                frame = _Frame()
                if event.event == "error":
                    raise _stream_error(event.data, headers.get("request-id"))
                stopped = event.event == "message_stop"
                yield event
        if frame and not stopped:  # a last frame without its blank line: dispatch it anyway
            event = _to_event(frame, client_model, self.name, ctx.request_id)
            if event.event == "error":
                raise _stream_error(event.data, None)
            stopped = event.event == "message_stop"
            yield event
        if not stopped:
            raise ApiError("upstream stream ended before message_stop")

    def _json_as_events(self, answer: JsonAnswer, client_model: str, ctx: CallContext) -> list[SSEEvent]:
        note_upstream(ctx.response_headers, answer.headers)
        data = load_json_object(answer.body, "message body", provider=self.name, request_id=ctx.request_id)
        if data.get("type") == "error":
            raise _stream_error(data, answer.headers.get("request-id"))
        if data.get("type") != "message" or not isinstance(data.get("content"), list):
            fault = map_fault(self.name, Malformed("message body", answer.body, "not a Message"))
            fault.log(ctx.request_id)
            raise fault.error
        if ctx.observer is not None:
            ctx.observer.stream_as_json(self.name)
        return list(message_to_events({**data, "model": client_model}))

    async def count_tokens(self, request: Json, upstream_model: str, ctx: CallContext) -> int:
        payload = {k: v for k, v in request.items() if k not in _NOT_FOR_COUNT_TOKENS and k != "betas"}
        payload["model"] = upstream_model
        resp = await self._client.request(
            self._count_url,
            deepjson.dumps(payload),
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            request_id=ctx.request_id,
            ctx=ctx,
        )
        answer = load_json_object(resp.body, "count_tokens body", provider=self.name, request_id=ctx.request_id)
        counted = answer.get("input_tokens")
        if not isinstance(counted, int) or isinstance(counted, bool):
            raise ApiError("upstream count_tokens response has no integer input_tokens")
        return counted

    async def aclose(self) -> None:
        await self._client.aclose()


def create(config: ProviderConfig) -> Provider:
    return AnthropicProvider(config)
