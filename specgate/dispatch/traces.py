"""Spans for calls served in the background (a job, a batch item), when tracing is on.

``background`` gives the call an observer of its own, whose span is the root of a new trace
linked to the request that submitted it (``link``: from ``link_of(record)`` at submission), and
ends the span when the call is done. With tracing off it hands the call back unchanged and
imports nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from specgate.core.errors import GatewayError
from specgate.dispatch.exchange import Call
from specgate.gateway import Gateway


def link_of(observer: object) -> Any:
    """The span context of the request that submits background work (None when not tracing)."""
    if observer is None or not hasattr(observer, "span_context"):
        return None
    return observer.span_context


@asynccontextmanager
async def background(gateway: Gateway, call: Call, name: str, link: Any, principal: str) -> AsyncIterator[Call]:
    tracing = gateway.tracing
    if tracing is None:
        yield call
        return
    from specgate.wire.traced import background_record

    attributes = {
        "specgate.request_id": call.ctx.request_id,
        "specgate.key_id": principal,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": str(call.body.get("model", ""))[:200],
    }
    record = background_record(tracing, gateway.metrics, name, link, attributes)
    error: str | None = None
    try:
        yield replace(call, ctx=replace(call.ctx, observer=record))
    except GatewayError as exc:
        error = exc.type
        raise
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        record.ended_background(error)
