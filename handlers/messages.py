"""POST /v1/messages and its three sibling routes: unpack, check, call the provider, format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from connexion import request
from connexion.context import receive
from starlette.datastructures import Headers
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope

from handlers import _async
from providers import shapes
from providers.base import CallContext
from providers.router import Router, Target
from specgate.access.limiter import Ticket
from specgate.contract.unknown_fields import UNKNOWN_FIELDS_STATE_KEY, takes_unknown_fields
from specgate.contract.validation import BODY_STATE_KEY
from specgate.core import deepjson
from specgate.core.errors import GatewayError, InvalidRequestError, NotFoundError
from specgate.core.responses import envelope_success
from specgate.core.scope import request_id_of, scope_state
from specgate.core.types import Json, SSEEvent
from specgate.dispatch import admission, fallbacks, forwarding
from specgate.gateway import gateway_of
from specgate.wire.disconnect import unless_disconnected
from specgate.wire.fastpath import fast_entry
from specgate.wire.observe import record_of
from specgate.wire.sse import anthropic_stream, envelope_stream
from specgate.wire.timing import Overhead, overhead_of

DEFAULT_VERSION = "2023-06-01"
STRICT_VERSION = "2026-10-21"  # rejects the sampling parameters
API_VERSIONS = (DEFAULT_VERSION, STRICT_VERSION)  # the AnthropicVersion enum of spec/components.yaml
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")


async def _native(scope: Scope, client: Receive, user: str | None) -> Response:
    return await _create(scope, client, envelope=False, user=user)


async def _envelope(scope: Scope, client: Receive, user: str | None) -> Response:
    return await _create(scope, client, envelope=True, user=user)


# The operations' connexion-bound functions, and (for specgate.wire.fastpath) the same handler
# without connexion's request context.
@takes_unknown_fields
@fast_entry(_native)
async def create_message(user: str | None = None) -> Response:
    return await _native(request.scope, receive, user)


@takes_unknown_fields
@fast_entry(_envelope)
async def platform_create_message(user: str | None = None) -> Response:
    return await _envelope(request.scope, receive, user)


anthropic_create_message = platform_anthropic_create_message = create_message


async def create_message_wildcard(path: str) -> Response:
    """Any .../messages/<path> that is not a declared endpoint: 404, and never a generation."""
    raise NotFoundError(f"Not found: POST {request.url.path} (messages/{path} is not an endpoint)")


anthropic_create_message_wildcard = platform_anthropic_create_message_wildcard = create_message_wildcard


def check_semantics(body: Json, version: str) -> None:
    """Rules the schema cannot express (cross-field and version-dependent)."""
    if version == STRICT_VERSION:
        for name in SAMPLING_PARAMS:
            if name in body:
                raise InvalidRequestError(f"{name}: Extra inputs are not permitted")
    thinking = body.get("thinking") or {}
    max_tokens = body.get("max_tokens")  # absent for count_tokens
    if thinking.get("type") == "enabled" and max_tokens is not None and thinking["budget_tokens"] >= max_tokens:
        raise InvalidRequestError("thinking.budget_tokens: must be less than max_tokens")


def split_beta(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part.strip():
            seen[part.strip()] = None
    return tuple(seen)


def is_beta(scope: Scope, betas: tuple[str, ...]) -> bool:
    """The SDKs' beta namespace: the Python SDK adds ``?beta=true``, the TypeScript SDK (1.x) and
    Claude Code an ``anthropic-beta`` header; its answers are typed ``BetaMessage`` and friends."""
    return bool(betas) or b"beta=true" in scope.get("query_string", b"")


def _shaped(target: Target, ctx: CallContext) -> bool:
    """Whether the gateway gives this answer the beta shape: it built the answer (echo, a
    translation); a relaying provider's answer already is what its upstream said."""
    return ctx.beta and not getattr(target.provider, "relays_upstream_shapes", False)


async def _beta_events(rest: AsyncIterator[SSEEvent]) -> AsyncIterator[SSEEvent]:
    async for event in rest:
        yield SSEEvent(event.event, shapes.beta_event(event.data))


