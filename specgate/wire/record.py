"""What happened while serving one request: the ``RequestRecord`` that ``specgate.wire.observe``
puts in the request state and providers report to (as their ``CallObserver``): retries,
fallbacks, upstream latency, usage, the first streamed token. Its counters go to ``/metrics`` as
they happen; the rest is read when the response is done (the request log, the spans)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from specgate.core.scope import scope_state
from specgate.core.types import Json
from specgate.ops.metrics import Metrics

RECORD_KEY = "specgate.record"
_USAGE_FIELDS = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation_input_tokens": "cache_creation",
}


_NO_HEADERS: dict[str, str] = {}


class RequestRecord:
    """What happened while serving one request (a ``providers.base.CallObserver``). With tracing on,
    ``specgate.wire.traced.TracedRecord`` is used instead: the same, plus spans."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()
        self.provider: str | None = None
        self.upstream_model: str | None = None
        self.retries = 0
        self.fallbacks = 0
        self.tokens: dict[str, int] = {}  # by metrics.TOKEN_TYPES name
        self.first_token_s: float | None = None

    def attempting(self, provider: str, system: str, model: str, upstream_model: str) -> None:
        """Nothing without tracing (``TracedRecord`` opens the attempt's span)."""

    def trace_headers(self) -> dict[str, str]:
        return _NO_HEADERS

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
        """The response is done (``bodies``: the request's and the response's, with
        ``logging.log_bodies``). Nothing without tracing."""

    def retried(self, provider: str, reason: str) -> None:
        self.retries += 1
        self.metrics.upstream_retries.labels(provider, reason).inc()

    def failed(self, provider: str, reason: str, *, fallback: bool) -> None:
        self.metrics.upstream_errors.labels(provider, reason).inc()
        if fallback:
            self.fallbacks += 1
            self.metrics.fallbacks.labels(provider, reason).inc()

    def budget_refused(self, provider: str, what: str) -> None:
        """Nothing without tracing (the log says it; ``TracedRecord`` marks the attempt's span)."""

    def upstream_done(self, provider: str, seconds: float, *, ok: bool) -> None:
        self.metrics.upstream_done(provider, ok, seconds)

    def served(self, provider: str, upstream_model: str) -> None:
        self.provider = provider
        self.upstream_model = upstream_model

    def usage(self, usage: Json) -> None:
        tokens = self.tokens
        for field, kind in _USAGE_FIELDS.items():
            value = usage.get(field)
            if type(value) is int and value >= 0:  # parsed JSON: an int is exactly int (a bool is not)
                tokens[kind] = value  # stream usage is cumulative: the last value wins

    def first_token(self) -> None:
        if self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.started

    def stream_as_json(self, provider: str) -> None:
        self.metrics.stream_as_json.labels(provider).inc()


def record_of(scope: MutableMapping[str, Any]) -> RequestRecord | None:
    record = scope_state(scope).get(RECORD_KEY)
    return record if isinstance(record, RequestRecord) else None
