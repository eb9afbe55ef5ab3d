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

from typing import Any

from starlette.types import Scope

from specgate.ops.metrics import Metrics
from specgate.ops.tracing import Link, Span, Tracing
from specgate.wire.record import RequestRecord

BODY_ATTRIBUTE_LIMIT = 16 * 1024
_USAGE_ATTRIBUTES = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "cache_creation": "gen_ai.usage.cache_creation.input_tokens",
}


def _carrier(scope: Scope) -> dict[str, str]:
    carrier: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        if name in (b"traceparent", b"tracestate"):
            carrier[name.decode()] = value.decode("latin-1")
    return carrier


class TracedRecord(RequestRecord):
    """A request's (or a background call's) record whose upstream attempts are child spans of ``span``.

    Attributes are gathered in dicts and set once per span (each ``set_attribute`` of the SDK
    takes a lock and validates), and only those that say something are sent (retries and
    fallbacks when there were any, cache tokens when used): every attribute is encoded again by
    the exporter, which is most of tracing's cost."""

    def __init__(self, metrics: Metrics, tracing: Tracing, span: Span) -> None:
        super().__init__(metrics)
        self.tracing = tracing
        self.span = span
        self._attempt: Span | None = None  # the attempt in flight, or the one that served the call
        self._attempt_attributes: dict[str, Any] = {}
        self._number = 0  # attempt within the current route
        self._route = 0  # position of the current route in the fallback chain

    @property
    def span_context(self) -> Link | None:
        """What background work this request submits links to (None when the request is not sampled)."""
        return self.span.link

    # -- attempts

    def attempting(self, provider: str, system: str, model: str, upstream_model: str) -> None:
        self._end_attempt()
        self._route += 1
        self._number = 0
        self._attempt_attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": system,
            "gen_ai.request.model": model[:200],
            "gen_ai.response.model": upstream_model[:200],
            "specgate.provider": provider,
        }
        if self._route > 1:
            self._attempt_attributes["specgate.route_index"] = self._route
        self._open_attempt(None)

    def _open_attempt(self, retry_reason: str | None) -> None:
        self._number += 1
        attributes = {**self._attempt_attributes, "specgate.attempt": self._number}
        if retry_reason is not None:
            attributes["specgate.retry_reason"] = retry_reason
        name = f"chat {self._attempt_attributes.get('gen_ai.response.model', '')}"
        self._attempt = self.tracing.child(self.span, name, attributes)

    def _end_attempt(self, error_type: str | None = None, extra: dict[str, Any] | None = None) -> None:
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return
        if extra:
            attempt.set_attributes(extra)
        if error_type is not None:
            self.tracing.failed(attempt, error_type)
        attempt.end()

    def trace_headers(self) -> dict[str, str]:
        return self.tracing.headers(self._attempt if self._attempt is not None else self.span)

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

    def _usage_attributes(self) -> dict[str, Any]:
        return {
            _USAGE_ATTRIBUTES[kind]: value
            for kind, value in self.tokens.items()
            if value or kind in ("input", "output")
        }

    def _finish_span(self, attributes: dict[str, Any], error_type: str | None) -> None:
        usage = self._usage_attributes()
        self._end_attempt(None, usage)  # the attempt that served the call: done with the answer
        attributes.update(usage)
        if self.retries:
            attributes["specgate.retries"] = self.retries
        if self.fallbacks:
            attributes["specgate.fallbacks"] = self.fallbacks
        if self.provider is not None:
            attributes["specgate.provider"] = self.provider
        span = self.span
        span.set_attributes(attributes)
        if error_type is not None:
            self.tracing.failed(span, error_type)
        span.end()

    def ended(self, status: int, fields: dict[str, Any]) -> None:
        route = str(fields.get("route"))
        self.span.name = f"{fields.get('method')} {route}"
        attributes: dict[str, Any] = {
            "http.request.method": str(fields.get("method")),
            "http.route": route,
            "http.response.status_code": status,
        }
        for name in ("request_id", "key_id"):
            if fields.get(name) is not None:
                attributes[f"specgate.{name}"] = str(fields[name])
        if isinstance(fields.get("model"), str):
            attributes["gen_ai.request.model"] = fields["model"]
        if self.tracing.log_bodies and "request_body" in fields:
            attributes["specgate.request_body"] = str(fields["request_body"])[:BODY_ATTRIBUTE_LIMIT]
            attributes["specgate.response_body"] = str(fields["response_body"])[:BODY_ATTRIBUTE_LIMIT]
        self._finish_span(attributes, str(status) if status >= 500 else None)

    def ended_background(self, error_type: str | None) -> None:
        self._finish_span({}, error_type)


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
