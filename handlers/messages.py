"""POST /v1/messages and its three sibling routes.

A request goes down once and comes back once: unpack it and check the cross-field rules, admit it
(model access, limits), serve it (``specgate.dispatch.exchange``: fallbacks, the provider, usage
settled on the way back), and format the answer as JSON, Server-Sent Events or the platform
envelope. A background job (``x-bf-async``) makes the same call later, without a waiting client.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence

import orjson
from connexion import request
from connexion.context import receive
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope

from handlers import _async
from jobs.model import Job
from jobs.registry import Resume, Work
from providers import shapes
from providers.base import CallContext
from providers.budget import RetryBudget
from specgate.contract import rules
from specgate.contract.rules import DEFAULT_VERSION
from specgate.contract.unknown_fields import UNKNOWN_FIELDS_STATE_KEY, takes_unknown_fields
from specgate.contract.validation import BODY_STATE_KEY
from specgate.core import deepjson
from specgate.core.errors import ApiError, NotFoundError
from specgate.core.responses import envelope_success
from specgate.core.scope import RequestHeaders, request_id_of, scope_state
from specgate.core.types import Json, SSEEvent
from specgate.dispatch import admission, exchange, forwarding, traces
from specgate.gateway import Gateway, gateway_of
from specgate.ops.drain import Drain
from specgate.wire.disconnect import hangup_of
from specgate.wire.fastpath import fast_entry
from specgate.wire.observe import record_of
from specgate.wire.sse import AnthropicStreamResponse, EventStreamResponse, envelope_stream
from specgate.wire.timing import overhead_of


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
    return bool(betas) or bool(scope.get("query_string", b"").partition(b"beta=true")[1])  # METH_O: no tuple of args


def _shaped(answer: exchange.Answer, ctx: CallContext) -> bool:
    """Whether the gateway gives this answer the beta shape: it built the answer (echo, a
    translation); a relaying provider's answer already is what its upstream said."""
    return ctx.beta and not getattr(answer.target.provider, "relays_upstream_shapes", False)


async def _beta_events(rest: AsyncIterator[SSEEvent]) -> AsyncIterator[SSEEvent]:
    async for event in rest:
        yield SSEEvent(event.event, shapes.beta_event(event.data))


def _call(scope: Scope, headers: RequestHeaders, body: Json) -> exchange.Call:
    """The request as the provider call needs it; a broken cross-field rule is a 400 here."""
    gateway = gateway_of(scope)
    state = scope_state(scope)
    # top-level fields spec/ does not know: forwarded (anthropic) or the validator's 400, first
    route = forwarding.plan(gateway.router, body, state.get(UNKNOWN_FIELDS_STATE_KEY, ()))
    version = headers.get("anthropic-version") or DEFAULT_VERSION
    rules.check_message(body, version)
    betas = split_beta(headers.get("anthropic-beta"))
    ctx = CallContext(
        request_id=request_id_of(scope),
        anthropic_version=version,
        anthropic_beta=betas,
        beta=is_beta(scope, betas),
        observer=record_of(scope),
        client_headers=Headers(raw=scope["headers"]),  # for providers' forward_headers (every one, repeated too)
        budget=RetryBudget(gateway.config.server.retry_budget),
    )
    account = admission.account_of(scope, body)
    return exchange.Call(body, ctx, stream=body.get("stream") is True, route=route, account=account)


async def _create(scope: Scope, client: Receive, *, envelope: bool, user: str | None) -> Response:
    gateway = gateway_of(scope)
    headers = RequestHeaders(scope)
    owner = user or _async.ANONYMOUS
    job_id = headers.get(rules.ASYNC_ID_HEADER)
    if job_id is not None:  # a poll: the body is ignored (and was not validated)
        return await _async.poll(gateway.jobs, owner, job_id, envelope=envelope)
    body: Json = scope_state(scope)[BODY_STATE_KEY]
    call = _call(scope, headers, body)
    is_async = _async.wants_async(headers)  # header errors are 400s before anything is counted
    if is_async:
        rules.check_async(body)
    ttl = _async.result_ttl(headers) if is_async else None
    # 403 for a model the key may not use, 429 over its limits (counted in the ledger as refused)
    ticket = await admission.admit(scope, body, account=call.account)
    if not is_async:
        call = call.waited_for(overhead_of(scope), client, hangup_of(scope))
        return _respond(
            await exchange.serve(gateway.router, ticket, call), call, envelope=envelope, drain=gateway.drain
        )

    link = traces.link_of(call.ctx.observer)

    async def run() -> Response:  # later, in the background: no client waits
        async with traces.background(gateway, call, "specgate.job", link, owner) as job_call:
            answer = await exchange.serve(gateway.router, ticket, job_call)
            return _respond(answer, job_call, envelope=envelope, drain=gateway.drain)

    async with exchange.refund_on_error(ticket):  # refused (full queue, shutting down)
        placeholder = await _async.submit(
            gateway.jobs,
            owner,
            body,
            run,
            request_id=call.ctx.request_id,
            envelope=envelope,
            ttl_s=ttl,
            metrics=gateway.metrics,
            payload=_payload(call, scope_state(scope).get(UNKNOWN_FIELDS_STATE_KEY, ()), envelope=envelope),
            # queued and handed back at shutdown, canceled while queued, taken over before it
            # started: the reservation made above goes back (after serve settled it: a no-op)
            release=functools.partial(ticket.settle, None),
        )
    placeholder.headers.update(call.route.headers)  # a poll replays the result's body, not headers
    return placeholder