def _route_headers(target: Target, ctx: CallContext) -> dict[str, str]:
    # The upstream model can be the client's own model name: percent-encode anything that is not
    # printable ASCII so it can neither break the header nor inject another one.
    model = quote(target.upstream_model, safe="-._~:/@+=,;!*'()")
    return {"x-specgate-provider": target.provider.name, "x-specgate-upstream-model": model, **ctx.response_headers}


async def _create(scope: Scope, client: Receive, *, envelope: bool, user: str | None) -> Response:
    gateway = gateway_of(scope)
    request_id = request_id_of(scope)
    headers = Headers(scope=scope)
    owner = user or _async.ANONYMOUS
    job_id = headers.get(_async.ID_HEADER)
    if job_id is not None:  # a poll: the body is ignored (and was not validated)
        return await _async.poll(gateway.jobs, owner, job_id, envelope=envelope)
    state = scope_state(scope)
    body: Json = state[BODY_STATE_KEY]
    # top-level fields spec/ does not know: forwarded (anthropic) or the validator's 400, first
    route = forwarding.plan(gateway.router, body, state.get(UNKNOWN_FIELDS_STATE_KEY, ()))
    version = headers.get("anthropic-version") or DEFAULT_VERSION
    check_semantics(body, version)
    is_async = _async.wants_async(headers)  # header errors are 400s before anything is counted
    ttl = _async.result_ttl(headers) if is_async else None
    ticket = await admission.admit(scope, body)  # 403 for a model the key may not use, 429 over its limits
    betas = split_beta(headers.get("anthropic-beta"))
    ctx = CallContext(
        request_id=request_id,
        anthropic_version=version,
        anthropic_beta=betas,
        beta=is_beta(scope, betas),
        observer=record_of(scope),
    )
    if is_async:

        async def run() -> Response:
            return await _respond(gateway.router, body, ctx, ticket, envelope=envelope, route=route)  # no client

        try:
            placeholder = await _async.submit(
                gateway.jobs,
                owner,
                body,
                run,
                request_id=request_id,
                envelope=envelope,
                ttl_s=ttl,
                metrics=gateway.metrics,
            )
        except GatewayError:
            await ticket.settle(None)  # refused (stream, full queue): give the reservation back
            raise
        placeholder.headers.update(route.headers)  # a poll replays the result's body, not headers
        return placeholder
    return await _respond(
        gateway.router, body, ctx, ticket, envelope=envelope, client=client, overhead=overhead_of(scope), route=route
    )


async def _respond(
    router: Router,
    body: Json,
    ctx: CallContext,
    ticket: Ticket,
    *,
    envelope: bool,
    client: Receive | None = None,
    overhead: Overhead | None = None,
    route: forwarding.Forwarding = forwarding.NOTHING,
) -> Response:
    if body.get("stream"):
        opened = fallbacks.open_stream(router, body, ctx, overhead, targets=route.targets)
        first, rest, target = await admission.tracked_stream(ticket, opened)
        if _shaped(target, ctx) and not envelope:
            first, rest = SSEEvent(first.event, shapes.beta_event(first.data)), _beta_events(rest)
        frames = (
            envelope_stream(first, rest, ctx.request_id, str(body["model"]))
            if envelope
            else anthropic_stream(first, rest, ctx.request_id)
        )
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
                **_route_headers(target, ctx),
                **route.headers,
                **ticket.headers,
            },
        )
    call = admission.tracked(ticket, fallbacks.create(router, body, ctx, overhead, targets=route.targets))
    # A synchronous caller that hangs up cancels the upstream call; a background job has no caller.
    message, target = await (unless_disconnected(client, call) if client is not None else call)
    if _shaped(target, ctx) and not envelope:
        message = shapes.beta_message(message)
    content = envelope_success(message) if envelope else deepjson.dumps(message)
    headers = {**_route_headers(target, ctx), **route.headers, **ticket.headers}
    return Response(content, media_type="application/json", headers=headers)
