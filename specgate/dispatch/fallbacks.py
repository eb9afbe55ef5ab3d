"""Calling providers for a validated request: route by model, fall back to the next route when a
provider fails in a retryable way, open streams so that errors before the first event are still
ordinary HTTP errors. What happens is reported to ``ctx.observer`` (metrics, the request log)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence

from providers.base import CallContext, CallObserver
from providers.router import Router, Target
from specgate.core.errors import (
    ApiError,
    GatewayError,
    NotFoundError,
    UnsupportedFieldError,
    UpstreamError,
    error_type_for_status,
)
from specgate.core.streams import aclose, tapped
from specgate.core.types import Json, SSEEvent
from specgate.wire.timing import Overhead

log = logging.getLogger("specgate.dispatch.fallbacks")


def targets_for(router: Router, model: str) -> list[Target]:
    targets = router.chain(model)
    if not targets:
        raise NotFoundError(f"model: {model}")
    return targets


def _routes(router: Router, body: Json, targets: Sequence[Target] | None) -> list[Target]:
    return list(targets) if targets is not None else targets_for(router, str(body["model"]))


def _passed_over(ctx: CallContext, target: Target, exc: GatewayError, failure: GatewayError | None) -> bool:
    """A fallback that cannot honour the request is no fallback for it: the failure that led to
    it stands (and the next fallback, if any, is tried)."""
    if failure is None or not isinstance(exc, UnsupportedFieldError):
        return False
    log.warning("request %s: fallback %s passed over (%s)", ctx.request_id, target.provider.name, exc.message)
    return True


def _may_fall_back(exc: GatewayError) -> bool:
    """An upstream's error falls back when ``providers.faults`` marked it the route's fault
    (``retryable``: 5xx, 429, and the 502s for a refused key, a 404 or a foreign 4xx body);
    a 400/413 about the request content does not."""
    if isinstance(exc, UpstreamError):
        return exc.retryable
    return exc.status_code >= 500 or exc.status_code == 429


def _budget_allows(ctx: CallContext, target: Target) -> bool:
    """The request's retry budget (``providers.budget``) has room for the next route."""
    ctx.budget.failed()  # (again, if the transport said so): a 2xx that failed later counts too
    if ctx.budget.allows_fallback():
        return True
    if ctx.observer is not None:
        ctx.observer.budget_refused(target.provider.name, "fallback")
    log.warning(
        "request %s: %s failed; retry budget spent (%s), no fallback",
        ctx.request_id,
        target.provider.name,
        ctx.budget.describe(),
    )
    return False


def _failed(ctx: CallContext, target: Target, exc: GatewayError, started: float, *, fallback: bool) -> None:
    if fallback:
        log.warning("request %s: %s failed (%s), falling back", ctx.request_id, target.provider.name, exc.type)
    obs = ctx.observer
    if obs is not None:
        obs.upstream_done(target.provider.name, time.perf_counter() - started, ok=False)
        # the status's standard type, not the upstream's own string: metric labels stay bounded
        obs.failed(target.provider.name, error_type_for_status(exc.status_code), fallback=fallback)


def _attempting(ctx: CallContext, target: Target, body: Json) -> None:
    if ctx.observer is not None:
        ctx.observer.attempting(target.provider.name, target.provider.type, str(body["model"]), target.upstream_model)


def _served(ctx: CallContext, target: Target, started: float) -> None:
    obs = ctx.observer
    if obs is not None:
        obs.upstream_done(target.provider.name, time.perf_counter() - started, ok=True)
        obs.served(target.provider.name, target.upstream_model)


async def create(
    router: Router,
    body: Json,
    ctx: CallContext,
    overhead: Overhead | None = None,
    *,
    targets: Sequence[Target] | None = None,
) -> tuple[Json, Target]:
    """Call the first target that can serve ``body`` (``targets``: these routes instead of the
    router's chain for the model); time spent awaiting providers is added to ``overhead``'s
    upstream time."""
    targets = _routes(router, body, targets)
    failure: GatewayError | None = None
    for position, target in enumerate(targets):
        ctx.response_headers.clear()  # a fallback must not show the failed route's request id
        _attempting(ctx, target, body)
        started = time.perf_counter()
        try:
            message = await target.provider.create_message(body, target.upstream_model, ctx)
        except GatewayError as exc:
            if _passed_over(ctx, target, exc, failure):
                continue
            fallback = position + 1 < len(targets) and _may_fall_back(exc) and _budget_allows(ctx, target)
            _failed(ctx, target, exc, started, fallback=fallback)
            if fallback:
                failure = exc
                continue
            raise
        finally:
            if overhead is not None:
                overhead.add_upstream(started)
        _served(ctx, target, started)
        usage = message.get("usage")
        if ctx.observer is not None and isinstance(usage, dict):
            ctx.observer.usage(usage)
        message["model"] = body["model"]
        return message, target
    raise failure or ApiError("no provider could serve the request")


async def open_stream(
    router: Router,
    body: Json,
    ctx: CallContext,
    overhead: Overhead | None = None,
    *,
    targets: Sequence[Target] | None = None,
) -> tuple[SSEEvent, AsyncIterator[SSEEvent], Target]:
    """Start a stream and wait for its first event (errors until then can still fall back); the
    wait for the first event is added to ``overhead``'s upstream time."""
    targets = _routes(router, body, targets)
    failure: GatewayError | None = None
    for position, target in enumerate(targets):
        ctx.response_headers.clear()
        _attempting(ctx, target, body)
        started = time.perf_counter()
        stream = aiter(target.provider.stream_message(body, target.upstream_model, ctx))
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            raise ApiError("upstream returned an empty stream") from None
        except GatewayError as exc:
            await aclose(stream)
            if _passed_over(ctx, target, exc, failure):
                continue
            fallback = position + 1 < len(targets) and _may_fall_back(exc) and _budget_allows(ctx, target)
            _failed(ctx, target, exc, started, fallback=fallback)
            if fallback:
                failure = exc
                continue
            raise
        finally:
            if overhead is not None:
                overhead.add_upstream(started)
        _served(ctx, target, started)
        if first.event == "message_start":
            message = first.data.get("message")
            if isinstance(message, dict) and message.get("model") != body["model"]:
                first = SSEEvent(first.event, {**first.data, "message": {**message, "model": body["model"]}})
        if ctx.observer is None:
            return first, stream, target
        seen = StreamSeen(ctx.observer)
        seen.see(first)
        observed = tapped(stream)
        observed.tap(seen.see, first_delta_only=True)  # usage, and the first delta (the first token)
        return first, observed, target
    raise failure or ApiError("no provider could serve the request")


class StreamSeen:
    """Tells the observer about a stream's usage and its first content delta (a tap of the
    stream, ``specgate.core.streams``)."""

    __slots__ = ("_delta_seen", "_observer")

    def __init__(self, observer: CallObserver) -> None:
        self._observer = observer
        self._delta_seen = False

    def see(self, event: SSEEvent) -> None:
        data = event.data
        if event.event == "content_block_delta":
            if not self._delta_seen:
                self._delta_seen = True
                self._observer.first_token()
        elif event.event == "message_start":
            message = data.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                self._observer.usage(usage)
        elif event.event == "message_delta":
            usage = data.get("usage")
            if isinstance(usage, dict):
                self._observer.usage(usage)