def _payload(call: exchange.Call, unknown: Sequence[str], *, envelope: bool) -> bytes:
    """What another process needs to make this job's call (``resumed_job``): the request's context
    on one line, then the body (apart, so a body nested to the parser's limit still reads back);
    the principal is the job's owner."""
    ctx = call.ctx
    context = deepjson.dumps(
        {
            "unknown": list(unknown),
            "envelope": envelope,
            "request_id": ctx.request_id,
            "anthropic_version": ctx.anthropic_version,
            "anthropic_beta": list(ctx.anthropic_beta),
            "beta": ctx.beta,
        }
    )
    return context + b"\n" + deepjson.dumps(call.body)


def _unpacked(payload: bytes) -> Json:
    context, _, body = payload.partition(b"\n")  # JSON text holds no raw newline
    unpacked: Json = orjson.loads(context)
    unpacked["body"] = orjson.loads(body)
    return unpacked


def resumed_job(gateway: Gateway) -> Resume:
    """The work of a message job submitted to another process that stopped before finishing it:
    the same call, admitted again under the owner's key (paced by its per-minute limit)."""

    def factory(job: Job) -> Work:
        p: Json | None = _unpacked(job.payload) if job.payload else None

        async def run() -> Response:
            if p is None:
                raise ApiError("job cannot be resumed: its request was not stored")
            body: Json = p["body"]
            ctx = CallContext(
                request_id=str(p["request_id"]),
                anthropic_version=str(p["anthropic_version"]),
                anthropic_beta=tuple(p["anthropic_beta"]),
                beta=bool(p["beta"]),
                budget=RetryBudget(gateway.config.server.retry_budget),
            )
            route = forwarding.plan(gateway.router, body, p["unknown"])
            account = admission.account_for(gateway, job.owner, str(body.get("model", "")))
            call = exchange.Call(body, ctx, stream=False, route=route, account=account)
            key = gateway.governance.key_for(None if job.owner == _async.ANONYMOUS else job.owner)
            ticket = await admission.admit_paced(gateway.governance, key, body, account)
            answer = await exchange.serve(gateway.router, ticket, call)
            return _respond(answer, call, envelope=bool(p["envelope"]), drain=gateway.drain)

        request_id, envelope = (str(p["request_id"]), bool(p["envelope"])) if p else (job.id, False)
        gateway.metrics.job_started("message")  # queued here from now on (job_work counts its end)
        return _async.job_work(run, request_id=request_id, envelope=envelope, metrics=gateway.metrics)

    return factory


def _respond(answer: exchange.Answer, call: exchange.Call, *, envelope: bool, drain: Drain) -> Response:
    """The answer as the client asked for it: SSE or JSON, the SDK's beta shapes, the envelope."""
    shaped = _shaped(answer, call.ctx) and not envelope
    if answer.message is not None:
        message = shapes.beta_message(answer.message) if shaped else answer.message
        content = envelope_success(message) if envelope else deepjson.dumps(message)
        return Response(content, media_type="application/json", headers=answer.headers)
    assert answer.first is not None and answer.rest is not None
    first, rest = answer.first, answer.rest
    if shaped:
        first, rest = SSEEvent(first.event, shapes.beta_event(first.data)), _beta_events(rest)
    request_id = call.ctx.request_id
    headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **answer.headers}
    if not envelope:
        return AnthropicStreamResponse(first, rest, request_id, drain, headers)
    frames = envelope_stream(first, rest, request_id, str(call.body["model"]), drain)
    return EventStreamResponse(frames, media_type="text/event-stream", headers=headers)
