"""The longest silence of a streamed upstream body, watched with one timer per limit, not per read.

aiohttp's own ``sock_read`` timeout cancels and re-arms a timer on every read from the socket;
for a stream of small events that is a timer per event. ``SilenceWatch`` keeps one: the stream
reader marks when it starts waiting for the peer (``since = clock()``) and when data came
(``since = None``): two attribute writes an event, not two calls. The timer, when it fires,
either fails the body or is set again for the current wait's end.

The limit is counted from when the reader started waiting, not from the last byte on the
socket: time spent handing an event to a slow client is not the peer's silence (aiohttp also
stops its timer while reading is paused). A body that stays silent past the limit raises
aiohttp's own ``SocketTimeoutError`` from its read, as ``sock_read`` does.
"""

from __future__ import annotations

import asyncio

import aiohttp


class SilenceWatch:
    """Fail ``content``'s pending read once its reader has waited ``limit_s`` seconds for data."""

    __slots__ = ("_content", "_handle", "_limit", "_loop", "clock", "since")

    def __init__(self, content: aiohttp.StreamReader, limit_s: float, loop: asyncio.AbstractEventLoop) -> None:
        self._content = content
        self._limit = limit_s
        self._loop = loop
        self.clock = loop.time
        self.since: float | None = None  # when the reader started waiting; None: it is not
        self._handle: asyncio.TimerHandle | None = loop.call_later(limit_s, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        since = self.since
        now = self._loop.time()
        if since is not None and now - since >= self._limit:
            self._handle = None
            self._content.set_exception(aiohttp.SocketTimeoutError("Timeout on reading data from socket"))
            return
        self._handle = self._loop.call_at((now if since is None else since) + self._limit, self._check)


def watch_silence(resp: aiohttp.ClientResponse, limit_s: float) -> SilenceWatch:
    """Take the read timeout of ``resp``'s body over from aiohttp (which re-arms a timer per
    read): its connection stops timing reads, and the returned watch times the waits instead."""
    conn = resp.connection
    if conn is not None and conn.protocol is not None:
        conn.protocol.read_timeout = None
        conn.protocol.start_timeout()  # with no timeout: drops the timer armed by the last read
    return SilenceWatch(resp.content, limit_s, asyncio.get_running_loop())
