"""POST /v1/messages and its three sibling routes: unpack, check, call the provider, format."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from connexion import request
from starlette.responses import Response, StreamingResponse

from providers.base import CallContext, Json
from providers.router import Target
from specgate import dispatch
from specgate.errors import InvalidRequestError
from specgate.responses import envelope_success
from specgate.sse import anthropic_stream, envelope_stream
from specgate.state import gateway_of, request_id_of, scope_state
from specgate.validation import BODY_STATE_KEY

DEFAULT_VERSION = "2023-06-01"
STRICT_VERSION = "2026-10-21"  # rejects the sampling parameters
API_VERSIONS = (DEFAULT_VERSION, STRICT_VERSION)  # the AnthropicVersion enum of spec/components.yaml
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")


async def create_message(user: str | None = None) -> Response:
    return await _create(envelope=False)


async def anthropic_create_message(user: str | None = None) -> Response:
    return await _create(envelope=False)


async def platform_anthropic_create_message(user: str | None = None) -> Response:
    return await _create(envelope=False)


async def platform_create_message(user: str | None = None) -> Response:
    return await _create(envelope=True)


def check_semantics(body: Json, version: str) -> None:
    """Rules the schema cannot express (cross-field and version-dependent)."""
    if version == STRICT_VERSION:
        for name in SAMPLING_PARAMS:
            if name in body:
                raise InvalidRequestError(f"{name}: Extra inputs are not permitted")
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled" and int(thinking["budget_tokens"]) >= int(body["max_tokens"]):
        raise InvalidRequestError("thinking.budget_tokens: must be less than max_tokens")


def split_beta(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part.strip():
            seen[part.strip()] = None
    return tuple(seen)


def _route_headers(target: Target) -> dict[str, str]:
    # The upstream model can be the client's own model name: percent-encode anything that is not
    # printable ASCII so it can neither break the header nor inject another one.
    model = quote(target.upstream_model, safe="-._~:/@+=,;!*'()")
    return {"x-specgate-provider": target.provider.name, "x-specgate-upstream-model": model}


async def _create(*, envelope: bool) -> Response:
    scope: Any = request.scope
    gateway = gateway_of(scope)
    request_id = request_id_of(scope)
    body: Json = scope_state(scope)[BODY_STATE_KEY]
    headers = request.headers
    version = headers.get("anthropic-version") or DEFAULT_VERSION
    check_semantics(body, version)
    ctx = CallContext(
        request_id=request_id,
        anthropic_version=version,
        anthropic_beta=split_beta(headers.get("anthropic-beta")),
    )
    if body.get("stream"):
        first, rest, target = await dispatch.open_stream(gateway.router, body, ctx)
        frames = (
            envelope_stream(first, rest, request_id, str(body["model"]))
            if envelope
            else anthropic_stream(first, rest, request_id)
        )
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **_route_headers(target)},
        )
    message, target = await dispatch.create(gateway.router, body, ctx)
    content = envelope_success(message) if envelope else orjson.dumps(message)
    return Response(content, media_type="application/json", headers=_route_headers(target))
