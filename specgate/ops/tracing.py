"""OpenTelemetry tracing (``tracing:`` in the config), exported over OTLP/HTTP.

This module imports the OpenTelemetry SDK at its top, and nothing imports it unless ``tracing``
is configured (``open_tracing``): with tracing off no OpenTelemetry module is ever loaded and
the request path pays one ``is None`` test. The provider, sampler and exporter belong to the
gateway (built in the lifespan, shut down with it: the last spans are flushed then); the
process-global tracer provider is never touched.

What the spans are and which attributes they carry is decided on the request path
(``specgate.wire.traced``); this module only makes them: server spans continuing a client's W3C
``traceparent``, child spans, background roots linked to the request that submitted them, and
the ``traceparent`` header that carries a span upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from specgate import __version__
from specgate.core.config import TracingConfig

__all__ = ["Span", "SpanContext", "SpanKind", "Tracing"]
Attributes = Mapping[str, str | int | float | bool]
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """One gateway's tracer: sampling ``sample_ratio`` of new traces, following a client's sampled flag."""

    def __init__(self, config: TracingConfig, *, log_bodies: bool = False) -> None:
        self.config = config
        self.log_bodies = log_bodies  # prompts and completions go into spans only then
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name, "service.version": __version__}),
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
        )
        exporter = OTLPSpanExporter(endpoint=config.endpoint, timeout=10)
        self.provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=config.export_interval_s * 1000)
        )
        self.tracer = self.provider.get_tracer("specgate", __version__)

    def server(self, name: str, carrier: Mapping[str, str]) -> Span:
        """A request's span; ``carrier`` holds the client's ``traceparent``/``tracestate``, if any."""
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        return self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)

    def child(self, parent: Span, name: str, attributes: Attributes, *, kind: SpanKind = SpanKind.CLIENT) -> Span:
        return self.tracer.start_span(
            name, context=trace.set_span_in_context(parent), kind=kind, attributes=dict(attributes)
        )

    def background(self, name: str, links: Sequence[SpanContext], attributes: Attributes) -> Span:
        """The root of a new trace for work a request left behind (a job, a batch item), linked to it."""
        return self.tracer.start_span(
            name,
            context=Context(),
            kind=SpanKind.INTERNAL,
            links=[Link(link) for link in links if link.is_valid],
            attributes=dict(attributes),
        )

    @staticmethod
    def headers(span: Span) -> dict[str, str]:
        """The W3C ``traceparent`` that makes the upstream's spans children of ``span`` (written
        here as the propagator writes it, without building a context for each upstream attempt)."""
        context = span.get_span_context()
        if not context.is_valid:
            return {}
        headers = {"traceparent": f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"}
        if context.trace_state:
            headers["tracestate"] = context.trace_state.to_header()
        return headers

    @staticmethod
    def failed(span: Span, error_type: str) -> None:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR))

    def close(self) -> None:
        """Export what is left and stop the exporter (blocking: call it off the event loop)."""
        self.provider.shutdown()
