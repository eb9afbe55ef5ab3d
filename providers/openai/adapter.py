"""Transport for ``type: openai``: POST ``{base_url}/chat/completions`` (JSON or SSE) and
translate with ``providers.openai.translate``. No translation logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing

import orjson

from providers.base import CallContext, Json, ProviderConfig, SSEEvent
from providers.http import UpstreamClient, load_json_object, note_upstream, snippet
from providers.openai.translate import (
    ChatStreamTranslator,
    estimate_input_tokens,
    from_chat_response,
    message_id_for,
    random_id,
    to_chat_request,
)
from specgate import deepjson
from specgate.errors import GatewayError, UpstreamError, error_type_for_status

_REQUEST_ID_HEADERS = ("x-request-id", "request-id")


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if name in headers:
            return headers[name]
    return None


def _error_message(error: object, status: int) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or f"upstream returned HTTP {status}")
    if isinstance(error, str) and error:
        return error  # some OpenAI-compatible servers send {"error": "text"}
    return f"upstream returned HTTP {status}"


def error_from_response(status: int, headers: Mapping[str, str], raw: bytes) -> GatewayError:
    """An OpenAI error response (``{"error": {"message", "type", "code"}}``) as ``UpstreamError``
    with the Anthropic error type for its status."""
    relayed = {name: headers[name] for name in ("retry-after",) if name in headers}
    try:
        message = _error_message(orjson.loads(raw)["error"], status)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = f"upstream returned HTTP {status} with a body that is not an OpenAI error: {snippet(raw)!r}"
    return UpstreamError(
        status,
        error_type_for_status(status),
        message,
        headers=relayed,
        upstream_request_id=_request_id(headers),
    )


class OpenAIProvider:
    type = "openai"

    def __init__(self, config: ProviderConfig) -> None:
        if not config.base_url:
            raise ValueError(f"provider {config.name!r} (type openai) needs a base_url")
        self.name = config.name
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._client = UpstreamClient(
            config, auth=lambda key: {"authorization": f"Bearer {key}"}, error_for=error_from_response
        )

    @property
    def client(self) -> UpstreamClient:
        return self._client

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"content-type": "application/json", "accept": "application/json"}

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        body = to_chat_request({**request, "stream": False}, upstream_model)
        resp = await self._client.request(
            self._url, deepjson.dumps(body), self._headers(), self._client.deadline(ctx.deadline), observer=ctx.observer
        )
        note_upstream(ctx.response_headers, resp.headers)
        return from_chat_response(load_json_object(resp.body, "chat completion"), str(request.get("model", "")))

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        body = to_chat_request({**request, "stream": True}, upstream_model)
        lines = self._client.stream_lines(
            self._url, deepjson.dumps(body), self._headers(), self._client.deadline(ctx.deadline), observer=ctx.observer
        )
        translator: ChatStreamTranslator | None = None
        client_model = str(request.get("model", ""))
        done = False
        async with aclosing(lines):
            async for line, headers in lines:
                if not ctx.response_headers:
                    note_upstream(ctx.response_headers, headers)
                if done or not line.startswith(b"data:"):
                    continue  # blank separators, comments, event:/id: lines
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    continue
                chunk = load_json_object(payload, "stream chunk")
                if "error" in chunk and not chunk.get("choices"):
                    raise UpstreamError(
                        500,
                        "api_error",
                        _error_message(chunk["error"], 500),
                        upstream_request_id=_request_id(headers),
                        retryable=False,
                    )
                if translator is None:
                    translator = ChatStreamTranslator(
                        client_model, message_id_for(chunk.get("id")), estimate_input_tokens(request)
                    )
                for event in translator.feed(chunk):
                    yield event
        if translator is None:
            translator = ChatStreamTranslator(client_model, random_id("msg_"), estimate_input_tokens(request))
        for event in translator.finish(done=done):
            yield event

    async def aclose(self) -> None:
        await self._client.aclose()
