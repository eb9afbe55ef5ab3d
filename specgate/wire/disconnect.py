"""Stop work the client no longer waits for: a non-streaming call is cancelled (and with it its
upstream request) when the client disconnects, and so is a stream's writing.

Under ``specgate serve`` the server's protocol (``specgate.wire.serving``) puts a ``Hangup`` in
each request's scope and fires it when the connection is lost before the response is complete:
the waiting task is cancelled from there, with no task of its own per request. Under any other
ASGI server one watcher task per request waits for ``http.disconnect`` instead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive, Scope

from specgate.core.errors import ApiError

T = TypeVar("T")
HANGUP_KEY = "specgate.hangup"  # in the ASGI scope, set by specgate.wire.serving's protocol


class Hangup:
    """One request's connection-lost signal: the tasks to cancel when it fires."""

    __slots__ = ("_tasks", "fired")

    def __init__(self) -> None:
        self.fired = False
        self._tasks: list[asyncio.Task[object]] = []

    def watch(self, task: asyncio.Task[object]) -> None:
        if self.fired:  # gone already: cancelled at its next await, as a watcher task would
            task.cancel()
        else:
            self._tasks.append(task)

    def unwatch(self, task: asyncio.Task[object]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    def fire(self) -> None:
        self.fired = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()


def hangup_of(scope: Scope) -> Hangup | None:
    hangup = scope.get(HANGUP_KEY)
    return hangup if isinstance(hangup, Hangup) else None


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        # the request body was read during validation; a replayed body message is skipped


class _ClientGone(Exception):
    """The client disconnected while ``_guarded`` work ran (private: ``work`` never raises it)."""


async def _guarded(receive: Receive, work: Awaitable[T], hangup: Hangup | None) -> T:
    """Await ``work`` in the caller's task, cancelled when the client goes (``_ClientGone``);
    other cancellations propagate. The server's ``hangup`` signal when it gives one, else one
    watcher task reading ``receive`` fires a hang-up of our own."""
    current = asyncio.current_task()
    assert current is not None
    watcher: asyncio.Future[None] | None = None
    if hangup is None:
        own = hangup = Hangup()

        async def watch() -> None:
            await _disconnected(receive)
            own.fire()

        watcher = asyncio.ensure_future(watch())
    hangup.watch(current)
    try:
        return await work
    except asyncio.CancelledError:
        if hangup.fired and current.uncancel() == 0:  # our own cancellation, not the server's
            raise _ClientGone from None
        raise
    finally:
        hangup.unwatch(current)
        if watcher is not None:
            watcher.cancel()


async def until_disconnected(receive: Receive, work: Awaitable[None], hangup: Hangup | None = None) -> bool:
    """Await ``work``; True when it finished, False when the client disconnected first (``work``
    was cancelled). What a streamed response uses instead of starlette's per-stream anyio task
    group (uvicorn speaks ASGI 2.3, so starlette would otherwise start one for every stream)."""
    try:
        await _guarded(receive, work, hangup)
    except _ClientGone:
        return False
    return True


async def unless_disconnected(receive: Receive, work: Awaitable[T], hangup: Hangup | None = None) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ``ApiError``
    (nobody reads that answer; the server drops it). ``work`` runs in the caller's task."""
    try:
        return await _guarded(receive, work, hangup)
    except _ClientGone:
        raise ApiError("the client closed the connection before the answer was ready") from None
