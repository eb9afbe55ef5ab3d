"""The request path's spans (tracing on): a ``RequestRecord`` that also traces.

Imported only when ``tracing`` is configured (it imports OpenTelemetry through
``specgate.ops.tracing``). The spans:

* one SERVER span per request, continuing the client's W3C ``traceparent``: route, method,
  status, request id, the principal's ``key_id`` (an opaque id, never a key), the model asked
  for and the usage (``gen_ai.*``), retries and fallbacks;
* a CLIENT child per upstream attempt: provider, ``gen_ai.system`` (the provider type), the
  models, the attempt number within the route, the route's position in the fallback chain and
  the reason the previous attempt was retried; the attempt's ``traceparent`` goes upstream. The
  attempt that serves the call lives until the answer is complete (a stream's last event) and
  carries its usage;
* for a background job or a batch item, an INTERNAL root of its own trace, linked to the
  request that submitted it, with the same attempt children.

Prompts and completions never become attributes, unless ``logging.log_bodies`` is on (then the
request log's bodies are put on the server span too).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from starlette.types import Scope

from specgate.ops.metrics import Metrics
from specgate.ops.tracing import Link, Shared, Span, Tracing
from specgate.wire.record import RequestRecord

BODY_ATTRIBUTE_LIMIT = 16 * 1024
_CARRIED = (b"traceparent", b"tracestate")
_NAME = itemgetter(0)  # of an ASGI header pair
_USAGE_ATTRIBUTES = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation": "gen_ai.usage.cache_creation.input_tokens",
}
_ALWAYS_COUNTED = ("input", "output")  # cache tokens only when used


def _carrier(scope: Scope) -> dict[str, str]:
    """The client's ``traceparent`` and ``tracestate``; most requests have none, which is found
    without a Python step per header (``in`` over a ``map``)."""
    carrier: dict[str, str] = {}
    headers = scope.get("headers") or ()
    if b"traceparent" in map(_NAME, headers):
        for name, value in headers:
            if name in _CARRIED:
                carrier[name.decode()] = value.decode("latin-1")
    return carrier


class TracedRecord(RequestRecord):
    """A request's (or a background call's) record whose upstream attempts are child spans of ``span``.

    Only attributes that say something are sent (retries and fallbacks when there were any, cache
    tokens when used). Those alike across many spans are ``Shared`` and encoded once: an attempt's
    route (provider, system, models, route index) and a request's method, route, status, key id,
    model and provider; a span's own are what differs (request id, attempt number, usage, errors).
    This runs on every traced request, so it is written for few Python steps."""

    def __init__(self, metrics: Metrics, tracing: Tracing, span: Span) -> None:
        super().__init__(metrics)
        self.tracing = tracing
        self.span = span
        self._attempt: Span | None = None  # the attempt in flight, or the one that served the call
        self._shared: Shared | None = None  # the current route's attributes, alike on each attempt
        self._attempt_name = ""
        self._number = 0  # attempt within the current route
        self._route = 0  # position of the current route in the fallback chain

    @property
    def span_context(self) -> Link | None:
        """What background work this request submits links to (None when the request is not sampled)."""
        return self.span.link

    # -- attempts

    def attempting(self, provider: str, system: str, model: str, upstream_model: str) -> None:
        if self._attempt is not None:
            self._end_attempt()
        self._route += 1
        self._number = 1
        key = (provider, system, model[:200], upstream_model[:200], self._route)
        self._shared = shared = self.tracing.shared(key, self._route_attributes)
        self._attempt_name = name = f"chat {key[3]}"
        self._attempt = self.tracing.child(self.span, name, {"specgate.attempt": 1}, shared)

    @staticmethod
    def _route_attributes(key: tuple[Any, ...]) -> dict[str, Any]:
        """What every attempt on this route says alike (``Shared``: encoded once)."""
        provider, system, model, upstream_model, route = key
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": system,
            "gen_ai.request.model": model,
            "gen_ai.response.model": upstream_model,
            "specgate.provider": provider,
        }
        if route > 1:
            attributes["specgate.route_index"] = route
        return attributes

    def _open_attempt(self, retry_reason: str) -> None:
        self._number += 1
        attributes = {"specgate.attempt": self._number, "specgate.retry_reason": retry_reason}
        self._attempt = self.tracing.child(self.span, self._attempt_name, attributes, self._shared)

    def _end_attempt(self, error_type: str | None = None, extra: dict[str, Any] | None = None) -> None:
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return
        if extra:
            attempt.set_attributes(extra)
        if error_type is not None:
            attempt.fail(error_type)
        attempt.end()

    def trace_headers(self) -> dict[str, str]:
        return (self._attempt if self._attempt is not None else self.span).traceparent()

    def retried(self, provider: str, reason: str) -> None:
        super().retried(provider, reason)
        self._end_attempt(reason)
        self._open_attempt(reason)

    def budget_refused(self, provider: str, what: str) -> None:
        if self._attempt is not None:  # the attempt that failed: its span ends with the failure
            self._attempt.set_attribute("specgate.retry_budget_refused", what)

    def failed(self, provider: str, reason: str, *, fallback: bool) -> None:
        super().failed(provider, reason, fallback=fallback)
        self._end_attempt(reason, {"specgate.fallback": fallback})

    # -- the end

    def _finish_span(self, error_type: str | None) -> None:
        """End the attempt that served the call (done with the answer) and the span, with usage."""
        span, attempt, self._attempt = self.span, self._attempt, None
        if span.sink is None:  # not sampled (nor are its attempts), or already ended
            return
        attributes = span.attributes  # written in place: the span is recorded
        if self.tokens:
            usage = {
                _USAGE_ATTRIBUTES[kind]: value
                for kind, value in self.tokens.items()
                if value or kind in _ALWAYS_COUNTED
            }
            if attempt is not None:
                attempt.attributes.update(usage)
            attributes.update(usage)
        if attempt is not None:
            attempt.end()
        if self.retries:
            attributes["specgate.retries"] = self.retries
        if self.fallbacks:
            attributes["specgate.fallbacks"] = self.fallbacks
        if self.provider is not None and span.shared is None:  # a request's is shared (``ended``)
            attributes["specgate.provider"] = self.provider
        if error_type is not None:
            span.fail(error_type)
        span.end()

    def ended(
        self,
        status: int,
        method: str,
        route: str,
        request_id: str | None,
        key_id: str,
        model: str | None,
        bodies: tuple[Any, str] | None = None,
    ) -> None:
        span = self.span
        if span.sink is not None:
            span.name = f"{method} {route}"
            key = (method, route, status, key_id, model, self.provider)
            span.shared = self.tracing.shared(key, self._request_attributes)
            attributes = span.attributes
            if request_id is not None:
                attributes["specgate.request_id"] = request_id
            if bodies is not None and self.tracing.log_bodies:
                attributes["specgate.request_body"] = str(bodies[0])[:BODY_ATTRIBUTE_LIMIT]
                attributes["specgate.response_body"] = bodies[1][:BODY_ATTRIBUTE_LIMIT]
        self._finish_span(str(status) if status >= 500 else None)

    @staticmethod
    def _request_attributes(key: tuple[Any, ...]) -> dict[str, Any]:
        """What every request alike in these says (``Shared``: encoded once)."""
        method, route, status, key_id, model, provider = key
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "specgate.key_id": key_id,
        }
        if model is not None:
            attributes["gen_ai.request.model"] = model
        if provider is not None:
            attributes["specgate.provider"] = provider
        return attributes

    def ended_background(self, error_type: str | None) -> None:
        self._finish_span(error_type)


def server_record(tracing: Tracing, metrics: Metrics, scope: Scope) -> TracedRecord:
    return TracedRecord(metrics, tracing, tracing.server(f"{scope.get('method')} request", _carrier(scope)))


def background_record(
    tracing: Tracing, metrics: Metrics, name: str, link: Link | None, attributes: dict[str, Any]
) -> TracedRecord:
    span = tracing.background(name, [link] if link is not None else [], attributes)
    return TracedRecord(metrics, tracing, span)


def link_of(observer: object) -> Link | None:
    """The span a background call is linked to: its submitting request's."""
    return observer.span_context if isinstance(observer, TracedRecord) else None
