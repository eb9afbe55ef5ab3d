"""uvicorn's httptools protocol with the bounds uvicorn lacks, and Anthropic-shaped parser errors.

uvicorn (0.54) bounds idle keep-alive connections (``timeout_keep_alive``) and, with
``limit_concurrency``, answers 503 once too many requests are open -- but a connection that
dribbles its request head a byte at a time is held forever, and nothing caps open connections
below the file-descriptor limit. ``GuardedHttpToolsProtocol`` adds, per connection:

* **a head deadline** -- the request line and headers must arrive within ``header_timeout_s``
  of the connection opening (or of a keep-alive request's first byte); else ``408 timeout_error``
  and the connection is closed. Bodies and responses are not timed here (handlers and streams are
  bounded elsewhere).
* **a head size bound** -- more than ``MAX_HEAD_BYTES`` before the headers end: ``431``, closed.
* **a connection bound** -- past ``max_connections`` open connections in this process a new one
  gets ``529 overloaded_error`` (which the SDKs retry) and is closed.
* **parser errors in Anthropic's shape** -- what httptools refuses (a bad ``Content-Length``, a
  control character in a header, broken chunked framing) gets ``400 invalid_request_error``
  with a request id instead of uvicorn's plain-text ``Invalid HTTP request received.``

And one saving: uvicorn writes a response's head, its body and every streamed event with a
``transport.write`` each (a syscall each; on loopback each runs the peer's receive path too).
``HeadHeld`` gives each request's cycle a view of the transport that holds what is written during
one event-loop pass and sends it with one ``writelines`` as soon as the response is complete (head
and body of a JSON answer together, before the app's work after its response runs) or at the end
of the pass (a stream's head and first events; later events as they arrive). The
protocol flushes that view before it writes or closes anything itself. And one ``Hangup`` per
request in its scope (``specgate.wire.disconnect``), fired when the connection is lost before the
response is complete: a waiting call or stream is cancelled from here, with no watcher task.

Each is a JSON error body built by ``specgate.core.responses.error_parts``, written straight to the
transport (there is no request to hand the app), with ``connection: close``. The settings come
from ``server.header_timeout_s`` and ``server.max_connections``: ``specgate serve`` puts them in
``$SPECGATE_SERVING`` for its workers (uvicorn builds protocols from a class name).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from dataclasses import asdict, dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from specgate.core.errors import (
    GatewayError,
    HeadersTooLargeError,
    InvalidRequestError,
    OverloadedError,
    RequestTimeoutError,
)
from specgate.core.responses import JSON, error_parts
from specgate.core.scope import STATE_KEY
from specgate.wire.disconnect import HANGUP_KEY, Hangup

ENV = "SPECGATE_SERVING"
PROTOCOL = "specgate.wire.serving:GuardedHttpToolsProtocol"  # uvicorn's ``http=``
MAX_HEAD_BYTES = 64 * 1024  # request line + headers
_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large", 529: b"Overloaded"}
log = logging.getLogger("specgate")


@dataclass(frozen=True, slots=True)
class ServingLimits:
    header_timeout_s: float = 10.0
    max_connections: int = 1000
    shutdown_grace_s: float = 10.0  # open streams are ended this long after shutdown begins

    def to_env(self) -> str:
        return json.dumps(asdict(self))


@functools.cache
def limits_from_env() -> ServingLimits:
    """This process's limits (read once: ``$SPECGATE_SERVING``, else the defaults)."""
    raw = os.environ.get(ENV)
    return ServingLimits(**json.loads(raw)) if raw else ServingLimits()


