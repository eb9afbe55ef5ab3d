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

from collections.abc import AsyncIterator, Iterable
from typing import Any

from providers.answers import load_json_object, note_upstream
from providers.base import CallContext, Provider
from providers.http import UpstreamClient
from providers.relay import SSERelay, input_tokens_of, parse_error
from specgate.core import deepjson
from specgate.core.config import ProviderConfig
from specgate.core.types import Json, SSEEvent

__all__ = ["AnthropicProvider", "create", "merge_betas", "parse_error", "upstream_body"]

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

    def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        # the HTTP client's generator itself, decoding as it reads (no generator of our own around
        # it, nor one between its reads and the relay: a step less per event each)
        body = deepjson.dumps(upstream_body(request, upstream_model, stream=True))
        client_model = str(request.get("model", upstream_model))
        return self._client.stream_decoded(
            self._messages_url,
            body,
            self._headers(request, ctx),
            self._client.deadline(ctx.deadline),
            SSERelay(client_model, self.name, ctx),
            observer=ctx.observer,
            request_id=ctx.request_id,
            ctx=ctx,
        )

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
        return input_tokens_of(resp.body, provider=self.name, request_id=ctx.request_id)

    async def aclose(self) -> None:
        await self._client.aclose()


def create(config: ProviderConfig) -> Provider:
    return AnthropicProvider(config)
