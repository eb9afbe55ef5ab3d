"""The end of the shutdown grace period, for the streams still open when it comes.

On SIGTERM uvicorn stops accepting connections and waits ``timeout_graceful_shutdown`` for the
open ones to finish, then cancels what is left -- a stream cut that way ends with no
``event: error`` and logs a traceback per stream.  Instead, the first connection uvicorn asks to
shut down starts this process's drain clock (``DRAIN.begin``, from ``specgate.wire.serving``);
when ``server.shutdown_grace_s`` has passed, every stream waiting on its upstream gets
``OverloadedError("gateway shutting down")``, which the stream framing turns into an
``event: error`` and a clean end.  ``specgate serve`` gives uvicorn a little longer than the grace
so those last frames go out before it cancels anything.

A stream awaits each upstream event inside ``DRAIN.bounded()``: an ``asyncio.timeout`` that has
no deadline until the drain begins, then the grace's end.  Only the await on the upstream is
bounded, never a write to the client, so the cancellation always lands where it is caught.
One ``Drain`` per process (module state on purpose: a shutdown is a property of the process,
like its signal handlers).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from specgate.core.errors import OverloadedError

SHUTTING_DOWN = "gateway shutting down"


class Drain:
    def __init__(self) -> None:
        self.deadline: float | None = None  # loop time at which open streams are ended
        self._active: set[asyncio.Timeout] = set()

    def begin(self, grace_s: float) -> None:
        """Streams still waiting ``grace_s`` from now are ended (the first call wins)."""
        if self.deadline is not None:
            return
        self.deadline = asyncio.get_running_loop().time() + max(grace_s, 0.0)
        for timeout in list(self._active):
            timeout.reschedule(self.deadline)

    def bounded(self) -> _Bounded:
        """``async with DRAIN.bounded(): event = await ...`` -- ``OverloadedError`` at the grace's end."""
        return _Bounded(self)


class _Bounded:
    __slots__ = ("_drain", "_timeout")

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._timeout = asyncio.timeout_at(drain.deadline)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        self._drain._active.add(self._timeout)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._drain._active.discard(self._timeout)
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            raise OverloadedError(SHUTTING_DOWN) from None


DRAIN = Drain()
