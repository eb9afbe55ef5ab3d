"""Transport for ``type: openai`` and ``type: azure_openai``: POST the chat completions URL of
the provider's ``ChatEndpoint`` (JSON or SSE) and translate with ``providers.openai.translate``.
No translation logic lives here."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing

import orjson

from providers.answers import load_json_object, note_upstream
from providers.base import CallContext, CallObserver
from providers.events import message_to_events
from providers.faults import ProviderError, capped
from providers.http import UpstreamClient
from providers.openai.endpoint import ChatEndpoint, OpenAIEndpoint
from providers.openai.translate import (
    ChatStreamTranslator,
    estimate_input_tokens,
    from_chat_response,
    message_id_for,
    random_id,
    to_chat_request,
)
from providers.streaming import JsonAnswer
from specgate.core import deepjson
from specgate.core.config import ProviderConfig
from specgate.core.errors import UpstreamError
from specgate.core.types import Json, SSEEvent

_REQUEST_ID_HEADERS = ("x-request-id", "request-id")


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if name in headers:
            return headers[name]
    return None


def _documented(error: object) -> ProviderError | None:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return ProviderError(None, error["message"])
    return None


def parse_error(raw: bytes) -> ProviderError | None:
    """An OpenAI error body (``{"error": {"message", "type", "param", "code"}}``), or None for
    anything else. Its ``type`` is OpenAI's vocabulary, so the Anthropic type comes from the status."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return _documented(body.get("error")) if isinstance(body, dict) else None


class OpenAIProvider:
    def __init__(self, config: ProviderConfig, endpoint: ChatEndpoint | None = None) -> None:
        if endpoint is None:
            if not config.base_url:
                raise ValueError(f"provider {config.name!r} (type openai) needs a base_url")
            endpoint = OpenAIEndpoint(config.base_url)
        self.name = config.name
        self.type = config.type
        self._endpoint = endpoint
        self._client = UpstreamClient(config, auth=endpoint.key_headers, parse_error=parse_error)

    @property
    def client(self) -> UpstreamClient:
        return self._client

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"content-type": "application/json", "accept": "application/json"}

    async def _post(
        self, request: Json, upstream_model: str, ctx: CallContext, *, stream: bool
    ) -> tuple[str, bytes, dict[str, str], float, CallObserver | None]:
        """The upstream POST both calls make (URL, translated body, headers, deadline, observer),
        as the leading arguments of ``UpstreamClient.request`` and ``stream_lines``."""
        body = to_chat_request({**request, "stream": stream}, upstream_model)
        headers = {**self._headers(), **await self._endpoint.token_headers(ctx.request_id)}
        url = self._endpoint.url(upstream_model)
        return url, deepjson.dumps(body), headers, self._client.deadline(ctx.deadline), ctx.observer

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        post = await self._post(request, upstream_model, ctx, stream=False)
        resp = await self._client.request(*post, request_id=ctx.request_id, ctx=ctx)
        note_upstream(ctx.response_headers, resp.headers)
        completion = load_json_object(resp.body, "chat completion", provider=self.name, request_id=ctx.request_id)
        return from_chat_response(completion, str(request.get("model", "")))

    def _json_as_events(self, answer: JsonAnswer, request: Json, ctx: CallContext) -> list[SSEEvent]:
        """A whole ``chat.completion`` answered to a stream request, as the equivalent event stream."""
        note_upstream(ctx.response_headers, answer.headers)
        completion = load_json_object(answer.body, "chat completion", provider=self.name, request_id=ctx.request_id)
        if "error" in completion and not completion.get("choices"):
            raise self._reported(completion, answer.headers)
        message = from_chat_response(completion, str(request.get("model", "")))
        if ctx.observer is not None:
            ctx.observer.stream_as_json(self.name)
        return list(message_to_events(message))

    def _reported(self, body: Json, headers: Mapping[str, str]) -> UpstreamError:
        documented = _documented(body["error"])
        message = f"upstream {self.name!r} reported an error mid-stream"
        return UpstreamError(
            500,
            "api_error",
            capped(documented.message) if documented else message,
            upstream_request_id=_request_id(headers),
            retryable=False,
        )

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        post = await self._post(request, upstream_model, ctx, stream=True)
        lines = self._client.stream_lines(*post, request_id=ctx.request_id, ctx=ctx)
        try:
            async with aclosing(self._translate(lines, request, ctx)) as events:
                async for event in events:
                    yield event
        except JsonAnswer as answer:  # raised before any line: a server that ignores "stream"
            for event in self._json_as_events(answer, request, ctx):
                yield event

    async def _translate(
        self, lines: AsyncGenerator[tuple[bytes, Mapping[str, str]]], request: Json, ctx: CallContext
    ) -> AsyncGenerator[SSEEvent]:
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
                chunk = load_json_object(payload, "stream chunk", provider=self.name, request_id=ctx.request_id)
                if "error" in chunk and not chunk.get("choices"):
                    raise self._reported(chunk, headers)
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
        await self._endpoint.aclose()
