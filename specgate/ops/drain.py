"""The end of the shutdown grace period, for the streams still open when it comes.

On SIGTERM uvicorn stops accepting connections and waits ``timeout_graceful_shutdown`` for the
open ones to finish, then cancels what is left -- a stream cut that way ends with no
``event: error`` and logs a traceback per stream.  Instead, the first connection uvicorn asks to
shut down starts the drain clock (``Gateway.drain.begin``, from ``specgate.wire.serving``);
when ``server.shutdown_grace_s`` has passed, every open stream gets
``OverloadedError("gateway shutting down")``, which the stream framing turns into an
``event: error`` and a clean end.  ``specgate serve`` gives uvicorn a little longer than the grace
so those last frames go out before it cancels anything.

A stream takes each upstream event through ``Watch.next``.  At the grace's end a stream waiting
there is cancelled (only there: never in a write to the client, where the cancellation would not
be caught), and the cancellation becomes the ``OverloadedError``; a stream busy writing meets the
error at its next wait.  The hot path costs two attribute writes per event, no timer.
The app owns its ``Drain``: one per ``Gateway`` (built in the lifespan), no module state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from specgate.core.errors import OverloadedError

SHUTTING_DOWN = "gateway shutting down"
T = TypeVar("T")


class Drain:
    def __init__(self) -> None:
        self.expired = False  # the grace has ended: every wait raises at once
        self._begun = False
        self._watches: set[Watch] = set()

    def begin(self, grace_s: float) -> None:
        """Streams still open ``grace_s`` from now are ended (the first call wins)."""
        if self._begun:
            return
        self._begun = True
        asyncio.get_running_loop().call_later(max(grace_s, 0.0), self.expire)

    def expire(self) -> None:
        self.expired = True
        for watch in list(self._watches):
            watch.interrupt()

    def watch(self) -> Watch:
        """A watch for the current task's stream; ``close()`` it when the stream ends."""
        watch = Watch(self)
        self._watches.add(watch)
        return watch


class Watch:
    """One stream's wait for its next upstream event, as the drain sees it. ``next`` does the
    whole wait; a loop that cannot afford a coroutine per event (``specgate.wire.sse``) does it
    inline: ``drain.expired`` checked, ``waiting`` set around its own await, and a
    ``CancelledError`` caught there handed to ``taken_over``."""

    __slots__ = ("_drain", "_interrupted", "_task", "waiting")

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._task = asyncio.current_task()
        self.waiting = False
        self._interrupted = False

    async def next(self, events: AsyncIterator[T]) -> T | None:
        """The next event, ``None`` at the end; ``OverloadedError`` once the grace has ended."""
        if self._drain.expired:
            raise OverloadedError(SHUTTING_DOWN)
        self.waiting = True
        try:
            return await anext(events, None)
        except asyncio.CancelledError:
            if not self.taken_over():
                raise
            raise OverloadedError(SHUTTING_DOWN) from None
        finally:
            self.waiting = False

    def taken_over(self) -> bool:
        """For a ``CancelledError`` caught while waiting: True when it was this watch's (the grace
        ended; the task is uncancelled and the stream should end with ``OverloadedError``),
        False when it is somebody else's (re-raise it)."""
        if not self._interrupted or self._task is None:
            return False
        self._task.uncancel()
        return True

    def interrupt(self) -> None:
        if self.waiting and self._task is not None and not self._interrupted:
            self._interrupted = True
            self._task.cancel()

    def close(self) -> None:
        self._drain._watches.discard(self)
