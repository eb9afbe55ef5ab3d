"""Shared HTTP transport for upstream providers: one pooled session, deadlines, retries, keys.

``UpstreamClient`` owns one keep-alive ``aiohttp.ClientSession`` per provider (create it inside
the running event loop; close it with ``aclose``). Every call is bounded by a deadline
(``CallContext.deadline`` if sooner, else now + ``ProviderConfig.timeout_s``) covering all
attempts. Connection errors, timeouts, 408, 409, 429, 5xx and 529 are retried with exponential
backoff and jitter, honouring ``retry-after-ms`` then ``retry-after`` and ``x-should-retry``; a
wait that would overrun the deadline is not started. A stream is retried only until its
response status is known: once ``stream_lines`` has yielded anything, errors are raised.
Keys rotate round-robin; a key answered with 401/403/429 sits out ``key_cooldown_s``.
What the client is told about a failure is decided by ``providers.faults.map_fault``; the full
detail is logged (at warning when the call gives up) with the gateway's request id.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from providers.base import CallObserver
from providers.faults import Answer, ErrorParser, Fault, Malformed, map_fault
from specgate.core.config import ProviderConfig
from specgate.core.errors import is_retryable_status
from specgate.core.responses import UPSTREAM_REQUEST_ID_HEADER, header_safe

log = logging.getLogger(__name__)

AuthHeaders = Callable[[str], dict[str, str]]

_KEY_FAILURE_STATUSES = (401, 403, 429)


class KeyPool:
    """Round-robin API keys; a key that failed auth or was rate limited cools down for a while.

    If every key is cooling down, the one whose cool-down ends first is used anyway."""

    def __init__(self, keys: Sequence[str], cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = tuple(keys)
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._until: dict[str, float] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._keys)

    def pick(self) -> str | None:
        if not self._keys:
            return None
        now = self._clock()
        count = len(self._keys)
        for step in range(count):
            key = self._keys[(self._next + step) % count]
            if self._until.get(key, 0.0) <= now:
                self._next = (self._next + step + 1) % count
                return key
        return min(self._keys, key=lambda k: self._until.get(k, 0.0))

    def cool_down(self, key: str) -> None:
        self._until[key] = self._clock() + self._cooldown_s

    def has_fresh_key(self) -> bool:
        now = self._clock()
        return any(self._until.get(k, 0.0) <= now for k in self._keys)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Failed(Exception):
    """One failed attempt: the fault to report if we give up, and how to retry."""

    def __init__(self, fault: Fault, retryable: bool, wait_s: float | None = None, *, reason: str) -> None:
        super().__init__(fault.detail)
        self.fault = fault
        self.retryable = retryable
        self.wait_s = wait_s
        self.reason = reason  # bounded, for metrics: timeout, connection or the HTTP status


class UpstreamClient:
    def __init__(self, config: ProviderConfig, *, auth: AuthHeaders, parse_error: ErrorParser) -> None:
        self._config = config
        self._auth = auth
        self._parse_error = parse_error
        self._keys = KeyPool(config.api_keys, config.key_cooldown_s)
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
    ) -> UpstreamResponse:
        """POST and read the whole 2xx response (retrying as described above)."""
        resp = await self._send(url, body, headers, deadline, read_body=True, observer=observer, request_id=request_id)
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
    ) -> AsyncGenerator[tuple[bytes, Mapping[str, str]]]:
        """POST and yield the 2xx body line by line (without the line ending) as it arrives,
        each with the response headers. Cancelling or closing the generator closes the response."""
        resp = await self._send(url, body, headers, deadline, read_body=False, observer=observer, request_id=request_id)
        complete = False
        try:
            buffer = b""
            try:
                async for data in resp.content.iter_any():
                    buffer += data
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        yield line.removesuffix(b"\r"), resp.headers
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
            if buffer:
                yield buffer.removesuffix(b"\r"), resp.headers
            complete = True
        finally:
            if complete:
                resp.release()
            else:
                resp.close()

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
        request_id: str | None = None,
    ) -> aiohttp.ClientResponse:
        attempt = 0
        while True:
            key = self._keys.pick()
            try:
                return await self._attempt(url, body, headers, deadline, key, read_body, observer)
            except _Failed as failure:
                attempt += 1
                wait = failure.wait_s if failure.wait_s is not None else self._backoff(attempt)
                gives_up = not failure.retryable or attempt > self._config.max_retries
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
    ) -> aiohttp.ClientResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(map_fault(self._config.name, TimeoutError()), retryable=False, reason="timeout")
        timeout = aiohttp.ClientTimeout(
            total=remaining,
            connect=min(self._config.connect_timeout_s, remaining),
            sock_read=self._config.read_timeout_s,
        )
        all_headers = {**headers, **(self._auth(key) if key is not None else {})}
        if observer is not None:
            all_headers.update(observer.trace_headers())  # traceparent: this attempt's span
        try:
            resp = await self._session.post(url, data=body, headers=all_headers, timeout=timeout)
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
        should = resp.headers.get("x-should-retry", "").lower()
        if should in ("true", "false"):
            retryable = should == "true"
        raise _Failed(fault, retryable, retry_after_s(resp.headers), reason=str(status))


_REQUEST_ID_NAMES = ("request-id", "x-request-id")


def upstream_request_id(headers: Mapping[str, str]) -> str | None:
    """The upstream's own request id (Anthropic ``request-id``, OpenAI ``x-request-id``), if it is a
    short printable-ASCII token that is safe to repeat in a response header."""
    for name in _REQUEST_ID_NAMES:
        value = headers.get(name)
        if value and header_safe(value):
            return value
    return None


def note_upstream(ctx_headers: dict[str, str], headers: Mapping[str, str]) -> None:
    """Record the upstream request id for the client's response headers."""
    rid = upstream_request_id(headers)
    if rid is not None:
        ctx_headers[UPSTREAM_REQUEST_ID_HEADER] = rid


def forwardable_headers(headers: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """Copy the named response headers that are present (case-insensitive lookups)."""
    return {name: headers[name] for name in names if name in headers}


def load_json_object(raw: bytes, what: str, *, provider: str, request_id: str | None) -> dict[str, Any]:
    """Parse an upstream body that must be a JSON object; anything else is an ApiError naming the
    provider (the body itself goes to the log only)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
        reason = "not JSON"
    else:
        reason = "not a JSON object"
    if isinstance(value, dict):
        return value
    fault = map_fault(provider, Malformed(what, raw, reason))
    fault.log(request_id)
    raise fault.error
