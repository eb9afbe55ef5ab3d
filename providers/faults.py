"""Upstream faults as the client sees them, decided in one place: ``map_fault``.

A fault is a transport exception (aiohttp, a timeout, TLS), an upstream answer that is not 2xx,
or a 2xx body that is not what the provider documents. The client's error names the provider and
the kind of failure only: never a host:port, a library's exception text or an upstream body that
is not the provider's own error format. ``Fault.detail`` keeps all of that for the log
(``Fault.log``, with the gateway's request id and the upstream's).

Upstream statuses, as the client sees them::

    upstream                               client
    400/413/422, provider's error format   400 invalid_request_error / 413 request_too_large,
                                           the upstream's message (capped)
    401, 403 (the gateway's credentials)   502 api_error   "refused the gateway's credentials"
    404                                    502 api_error   "does not serve its API at the
                                                           configured base_url" (or model)
    408                                    504 timeout_error
    429                                    429 rate_limit_error (upstream's message if well-formed)
    5xx, 529                               the same status; the upstream's message if well-formed
    any other 4xx, or a foreign 4xx body   502 api_error   "answered HTTP N in a format it does
                                                           not document" / "rejected the
                                                           gateway's request"

Every 502/504 here is the route's fault, so a fallback route may be tried (``retryable``).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import aiohttp

from specgate.core.errors import ApiError, GatewayError, UpstreamError, error_type_for_status, is_retryable_status

log = logging.getLogger("providers.faults")

MAX_MESSAGE_CHARS = 1024  # an upstream's own error message is relayed up to this length
_DETAIL_BODY_BYTES = 500  # how much of an upstream body the log keeps

Phase = Literal["request", "stream"]


@dataclass(frozen=True, slots=True)
class ProviderError:
    """An error body in the provider's documented format; ``type``: its Anthropic error type,
    if the provider speaks Anthropic's types (None: derive it from the status)."""

    type: str | None
    message: str


