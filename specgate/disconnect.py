"""Stop work the client no longer waits for: a non-streaming call is cancelled (and with it its
upstream request) when the client disconnects. Streams need no watcher: the server stops
iterating a response whose client has gone, which closes the upstream stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from specgate.errors import ApiError

T = TypeVar("T")


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        # the request body was read during validation; a replayed body message is skipped


async def unless_disconnected(receive: Receive, work: Awaitable[T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ``ApiError``
    (nobody reads that answer; the server drops it)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise ApiError("the client closed the connection before the answer was ready")
    finally:
        watcher.cancel()
        task.cancel()
