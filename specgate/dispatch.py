"""Calling providers for a validated request: route by model, fall back to the next route when a
provider fails in a retryable way, open streams so that errors before the first event are still
ordinary HTTP errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from time import perf_counter

from providers.base import CallContext, Json, SSEEvent
from providers.router import Router, Target
from specgate.errors import ApiError, GatewayError, NotFoundError, UpstreamError
from specgate.timing import Overhead

log = logging.getLogger("specgate.dispatch")


def targets_for(router: Router, model: str) -> list[Target]:
    targets = router.chain(model)
    if not targets:
        raise NotFoundError(f"model: {model}")
    return targets


def _may_fall_back(exc: GatewayError) -> bool:
    if isinstance(exc, UpstreamError):
        return exc.retryable
    return exc.status_code >= 500 or exc.status_code == 429


async def create(router: Router, body: Json, ctx: CallContext, overhead: Overhead | None = None) -> tuple[Json, Target]:
    """Call the first target that can serve ``body``; time spent awaiting providers is added to
    ``overhead``'s upstream time."""
    targets = targets_for(router, str(body["model"]))
    for position, target in enumerate(targets):
        ctx.response_headers.clear()
        since = perf_counter()
        try:
            message = await target.provider.create_message(body, target.upstream_model, ctx)
        except GatewayError as exc:
            if position + 1 < len(targets) and _may_fall_back(exc):
                log.warning("request %s: %s failed (%s), falling back", ctx.request_id, target.provider.name, exc.type)
                continue
            raise
        finally:
            if overhead is not None:
                overhead.add_upstream(since)
        message["model"] = body["model"]
        return message, target
    raise ApiError("no provider could serve the request")  # unreachable: the loop returns or raises


async def open_stream(
    router: Router, body: Json, ctx: CallContext, overhead: Overhead | None = None
) -> tuple[SSEEvent, AsyncIterator[SSEEvent], Target]:
    """Start a stream and wait for its first event (errors until then can still fall back); the
    wait for the first event is added to ``overhead``'s upstream time."""
    targets = targets_for(router, str(body["model"]))
    for position, target in enumerate(targets):
        ctx.response_headers.clear()
        stream = aiter(target.provider.stream_message(body, target.upstream_model, ctx))
        since = perf_counter()
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            raise ApiError("upstream returned an empty stream") from None
        except GatewayError as exc:
            await _aclose(stream)
            if position + 1 < len(targets) and _may_fall_back(exc):
                log.warning("request %s: %s failed (%s), falling back", ctx.request_id, target.provider.name, exc.type)
                continue
            raise
        finally:
            if overhead is not None:
                overhead.add_upstream(since)
        if first.event == "message_start":
            message = first.data.get("message")
            if isinstance(message, dict) and message.get("model") != body["model"]:
                first = SSEEvent(first.event, {**first.data, "message": {**message, "model": body["model"]}})
        return first, stream, target
    raise ApiError("no provider could serve the request")


async def _aclose(stream: AsyncIterator[SSEEvent]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