ErrorParser = Callable[[bytes], ProviderError | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """An upstream HTTP answer that is not 2xx."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """A 2xx body (or stream event) that is not what the provider documents."""

    what: str  # "message body", "stream chunk", ...
    body: bytes
    reason: str  # "not JSON", "not a JSON object"


@dataclass(frozen=True, slots=True)
class Fault:
    provider: str
    error: GatewayError  # what the client gets
    detail: str  # what the log gets: statuses, exception text, the start of the body
    upstream_status: int | None = None
    upstream_request_id: str | None = None

    def log(self, request_id: str | None, level: int = logging.WARNING) -> None:
        fields = {
            "request_id": request_id,
            "provider": self.provider,
            "upstream_status": self.upstream_status,
            "upstream_request_id": self.upstream_request_id,
            "status": self.error.status_code,
            "error_type": self.error.type,
            "detail": self.detail,
        }
        log.log(
            level,
            "request %s: upstream %r failed: %s (upstream status %s, upstream request id %s): %s",
            request_id,
            self.provider,
            self.error.message,
            self.upstream_status,
            self.upstream_request_id,
            self.detail,
            extra={"fields": fields},
        )


def capped(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"


def body_start(raw: bytes) -> str:
    """The start of an upstream body, for the log only."""
    text = raw[:_DETAIL_BODY_BYTES].decode("utf-8", "replace")
    return repr(text + ("…" if len(raw) > _DETAIL_BODY_BYTES else ""))


def map_fault(
    provider: str,
    cause: BaseException | Answer | Malformed,
    parse: ErrorParser | None = None,
    *,
    phase: Phase = "request",
    upstream_status: int | None = None,
    upstream_request_id: str | None = None,
) -> Fault:
    """The client's error and the log's detail for one upstream fault of ``provider``.

    ``parse`` reads the provider's documented error format (an ``Answer``'s body);
    ``phase``: ``stream`` once a stream's body is being relayed, else ``request``;
    ``upstream_status``: the 2xx status of the answer that failed, for the log."""
    if isinstance(cause, Answer):
        return _answer_fault(provider, cause, parse, upstream_request_id)
    if isinstance(cause, Malformed):
        malformed = ApiError(f"upstream {provider!r} returned a malformed {cause.what} ({cause.reason})")
        return Fault(
            provider, malformed, f"{cause.what}: {body_start(cause.body)}", upstream_status, upstream_request_id
        )
    return Fault(
        provider,
        _transport_error(provider, cause, phase),
        _exception_detail(cause),
        upstream_status,
        upstream_request_id,
    )


def _answer_fault(provider: str, answer: Answer, parse: ErrorParser | None, rid: str | None) -> Fault:
    status = answer.status
    parsed = parse(answer.body) if parse is not None else None
    relayed = {k: answer.headers[k] for k in ("retry-after",) if k in answer.headers}
    if not is_retryable_status(status):
        relayed = {}
    name = repr(provider)

    def make(client_status: int, error_type: str, message: str, *, retryable: bool) -> UpstreamError:
        return UpstreamError(
            client_status, error_type, message, headers=relayed, upstream_request_id=rid, retryable=retryable
        )

    if status in (401, 403):
        error = make(
            502, "api_error", f"upstream {name} refused the gateway's credentials (HTTP {status})", retryable=True
        )
    elif status == 404:
        what = "the configured model or resource" if parsed else "its API at the configured base_url"
        verb = "does not know" if parsed else "does not serve"
        error = make(502, "api_error", f"upstream {name} {verb} {what} (HTTP 404)", retryable=True)
    elif status == 408:
        error = make(504, "timeout_error", f"upstream {name} timed out reading the request (HTTP 408)", retryable=True)
    elif status == 429:
        message = capped(parsed.message) if parsed else f"upstream {name} is rate limiting the gateway (HTTP 429)"
        error = make(429, "rate_limit_error", message, retryable=True)
    elif status >= 500:
        if parsed:
            error = make(status, parsed.type or error_type_for_status(status), capped(parsed.message), retryable=True)
        else:
            error = make(
                status, error_type_for_status(status), f"upstream {name} failed (HTTP {status})", retryable=True
            )
    elif parsed and status in (400, 422, 413):
        client_status = 413 if status == 413 else 400
        error = make(client_status, error_type_for_status(client_status), capped(parsed.message), retryable=False)
    elif parsed:
        error = make(
            502, "api_error", f"upstream {name} rejected the gateway's request (HTTP {status})", retryable=True
        )
    else:
        message = f"upstream {name} answered HTTP {status} in a format it does not document"
        error = make(502, "api_error", message, retryable=True)
    if parsed:
        detail = f"HTTP {status} {parsed.type or ''}: {parsed.message!r}"
    else:
        detail = f"HTTP {status} {answer.headers.get('content-type', '')}: {body_start(answer.body)}"
    return Fault(provider, error, detail, status, rid)


def _transport_error(provider: str, exc: BaseException, phase: Phase) -> GatewayError:
    name = repr(provider)
    if isinstance(exc, TimeoutError):
        if phase == "stream":
            return UpstreamError(504, "timeout_error", f"upstream {name} stream stalled or passed the deadline")
        return UpstreamError(504, "timeout_error", f"upstream {name} did not answer before the deadline")
    kind = _kind(exc)
    if phase == "stream":  # the stream's 200 is sent already: this becomes an event: error
        return ApiError(f"upstream {name} stream ended prematurely: {kind}")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.InvalidURL):
        return UpstreamError(502, "api_error", f"could not reach upstream {name} ({kind})")
    return UpstreamError(502, "api_error", f"upstream {name} failed: {kind}")


def _kind(exc: BaseException) -> str:
    """The kind of a transport failure, in words that carry no address and no library text."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError | ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name could not be resolved"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return "connection failed"
    if isinstance(exc, aiohttp.InvalidURL):
        return "the configured base_url is not a valid URL"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the connection was closed before the answer was complete"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut off or badly encoded"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the response was not valid HTTP"
    if isinstance(exc, ConnectionResetError | aiohttp.ClientOSError):
        return "the connection was reset"
    return "the connection failed"


def _exception_detail(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        parts.append(f"{type(cause).__name__}: {cause}")
    return " <- ".join(parts)
