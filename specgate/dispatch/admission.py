"""What the handlers call: the principal's virtual key -> model access (403), limits (429), and a
ticket that corrects the reservation with the real usage after the provider call.

    ticket = await gate.admit(scope, body)                        # top of the handler
    message, target = await gate.tracked(ticket, dispatch.create(...))
    first, rest, target = await gate.tracked_stream(ticket, dispatch.open_stream(...))
    Response(..., headers={..., **ticket.headers})
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, MutableMapping
from typing import Any, TypeVar

from providers.tokens import estimate_input_tokens
from specgate.access.governance import model_allowed
from specgate.access.limiter import UNLIMITED, Ticket
from specgate.access.usage import StreamUsage, settling, usage_tokens
from specgate.core.config import VirtualKeySpec
from specgate.core.errors import PermissionDeniedError
from specgate.core.types import Json, SSEEvent
from specgate.gateway import gateway_of

T = TypeVar("T")
Scope = MutableMapping[str, Any]


def principal_of(scope: Scope) -> str | None:
    """The authenticated principal (a virtual key's id, or an admin key's opaque id); None when open."""
    user = (scope.get("extensions") or {}).get("connexion_context", {}).get("user")
    return str(user) if user is not None else None


def virtual_key_of(scope: Scope) -> VirtualKeySpec | None:
    return gateway_of(scope).governance.key_for(principal_of(scope))


def may_use(scope: Scope, model: str) -> bool:
    key = virtual_key_of(scope)
    return key is None or model_allowed(key, model)


def check_model(scope: Scope, model: str) -> None:
    """403 ``permission_error`` naming the model when the caller's key may not use it."""
    key = virtual_key_of(scope)
    if key is not None and not model_allowed(key, model):
        raise PermissionDeniedError(f"model: key '{key.id}' is not allowed to use model '{model}'")


def estimate_tokens(body: Json) -> int:
    return estimate_input_tokens(body) + int(body.get("max_tokens") or 0)


async def admit(scope: Scope, body: Json, *, count_tokens: bool = True) -> Ticket:
    """Model access, then limits; the ticket's headers go on the response."""
    check_model(scope, str(body.get("model", "")))
    key = virtual_key_of(scope)
    if key is None or not key.limited:
        return UNLIMITED
    tokens = estimate_tokens(body) if count_tokens else 0
    return await gateway_of(scope).governance.limiter.admit(key, tokens, count_tokens=count_tokens)


async def tracked(ticket: Ticket, call: Awaitable[tuple[Json, T]]) -> tuple[Json, T]:
    """Await a non-streaming provider call, then settle the ticket with its usage."""
    try:
        message, extra = await call
    except BaseException:
        await ticket.settle(None)
        raise
    await ticket.settle(usage_tokens(message.get("usage")))
    return message, extra


async def tracked_stream(
    ticket: Ticket, call: Awaitable[tuple[SSEEvent, AsyncIterator[SSEEvent], T]]
) -> tuple[SSEEvent, AsyncIterator[SSEEvent], T]:
    """Await a stream's opening; the returned stream settles the ticket when it ends."""
    try:
        first, rest, extra = await call
    except BaseException:
        await ticket.settle(None)
        raise
    if ticket is UNLIMITED:
        return first, rest, extra
    usage = StreamUsage()
    usage.update(first)
    return first, settling(rest, usage, ticket), extra
