"""OpenTelemetry tracing (``tracing:`` in the config), exported over OTLP/HTTP.

This module imports the OpenTelemetry SDK at its top, and nothing imports it unless ``tracing``
is configured (``open_tracing``): with tracing off no OpenTelemetry module is ever loaded and
the request path pays one ``is None`` test. What users know from OpenTelemetry comes from the
SDK: the W3C propagator reads a client's ``traceparent``/``tracestate``, the sampler
(``ParentBased(TraceIdRatioBased(sample_ratio))``) decides each new trace, the id generator
makes the ids, the resource says who we are (``service.name``, ``service.version``,
``telemetry.sdk.*``). The spans themselves are lean records (``specgate.ops.spans``), encoded
to OTLP/protobuf at export (``specgate.ops.otlp``) by a thread of their own
(``specgate.ops.export``): the SDK's span objects and the official encoder cost more CPU than
the rest of a request (README, Performance → the cost of tracing).

What the spans are and which attributes they carry is decided on the request path
(``specgate.wire.traced``); this module only makes them: server spans continuing a client's W3C
``traceparent``, child spans, background roots linked to the request that submitted them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from specgate import __version__
from specgate.core.config import TracingConfig
from specgate.ops.export import BatchExporter
from specgate.ops.otlp import Encoder
from specgate.ops.spans import CLIENT, INTERNAL, SAMPLED, SERVER, Link, Shared, Span

__all__ = ["CLIENT", "INTERNAL", "SERVER", "Link", "Shared", "Span", "Tracing"]
SHARED_LIMIT = 4096  # distinct shared attribute sets kept (routes, keys and statuses alike, in practice)
_PROPAGATOR = TraceContextTextMapPropagator()
_KINDS = {SERVER: trace.SpanKind.SERVER, INTERNAL: trace.SpanKind.INTERNAL}


class Tracing:
    """One gateway's tracer: sampling ``sample_ratio`` of new traces, following a client's sampled flag."""

    def __init__(self, config: TracingConfig, *, log_bodies: bool = False) -> None:
        self.config = config
        self.log_bodies = log_bodies  # prompts and completions go into spans only then
        self.resource = Resource.create({"service.name": config.service_name, "service.version": __version__})
        self.root_sampler = TraceIdRatioBased(config.sample_ratio)
        self.sampler = ParentBased(self.root_sampler)  # what decides a trace with a remote parent
        self._always = config.sample_ratio >= 1.0
        self.ids = RandomIdGenerator()
        self.exporter = BatchExporter(
            config.endpoint,
            Encoder(dict(self.resource.attributes), "specgate", __version__),
            interval_s=config.export_interval_s,
        )
        self._sink = self.exporter.add
        self._shared: dict[tuple[Any, ...], Shared] = {}

    def shared(self, key: tuple[Any, ...], make: Callable[[tuple[Any, ...]], dict[str, Any]]) -> Shared:
        """The ``Shared`` attributes for ``key`` (the values they are made of), made by ``make(key)``
        the first time; at most ``SHARED_LIMIT`` are kept (then all are dropped and made again as
        needed)."""
        shared = self._shared.get(key)
        if shared is None:
            if len(self._shared) >= SHARED_LIMIT:
                self._shared.clear()
            shared = self._shared[key] = Shared(make(key))
        return shared

    def _root(
        self, name: str, kind: int, parent: Context | None, attributes: Mapping[str, Any], links: Sequence[Link]
    ) -> Span:
        """A span without a local parent: the sampler decides (a remote parent's sampled flag, or
        the ratio for a new trace; ``ParentBased`` without a parent is its root sampler, asked directly)."""
        remote = trace.get_current_span(parent).get_span_context() if parent is not None else None
        if remote is not None and remote.is_valid:
            trace_id, parent_id = remote.trace_id, remote.span_id
            result = self.sampler.should_sample(parent, trace_id, name, _KINDS[kind], attributes)
        elif self._always:  # what TraceIdRatioBased(1.0) answers for every root, without asking it
            trace_id, parent_id, result = self.ids.generate_trace_id(), 0, None
        else:
            trace_id, parent_id = self.ids.generate_trace_id(), 0
            result = self.root_sampler.should_sample(None, trace_id, name, _KINDS[kind], attributes)
        sampled = result is None or result.decision is Decision.RECORD_AND_SAMPLE
        state = result.trace_state.to_header() if result is not None and result.trace_state else ""
        if result is not None and result.attributes:  # what a sampler adds
            attributes = {**attributes, **result.attributes}
        return Span(
            trace_id,
            self.ids.generate_span_id(),
            name,
            kind,
            parent_id,
            parent_id != 0,  # a remote parent
            SAMPLED if sampled else 0,
            state,
            dict(attributes) if sampled else None,
            links if sampled else (),
            self._sink if sampled else None,
        )

    def server(self, name: str, carrier: Mapping[str, str]) -> Span:
        """A request's span; ``carrier`` holds the client's ``traceparent``/``tracestate``, if any."""
        if not carrier and self._always:  # the common case, without asking the sampler (see _root)
            ids = self.ids
            return Span(
                ids.generate_trace_id(), ids.generate_span_id(), name, SERVER, 0, False, SAMPLED, "", {}, (), self._sink
            )
        return self._root(name, SERVER, _PROPAGATOR.extract(carrier) if carrier else None, {}, ())

    def child(
        self, parent: Span, name: str, attributes: dict[str, Any], shared: Shared | None = None, *, kind: int = CLIENT
    ) -> Span:
        """A span within ``parent``'s trace, sampled as it is (the ``ParentBased`` rule)."""
        flags = parent.trace_flags
        sink = self._sink if flags & SAMPLED else None
        return Span(parent.trace_id, self.ids.generate_span_id(), name, kind, parent.span_id, False, flags,
                    parent.trace_state, attributes, (), sink, 0, shared)  # fmt: skip

    def background(self, name: str, links: Sequence[Link], attributes: Mapping[str, Any]) -> Span:
        """The root of a new trace for work a request left behind (a job, a batch item), linked to it."""
        return self._root(name, INTERNAL, None, attributes, list(links))

    def flush(self) -> None:
        """Export what has ended so far (blocking: call it off the event loop)."""
        self.exporter.flush()

    def close(self) -> None:
        """Export what is left and stop the exporter (blocking: call it off the event loop)."""
        self.exporter.close()
