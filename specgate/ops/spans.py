"""A span as the request path records it: a small slotted record, handed to the exporter when it ends.

The OpenTelemetry SDK's span validates and copies every attribute under a lock, builds a
context object per span and runs span processors on start and end: ~115 µs a span here, two or
more per request. Tracing needs less: ids, times, a dict of attributes, links, a status. The
sampler, id generator, propagator and resource still come from the SDK
(``specgate.ops.tracing``); a span is encoded to OTLP bytes (``specgate.ops.otlp``) as it
ends, by the exporter it is handed to. No OpenTelemetry module is imported here.

An unsampled span (``sink`` None) still has ids, so its ``traceparent`` (sampled flag off) goes
upstream, but records nothing. A span is made on every traced request, two or more, so it is kept
cheap: its constructor is called with positional arguments, and a span without events or links
shares the empty tuple rather than holding two empty lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

INTERNAL, SERVER, CLIENT = 1, 2, 3  # OTLP Span.SpanKind numbers
STATUS_UNSET, STATUS_ERROR = 0, 2  # OTLP Status.StatusCode numbers
SAMPLED = 0x01  # W3C trace flags
Link = tuple[int, int, bool]  # (trace id, span id, is remote): a span another one is linked to
Event = tuple[str, int, dict[str, Any]]  # (name, time in ns, attributes)
_HEX_BYTE = tuple(f"{flags:02x}" for flags in range(256))


class Shared:
    """Attributes that many spans carry alike (an attempt's provider and models, a request's route
    and key): made once per distinct set (``Tracing.shared``) and never changed, so the exporter
    encodes them once (``encoded``) instead of once per span."""

    __slots__ = ("attributes", "encoded")

    def __init__(self, attributes: dict[str, Any]) -> None:
        self.attributes = attributes
        self.encoded = b""  # the encoder's, on first use


class Span:
    __slots__ = (
        "attributes", "end_ns", "events", "kind", "links", "name", "parent_id", "remote_parent", "shared",
        "sink", "span_id", "start_ns", "status_code", "status_message", "trace_flags", "trace_id", "trace_state",
    )  # fmt: skip

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        name: str,
        kind: int,
        parent_id: int = 0,
        remote_parent: bool = False,
        trace_flags: int = SAMPLED,
        trace_state: str = "",
        attributes: dict[str, Any] | None = None,
        links: Sequence[Link] = (),
        sink: Callable[[Span], None] | None = None,
        start_ns: int = 0,
        shared: Shared | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id  # 0: a root
        self.remote_parent = remote_parent  # the parent came from a client's traceparent
        self.trace_flags = trace_flags
        self.trace_state = trace_state  # the W3C tracestate header, as received
        self.name = name
        self.kind = kind
        self.start_ns = start_ns or time.time_ns()
        self.end_ns = 0
        self.attributes: dict[str, Any] = attributes if attributes is not None else {}  # its own
        self.shared = shared  # encoded before its own attributes; no key in both
        self.events: Sequence[Event] = ()
        self.links: Sequence[Link] = links
        self.status_code = STATUS_UNSET
        self.status_message = ""
        self.sink = sink  # where the span goes when it ends; None: not sampled

    def all_attributes(self) -> dict[str, Any]:
        """Its attributes as exported: the shared ones, then its own."""
        return self.attributes if self.shared is None else {**self.shared.attributes, **self.attributes}

    @property
    def recording(self) -> bool:
        return self.sink is not None

    @property
    def link(self) -> Link | None:
        """What a span started by this one's work links to (None when not recorded: no such span exists)."""
        return (self.trace_id, self.span_id, False) if self.sink is not None else None

    def traceparent(self) -> dict[str, str]:
        ids = (self.trace_id.to_bytes(16, "big") + self.span_id.to_bytes(8, "big")).hex()  # cheaper than format specs
        headers = {"traceparent": f"00-{ids[:32]}-{ids[32:]}-{_HEX_BYTE[self.trace_flags & 0xFF]}"}
        if self.trace_state:
            headers["tracestate"] = self.trace_state
        return headers

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        if self.sink is not None:
            self.attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        if self.sink is not None:
            self.attributes[key] = value

    def add_event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        if self.sink is not None:
            self.events = (*self.events, (name, time.time_ns(), attributes or {}))

    def fail(self, error_type: str) -> None:
        if self.sink is not None:
            self.attributes["error.type"] = error_type
            self.status_code = STATUS_ERROR

    def end(self) -> None:
        sink, self.sink = self.sink, None  # once: a second end() does nothing
        if sink is not None:
            self.end_ns = time.time_ns()
            sink(self)
