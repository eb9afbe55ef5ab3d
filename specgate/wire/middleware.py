"""The outermost ASGI layer, and the only one of specgate's own around the app: request id and
``x-specgate-overhead-ms`` on every response, the body-size limit (413 before the body is read
whole; a chunked body is buffered up to the limit and given a Content-Length), the request's
observation (metrics and the access-log line, ``specgate.wire.observe``, 413s included), and a
last-resort handler so that nothing escapes as an empty 500 or a traceback.

One layer with one ``send`` wrapper, not one per concern: on a gateway whose own work is a few
hundred microseconds, every extra ASGI layer and send wrapper is a measurable share of it
(README, Performance)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specgate.core.errors import ApiError, GatewayError, InvalidRequestError, RequestTooLargeError
from specgate.core.responses import JSON, error_parts
from specgate.core.scope import REQUEST_ID_KEY, headers_of, new_request_id, scope_state
from specgate.wire.observe import BODY_LOG_LIMIT, ERROR_BODY_LIMIT, Observation
from specgate.wire.timing import OVERHEAD_HEADER, OVERHEAD_KEY, Overhead

log = logging.getLogger("specgate.http")


_FORM = b"application/x-www-form-urlencoded"


def _json_by_default(scope: Scope) -> None:
    """A body sent with no Content-Type, or with curl's default form type, is read as JSON
    (``curl -d '{...}'`` works as in the README); any other declared type is kept (-> 415)."""
    if scope.get("method") not in ("POST", "PUT", "PATCH"):
        return
    headers = scope["headers"]
    for i, (key, value) in enumerate(headers):
        if key == b"content-type":
            if value.split(b";")[0].strip().lower() == _FORM:
                headers[i] = (b"content-type", b"application/json")
            return
    scope["headers"] = [*headers, (b"content-type", b"application/json")]


DRAIN_MAX_BYTES = 256 * 1024 * 1024
DRAIN_MAX_SECONDS = 30.0


async def _drain(receive: Receive) -> None:
    """After a 413, read and discard the rest of the upload (bounded), so the client can read the
    answer instead of seeing its upload reset. Nothing is kept in memory."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_MAX_SECONDS
    seen = 0
    while seen < DRAIN_MAX_BYTES and loop.time() < deadline:
        try:
            message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.01))
        except (TimeoutError, OSError):
            return
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        envelope_paths: Callable[[], frozenset[str]],
        body_limits: Mapping[str, int] | None = None,
        routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.observation = Observation(routes)
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})  # path -> its own limit (e.g. message batches)
        self.envelope_paths = envelope_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        overhead = Overhead()
        request_id = new_request_id()
        state = scope_state(scope)
        state[REQUEST_ID_KEY] = request_id
        state[OVERHEAD_KEY] = overhead
        observed = self.observation.begin(scope)
        log_bodies = observed is not None and observed[0].config.log_bodies
        started = False
        status = 500
        captured: list[bytes] = []
        captured_size = 0
        limit = BODY_LOG_LIMIT if log_bodies else 0
        request_id_header = request_id.encode()

        async def wrapped_send(message: Message) -> None:
            nonlocal started, status, captured_size, limit
            kind = message["type"]
            if kind == "http.response.start":
                started = True
                status = int(message["status"])
                if status >= 400:  # the error body says why: read (a bounded part of) it
                    limit = max(limit, ERROR_BODY_LIMIT)
                headers = list(message.get("headers", ()))
                for key, _ in headers:  # a loop, not any(<generator>): no generator per response
                    if key.lower() == b"request-id":
                        break
                else:
                    headers.append((b"request-id", request_id_header))
                headers.append((OVERHEAD_HEADER, overhead.header_value()))
                message["headers"] = headers
            elif captured_size < limit and kind == "http.response.body":
                chunk = bytes(message.get("body", b""))[: limit - captured_size]
                captured.append(chunk)
                captured_size += len(chunk)
            await send(message)

        if observed is not None:
            observed[0].metrics.in_flight.inc()
        try:
            _json_by_default(scope)
            receive = await self._limit_body(scope, receive)
            await self.app(scope, receive, wrapped_send)
        except GatewayError as exc:
            if started:
                raise
            await self._send_error(scope, wrapped_send, exc, request_id)
            if isinstance(exc, RequestTooLargeError):
                await _drain(receive)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if not started:
                await self._send_error(scope, wrapped_send, ApiError(), request_id)
        finally:
            if observed is not None:
                gateway, record, context = observed
                gateway.metrics.in_flight.dec()
                head = b"".join(captured)
                self.observation.finish(scope, gateway, record, context, status, head if log_bodies else None, head)

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        limit = self.body_limits.get(scope.get("path", ""), self.max_body_bytes)
        headers = headers_of(scope)  # a repeated Content-Length is the parser's 400 (httptools)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise InvalidRequestError("Content-Length header is not a number") from None
            if size > limit:
                raise RequestTooLargeError(f"Request exceeds the maximum allowed number of bytes ({limit})")
            return receive
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            return receive
        # Chunked body without Content-Length: read it (bounded) so validation sees a normal body.
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                raise RequestTooLargeError(f"Request exceeds the maximum allowed number of bytes ({limit})")
            chunks.append(body)
            more = message.get("more_body", False)
        data = b"".join(chunks)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"transfer-encoding"] + [
            (b"content-length", str(len(data)).encode())
        ]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return replay

    async def _send_error(self, scope: Scope, send: Send, exc: GatewayError, request_id: str) -> None:
        envelope = scope.get("path", "") in self.envelope_paths()
        status, body, headers = error_parts(exc, request_id, envelope=envelope)
        raw_headers: list[Any] = [
            (b"content-type", JSON.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})
