"""An event stream that others watch as it passes: one layer however many watch it.

Several parts of the gateway need to see a stream's events on their way to the client: the
request's observer (usage, the first token) and the reservation's settlement (usage, then a
settle when the stream ends). Each used to wrap the stream in a layer of its own, and every
event then went through every layer, a step down and back up each, on every wake-up. Now each
adds to one ``TappedStream``: taps (plain functions of one event) and closers (run once when the
stream ends: finished, failed, closed by the client's disconnect, or closed before it was ever
iterated).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

from specgate.core.types import SSEEvent

Tap = Callable[[SSEEvent], None]
DELTA = "content_block_delta"  # most of a stream's events; carries no usage
Closer = Callable[[bool], Awaitable[None]]  # called with True when the stream failed (an exception)


class TappedStream:
    """Passes ``source`` through, showing each event to every tap; at its end (the last event, an
    exception, ``aclose``) closes ``source`` and then runs every closer once, in order. Add taps
    and closers before iterating it.

    The events pass through one async generator; ``__anext__`` hands out that generator's own
    step, so a wait for the upstream is no deeper than without the taps."""

    __slots__ = ("_closed", "_closers", "_every", "_generator", "_source", "_taps")

    def __init__(self, source: AsyncIterator[SSEEvent]) -> None:
        self._source = source
        self._taps: list[Tap] = []  # shown the first content_block_delta only (first_delta_only)
        self._every: list[Tap] = []
        self._closers: list[Closer] = []
        self._closed = False
        self._generator = self._pass()

    def tap(self, tap: Tap, *, first_delta_only: bool = False) -> None:
        """Show ``tap`` every event; ``first_delta_only``: every event but the second and later
        ``content_block_delta`` (most of a stream, and they carry no usage: what the usage and
        first-token taps need, without a call per text delta)."""
        (self._taps if first_delta_only else self._every).append(tap)

    def on_close(self, closer: Closer) -> None:
        self._closers.append(closer)

    def parts(self) -> tuple[AsyncIterator[SSEEvent], list[Tap], list[Tap]]:
        """For a consumer that steps the stream itself, without this layer (the native stream
        response, ``specgate.wire.sse``): the source, the ``first_delta_only`` taps and the
        others. It shows each event to the taps as ``tap`` says, and ends with ``finish`` (which
        closes the source), never iterating this object."""
        return self._source, self._taps, self._every

    async def finish(self, *, failed: bool) -> None:
        """Close the source and run the closers, once (``failed``: the source raised)."""
        await self._close(failed=failed)

    def __aiter__(self) -> TappedStream:
        return self

    def __anext__(self) -> Awaitable[SSEEvent]:
        return self._generator.__anext__()

    async def aclose(self) -> None:
        try:
            await self._generator.aclose()
        finally:  # a generator closed before its first step never ran its own ``finally``
            await self._close(failed=False)

    async def _pass(self) -> AsyncGenerator[SSEEvent]:
        taps, every = self._taps, self._every
        delta_seen = False
        failed = False
        try:
            async for event in self._source:
                if event.event != DELTA or not delta_seen:
                    delta_seen = delta_seen or event.event == DELTA
                    for tap in taps:
                        tap(event)
                for tap in every:
                    tap(event)
                yield event
        except Exception:
            failed = True
            raise
        finally:
            await self._close(failed=failed)

    async def _close(self, *, failed: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await aclose(self._source)
        finally:
            await _run(self._closers, failed)


async def aclose(stream: AsyncIterator[SSEEvent]) -> None:
    """Close an event stream that can be closed (an async generator, a ``TappedStream``)."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def _run(closers: list[Closer], failed: bool) -> None:
    """Every closer, each even when one before it raises (that error is raised after the rest)."""
    if not closers:
        return
    first, *rest = closers
    try:
        await first(failed)
    finally:
        await _run(rest, failed)


def tapped(stream: AsyncIterator[SSEEvent]) -> TappedStream:
    """``stream`` itself when it is already tapped (a tap more costs no layer more), else wrapped."""
    return stream if isinstance(stream, TappedStream) else TappedStream(stream)
