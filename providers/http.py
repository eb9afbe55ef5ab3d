"""Shared HTTP transport for upstream providers: one pooled session, deadlines, retries, keys.

``UpstreamClient`` owns one keep-alive ``aiohttp.ClientSession`` per provider (create it inside
the running event loop; close it with ``aclose``). Every call is bounded by a deadline
(``CallContext.deadline`` if sooner, else now + ``ProviderConfig.timeout_s``) covering all
attempts; ``read_timeout_s`` (the longest silence) applies to streams only: aiohttp's
``sock_read`` for the head, ``providers.silence`` for the body. Connection errors,
timeouts, 408, 409, 429, 5xx and 529 are retried with exponential backoff and jitter, honouring
``retry-after-ms`` then ``retry-after``, ``x-should-retry`` and the request's retry budget
(``providers.budget``); an answer that says the upstream already retried it
(``upstream_retried``) is not retried here. A wait that would overrun the deadline is not
started. A stream is retried only until its response status is known: once ``stream_lines`` has
yielded anything, errors are raised. A stream request answered with a JSON body raises
``JsonAnswer`` (the provider turns it into events); any other non-SSE type is a 502.
The outgoing headers and the proxy are ``providers.outbound``'s; each attempt adds the
observer's ``trace_headers()`` (its span's ``traceparent``), then ``sign`` completes them (Bedrock's
SigV4, Vertex's bearer token). With ``reauth``, an attempt answered 401 calls it (with the headers
it sent) and is made once more at once, outside ``max_retries`` (a token revoked before expiry).
Keys rotate round-robin; a key answered with 401/403/429 sits out ``key_cooldown_s``.
What the client is told about a failure is decided by ``providers.faults.map_fault``; the full
detail is logged (at warning when the call gives up) with the gateway's request id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import TypeVar

import aiohttp

from providers.answers import upstream_request_id
from providers.base import CallContext, CallObserver
from providers.faults import Answer, ErrorParser, Fault, map_fault
from providers.outbound import Outbound
from providers.retrypolicy import KeyPool, retry_after_s, should_retry
from providers.silence import SilenceWatch, watch_silence
from providers.streaming import JsonAnswer, Reads, StreamDecoder, check_stream_type
from specgate.core.config import ProviderConfig
from specgate.core.errors import is_retryable_status
from specgate.core.records import record

T = TypeVar("T")

log = logging.getLogger(__name__)

AuthHeaders = Callable[[str], dict[str, str]]
# (url, body, headers, request id) -> the headers as sent: Bedrock's SigV4, applied to each attempt's final headers
Signer = Callable[[str, bytes, Mapping[str, str], str], Awaitable[dict[str, str]]]
Reauth = Callable[[Mapping[str, str], str], Awaitable[None]]  # (the refused attempt's headers, request id)

_KEY_FAILURE_STATUSES = (401, 403, 429)


@record
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Failed(Exception):
    """One failed attempt: the fault to report if we give up, and how to retry."""

    def __init__(
        self, fault: Fault, retryable: bool, wait_s: float | None = None, *, reason: str, sent: Mapping[str, str] = {}
    ) -> None:
        super().__init__(fault.detail)
        self.fault = fault
        self.retryable = retryable
        self.wait_s = wait_s
        self.reason = reason  # bounded, for metrics: timeout, connection or the HTTP status
        self.sent = sent  # the headers of an attempt the upstream answered


class UpstreamClient:
    def __init__(
        self,
        config: ProviderConfig,
        *,
        auth: AuthHeaders,
        parse_error: ErrorParser,
        sign: Signer | None = None,
        reauth: Reauth | None = None,
    ) -> None:
        self._config = config
        self._auth = auth
        self._sign = sign
        self._reauth = reauth
        self._parse_error = parse_error
        self._keys = KeyPool(config.api_keys, config.key_cooldown_s)
        self._outbound = Outbound(config)
        limit = int(config.options.get("max_connections", 100))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, keepalive_timeout=30.0),
            raise_for_status=False,
            trust_env=False,
            # One session serves every client: an upstream's Set-Cookie must never ride along on
            # another client's request (and no jar means no cookie work per request).
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    @property
    def keys(self) -> KeyPool:
        return self._keys

    async def aclose(self) -> None:
        await self._session.close()

    def deadline(self, ctx_deadline: float | None) -> float:
        own = time.monotonic() + self._config.timeout_s
        return own if ctx_deadline is None else min(own, ctx_deadline)

    async def request(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        observer: CallObserver | None = None,
        *,
        request_id: str | None = None,
        ctx: CallContext | None = None,
    ) -> UpstreamResponse:
        """POST and read the whole 2xx response (retrying as described above); ``ctx``: the
        client's headers (for ``forward_headers``) and the request's retry budget."""
        resp = await self._send(
            url, body, headers, deadline, read_body=True, observer=observer, ctx=ctx, rid=request_id
        )
        try:
            return UpstreamResponse(resp.status, resp.headers, await resp.read())
        finally:
            resp.release()

    async def stream_lines(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        observer: CallObserver | None = None,
        *,
        request_id: str | None = None,
        ctx: CallContext | None = None,
    ) -> AsyncGenerator[tuple[bytes, Mapping[str, str]]]:
        """POST and yield the 2xx body line by line (without the line ending) as it arrives,
        each with the response headers. Cancelling or closing the generator closes the response.
        A JSON body raises ``JsonAnswer`` before any line; another type that is not
        ``text/event-stream`` (a missing one is taken as SSE) is a 502 naming it."""
        chunks = self._chunks(url, body, headers, deadline, observer, request_id, ctx, check_type=True)
        buffer = b""
        resp_headers: Mapping[str, str] = {}
        async with aclosing(chunks):
            async for data, resp_headers in chunks:
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    yield line.removesuffix(b"\r"), resp_headers
        if buffer:
            yield buffer.removesuffix(b"\r"), resp_headers

    def stream_chunks(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        observer: CallObserver | None = None,
        *,
        request_id: str | None = None,
        ctx: CallContext | None = None,
        sse: bool = False,
    ) -> AsyncGenerator[tuple[bytes, Mapping[str, str]]]:
        """POST and yield the 2xx body as raw byte chunks as they arrive, each with the response
        headers; retries and faults as ``stream_lines``. ``sse``: its content types (and JSON
        answers) are checked as ``stream_lines`` does; else any is accepted (AWS event streams)."""
        return self._chunks(url, body, headers, deadline, observer, request_id, ctx, check_type=sse)

    def stream_decoded(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        decoder: StreamDecoder[T],
        observer: CallObserver | None = None,
        *,
        request_id: str | None = None,
        ctx: CallContext | None = None,
    ) -> AsyncGenerator[T]:
        """POST and yield what ``decoder`` makes of the 2xx event stream as it arrives (retries,
        faults, content types as ``stream_chunks(sse=True)``), with no generator step between."""
        return self._decoded(url, body, headers, deadline, observer, request_id, ctx, decoder)

    async def _decoded(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        observer: CallObserver | None,
        request_id: str | None,
        ctx: CallContext | None,
        decoder: StreamDecoder[T],
        *,
        check_type: bool = True,
    ) -> AsyncGenerator[T]:
        resp = await self._send(
            url, body, headers, deadline, read_body=False, observer=observer, ctx=ctx, rid=request_id
        )
        complete = False
        watch: SilenceWatch | None = None
        try:
            try:
                if check_type:
                    await check_stream_type(resp, self._config.name, request_id)
            except JsonAnswer as answer:
                for item in decoder.answer(answer):
                    yield item
                return
            content = resp.content
            resp_headers = resp.headers
            feed = decoder.feed
            watch = watch_silence(resp, self._config.read_timeout_s)
            clock = watch.clock
            try:
                while True:
                    watch.since = clock()  # waiting for the peer
                    data = await content.readany()
                    watch.since = None
                    if not data:
                        break
                    for item in feed(data, resp_headers):
                        yield item
                    if decoder.failure is not None:
                        raise decoder.failure
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                fault = map_fault(
                    self._config.name,
                    exc,
                    phase="stream",
                    upstream_status=resp.status,
                    upstream_request_id=upstream_request_id(resp.headers),
                )
                fault.log(request_id)
                raise fault.error from exc
            complete = True  # the whole body was read: the connection can be reused
            for item in decoder.end():
                yield item
            if decoder.failure is not None:
                raise decoder.failure
        finally:
            if watch is not None:
                watch.cancel()
            if complete:
                resp.release()
            else:
                resp.close()

    def _chunks(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        observer: CallObserver | None,
        request_id: str | None,
        ctx: CallContext | None,
        *,
        check_type: bool,
    ) -> AsyncGenerator[tuple[bytes, Mapping[str, str]]]:
        return self._decoded(url, body, headers, deadline, observer, request_id, ctx, Reads(), check_type=check_type)

    # -- the retry loop

    async def _send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        *,
        read_body: bool,
        observer: CallObserver | None = None,
        ctx: CallContext | None = None,
        rid: str | None = None,
    ) -> aiohttp.ClientResponse:
        request_id = rid if rid is not None else ctx.request_id if ctx is not None else None
        budget = ctx.budget if ctx is not None else None
        headers = self._outbound.headers(headers, ctx.client_headers if ctx is not None else None)
        proxy = self._outbound.proxy_for(url)
        attempt = 0
        reauth = self._reauth  # once per call
        while True:
            key = self._keys.pick()
            if budget is not None:
                budget.spend()
            try:
                return await self._attempt(url, body, headers, deadline, key, read_body, observer, proxy, request_id)
            except _Failed as failure:
                if budget is not None:
                    budget.failed()
                if failure.reason == "401" and reauth is not None and (budget is None or budget.allows_retry(0.0)):
                    log.info("request %s: upstream %s refused the credentials (401); renewing them", request_id, url)
                    await reauth(failure.sent, request_id or "")
                    reauth = None
                    if observer is not None:
                        observer.retried(self._config.name, failure.reason)
                    continue
                attempt += 1
                wait = failure.wait_s if failure.wait_s is not None else self._backoff(attempt)
                gives_up = not failure.retryable or attempt > self._config.max_retries
                if not gives_up and budget is not None and not budget.allows_retry(wait):
                    log.info("request %s: retry budget spent (%s); not retrying", request_id, budget.describe())
                    if observer is not None:
                        observer.budget_refused(self._config.name, "retry")
                    gives_up = True
                if gives_up or time.monotonic() + wait >= deadline:
                    failure.fault.log(request_id)
                    raise failure.fault.error from None
                log.info(
                    "request %s: upstream %s attempt %d failed (%s); retrying in %.2fs",
                    request_id,
                    url,
                    attempt,
                    failure.fault.detail,
                    wait,
                )
                if observer is not None:
                    observer.retried(self._config.name, failure.reason)
                await asyncio.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        base: float = min(self._config.retry_backoff_s * 2.0 ** (attempt - 1), self._config.retry_backoff_max_s)
        return base * (1.0 - 0.25 * random.random())

    async def _attempt(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: float,
        key: str | None,
        read_body: bool,
        observer: CallObserver | None = None,
        proxy: str | None = None,
        request_id: str | None = None,
    ) -> aiohttp.ClientResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(map_fault(self._config.name, TimeoutError()), retryable=False, reason="timeout")
        timeout = aiohttp.ClientTimeout(
            total=remaining,
            connect=min(self._config.connect_timeout_s, remaining),
            # the longest silence before a stream's head (its body's is providers.silence's); a whole
            # answer has until the deadline
            sock_read=None if read_body else self._config.read_timeout_s,
        )
        all_headers = {**headers, **(self._auth(key) if key is not None else {})}
        if observer is not None:
            all_headers.update(observer.trace_headers())  # traceparent: this attempt's span
        if self._sign is not None:  # last, per attempt (botocore itself leaves trace headers unsigned)
            all_headers = await self._sign(url, body, all_headers, request_id or "")
        try:
            resp = await self._session.post(url, data=body, headers=all_headers, timeout=timeout, proxy=proxy)
            if 200 <= resp.status < 300:
                if read_body:
                    try:
                        await resp.read()  # read inside the attempt so a cut body is retried
                    except BaseException:
                        resp.close()
                        raise
                return resp
            try:
                raw = await resp.read()
            finally:
                resp.release()
        except TimeoutError as exc:
            raise _Failed(map_fault(self._config.name, exc), retryable=True, reason="timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise _Failed(map_fault(self._config.name, exc), retryable=True, reason="connection") from exc

        status = resp.status
        if key is not None and status in _KEY_FAILURE_STATUSES:
            self._keys.cool_down(key)
        fault = map_fault(
            self._config.name,
            Answer(status, resp.headers, raw),
            self._parse_error,
            upstream_request_id=upstream_request_id(resp.headers),
        )
        retryable = is_retryable_status(status) or (
            status in (401, 403) and key is not None and self._keys.has_fresh_key()
        )
        retryable = should_retry(status, resp.headers, default=retryable)
        raise _Failed(fault, retryable, retry_after_s(resp.headers), reason=str(status), sent=all_headers)
