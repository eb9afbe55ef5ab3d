"""Stop work the client no longer waits for: a non-streaming call is cancelled (and with it its
upstream request) when the client disconnects. Streams need no watcher: the server stops
iterating a response whose client has gone, which closes the upstream stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from specgate.core.errors import ApiError

T = TypeVar("T")


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        # the request body was read during validation; a replayed body message is skipped


class _ClientGone(Exception):
    """The client disconnected while ``_watched`` work ran (private: ``work`` never raises it)."""


async def _watched(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work`` in the caller's task; one watcher task cancels that task when the client
    goes, and the cancellation comes out as ``_ClientGone`` (the server's own stays a
    cancellation)."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _disconnected(receive)
        gone = True
        current.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:  # our own cancellation, not the server's
            raise _ClientGone from None
        raise
    finally:
        watcher.cancel()


async def until_disconnected(receive: Receive, work: Awaitable[None]) -> bool:
    """Await ``work``; True when it finished, False when the client disconnected first (``work``
    was cancelled). What a streamed response uses instead of starlette's per-stream anyio task
    group (uvicorn speaks ASGI 2.3, so starlette would otherwise start one for every stream)."""
    try:
        await _watched(receive, work)
    except _ClientGone:
        return False
    return True


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ``ApiError``
    (nobody reads that answer; the server drops it)."""
    try:
        return await _watched(receive, work)
    except _ClientGone:
        raise ApiError("the client closed the connection before the answer was ready") from None