def error_bytes(error: GatewayError) -> bytes:
    """A whole HTTP/1.1 response carrying ``error`` in Anthropic's shape, closing the connection."""
    from specgate.core.scope import new_request_id

    status, body, headers = error_parts(error, new_request_id())
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error"))]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    lines += [b"content-type: " + JSON.encode(), b"content-length: %d" % len(body), b"connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class HeadHeld:
    """One request's view of the connection's transport until its first bytes are out: what the
    response writes during its first event-loop pass (its head and body; a stream's head and
    first events) is held and sent in one ``writelines`` when the response completes (the
    protocol's ``on_response_complete``) or at the end of that pass, whichever comes first. Then the
    response writes to the transport itself: a stream's later events arrive one upstream read at
    a time, and holding each of them for a pass cost more (a callback and a loop pass, ~6,700
    instructions an event) than the write it could have saved. Nothing waits past the pass, so
    no first byte is late."""

    __slots__ = ("_cycle", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, cycle: Any) -> None:
        self._transport = transport
        self._loop = loop
        self._cycle = cycle  # uvicorn's RequestResponseCycle: its ``transport`` is this view, then the transport
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = [data]
            self._loop.call_soon(self.flush)
        else:
            held.append(data)

    def flush(self) -> None:
        held = self._held
        if self._cycle is not None:
            self._cycle.transport = self._transport  # from now on the response writes directly
            self._cycle = None
        if held is not None:
            self._held = None
            if self._transport.is_closing():
                return
            if len(held) == 1:
                self._transport.write(held[0])
            else:
                self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits_from_env()
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # received of the request head being awaited
        self._in_head = True  # between a request's first byte (or the connection) and its headers' end
        self._view: HeadHeld | None = None  # the current cycle's view of the transport

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._limits.max_connections:
            log.warning("refusing a connection: %d open (server.max_connections)", len(self.connections) - 1)
            self._refuse(OverloadedError("Too many open connections; retry shortly"))
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and cycle.disconnected:  # lost before its response was complete
            hangup = cycle.scope.get(HANGUP_KEY)
            if isinstance(hangup, Hangup):
                hangup.fire()

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_bytes + len(data) > MAX_HEAD_BYTES:
            # The bound is on the head only: a read often carries the head and the body's start,
            # so the parser gets what still fits first and tells whether the head ended in it.
            room = MAX_HEAD_BYTES - self._head_bytes
            if room > 0:
                self._head_bytes += room
                super().data_received(data[:room])
            if self._in_head:
                self._refuse(HeadersTooLargeError(f"The request line and headers exceed {MAX_HEAD_BYTES} bytes"))
                return
            if not self.transport.is_closing():
                super().data_received(data[room:])
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        if self._head_timer is None:  # a keep-alive connection's next request
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        self._head_bytes = 0
        previous = self.cycle
        self.scope[HANGUP_KEY] = Hangup()  # type: ignore[literal-required]
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:  # its task has not run yet
            self._flush_view()  # a previous (pipelined) response's bytes go first
            self._view = HeadHeld(self.transport, self.loop, self.cycle)
            self.cycle.transport = self._view  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        """The response's last bytes were handed over: send what is held now, not at the end of
        the pass, which would first run the app's work after the response (the middleware's
        observation, metrics and access record) and make the client wait for it."""
        self._flush_view()
        super().on_response_complete()

    def _flush_view(self) -> None:
        if self._view is not None:
            self._view.flush()

    def shutdown(self) -> None:
        """uvicorn's shutdown asks each open connection to finish: the grace clock starts for
        streams, and what this connection holds back (``HeadHeld``) goes out first."""
        gateway = self.app_state.get(STATE_KEY)  # the app's, once its lifespan has built it
        if gateway is not None:
            gateway.drain.begin(self._limits.shutdown_grace_s)
        self._flush_view()
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        """httptools refused the bytes (uvicorn logs ``msg`` at warning level)."""
        self._refuse(
            InvalidRequestError(
                "Malformed HTTP request: the request line, a header (a control character, an invalid "
                "Content-Length) or the chunked body framing could not be parsed"
            )
        )

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _responding(self) -> bool:
        """A response is being written (a pipelined request's head arrives meanwhile)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._responding():  # the client may wait for that response first: look again later
            self._arm()
            return
        seconds = f"{self._limits.header_timeout_s:g}"
        self._refuse(RequestTimeoutError(f"The request headers did not arrive within {seconds} s"))

    def _refuse(self, error: GatewayError) -> None:
        self._disarm()
        self._in_head = False
        self._flush_view()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:  # never mid-response
            self.transport.write(error_bytes(error))
        self.transport.close()
