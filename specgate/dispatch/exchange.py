"""One pass down and back: the provider call with its fallbacks, and its usage settled on the way back.

Every way a Messages request is served (a client waiting for JSON, a stream, a background job, a
batch item) makes the same two calls:

    ticket = await admission.admit(scope, body)          # 403 / 429 before anything runs
    answer = await exchange.serve(router, ticket, call)  # fallbacks, provider, settlement

``serve`` settles the ticket once, here: after a message, when a stream ends (finished, cut or
abandoned), or when the call fails (the reservation is given back); and it writes the call to
the usage ledger (``Call.account``: requests, errors, tokens, cost) at the same moments. ``refund_on_error`` gives it
back when the request never reaches ``serve`` (a job the queue would not take). What the caller
does with the answer (JSON, SSE, the platform envelope, a batch result) is its own business.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import field
from urllib.parse import quote

from starlette.types import Receive

from providers.base import CallContext
from providers.router import Router, Target
from specgate.access.ledger import Account
from specgate.access.limiter import UNLIMITED, Ticket
from specgate.access.usage import StreamUsage, settling, usage_tokens
from specgate.core.records import record
from specgate.core.types import Json, SSEEvent
from specgate.dispatch import fallbacks
from specgate.dispatch.forwarding import NOTHING, Forwarding
from specgate.wire.disconnect import Hangup, unless_disconnected
from specgate.wire.timing import Overhead


@record
class Call:
    """One Messages request on its way to a provider."""

    body: Json
    ctx: CallContext
    stream: bool = False
    route: Forwarding = NOTHING  # forwarded unknown fields, and the targets that accept them
    overhead: Overhead | None = None  # the gateway's own time, measured around the upstream's
    client: Receive | None = None  # the waiting client: its hang-up cancels the call
    hangup: Hangup | None = None  # the server's signal of that hang-up, when it gives one
    account: Account | None = None  # whose call it is, for the usage ledger (None: not counted)

    def waited_for(self, overhead: Overhead | None, client: Receive, hangup: Hangup | None) -> Call:
        """This call with a waiting client (what ``dataclasses.replace`` would do, without its
        per-call field introspection)."""
        return Call(self.body, self.ctx, self.stream, self.route, overhead, client, hangup, self.account)


@record
class Answer:
    """What came back: a message, or a stream's first event and the rest (which settles as it ends)."""

    target: Target
    headers: dict[str, str] = field(default_factory=dict)  # for the client's response
    message: Json | None = None
    first: SSEEvent | None = None
    rest: AsyncIterator[SSEEvent] | None = None


async def serve(router: Router, ticket: Ticket, call: Call) -> Answer:
    if call.stream:
        return await _stream(router, ticket, call)
    created = fallbacks.create(router, call.body, call.ctx, call.overhead, targets=call.route.targets)
    try:
        # A synchronous caller that hangs up cancels the upstream call; a background job has no caller.
        message, target = await (
            unless_disconnected(call.client, created, call.hangup) if call.client is not None else created
        )
    except BaseException as exc:
        await ticket.settle(None)
        if call.account is not None:
            await call.account.settle(None, None, error=isinstance(exc, Exception))
        raise
    usage = message.get("usage")
    if ticket is not UNLIMITED:  # it has nothing to settle
        await ticket.settle(usage_tokens(usage))
    if call.account is not None:
        await call.account.settle(usage if isinstance(usage, dict) else None, target.route.price, error=False)
    return Answer(target, _headers(target, call, ticket), message=message)


async def _stream(router: Router, ticket: Ticket, call: Call) -> Answer:
    opened = fallbacks.open_stream(router, call.body, call.ctx, call.overhead, targets=call.route.targets)
    try:
        first, rest, target = await opened
    except BaseException as exc:
        await ticket.settle(None)
        if call.account is not None:
            await call.account.settle(None, None, error=isinstance(exc, Exception))
        raise
    if ticket is not UNLIMITED or call.account is not None:  # else nothing to settle: the stream as it is
        usage = StreamUsage()
        usage.update(first)
        rest = settling(rest, usage, ticket, call.account, target.route.price)
    return Answer(target, _headers(target, call, ticket), first=first, rest=rest)


@asynccontextmanager
async def refund_on_error(ticket: Ticket) -> AsyncIterator[None]:
    """For a step between admission and ``serve`` that may refuse: the reservation goes back."""
    try:
        yield
    except BaseException:
        await ticket.settle(None)
        raise


@functools.lru_cache(maxsize=1024)
def _header_model(upstream_model: str) -> str:
    # The upstream model can be the client's own model name: percent-encode anything that is not
    # printable ASCII so it can neither break the header nor inject another one.
    return quote(upstream_model, safe="-._~:/@+=,;!*'()")


def _headers(target: Target, call: Call, ticket: Ticket) -> dict[str, str]:
    return {
        "x-specgate-provider": target.provider.name,
        "x-specgate-upstream-model": _header_model(target.upstream_model),
        **call.ctx.response_headers,
        **call.route.headers,
        **ticket.headers,
    }
