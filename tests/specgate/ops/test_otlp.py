"""The lean OTLP encoder writes what the official one writes: for the same spans (every attribute
type, events, links, status, remote and local parents, trace state, resource, scope) the bytes
decode, with ``opentelemetry-proto``, to a message equal to the official encoder's
(``opentelemetry-exporter-otlp-proto-common``), and are in fact the same bytes."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from specgate.ops.metrics import Metrics
from specgate.ops.otlp import Encoder, varint
from specgate.ops.spans import CLIENT, INTERNAL, SERVER, STATUS_ERROR, Span
from specgate.wire.traced import server_record

RESOURCE = Resource.create({"service.name": "sg", "service.version": "1.2.3", "deployment.replicas": 2})
SCOPE = ("specgate", "9.9.9")
KINDS = {INTERNAL: SpanKind.INTERNAL, SERVER: SpanKind.SERVER, CLIENT: SpanKind.CLIENT}
EVERY_TYPE: dict[str, Any] = {
    "s": "text", "empty": "", "unicode": "héllo ✓ 𝄞", "long": "x" * 300,
    "t": True, "f": False, "zero": 0, "i": 42, "neg": -7, "big": 2**63 - 1, "min": -(2**63),
    "pi": 3.14159, "fzero": 0.0, "fneg": -1e300, "b": b"\x00\x01raw",
    "strs": ["a", "b", ""], "ints": [1, -2, 300], "bools": [True, False], "floats": [0.5, -2.0], "none": None,
    "map": {"k": "v", "n": 1, "nested": {"deep": [1, "two"]}}, "emptylist": [],
}  # fmt: skip


def official(spans: list[Span]) -> bytes:
    """The same spans as the SDK's ReadableSpans, encoded by the official encoder."""
    scope = InstrumentationScope(*SCOPE)
    readable = []
    for span in spans:
        pairs = [tuple(pair.split("=", 1)) for pair in span.trace_state.split(",")] if span.trace_state else []
        state = TraceState(pairs) if pairs else None  # type: ignore[arg-type]
        flags = TraceFlags(span.trace_flags)
        context = SpanContext(span.trace_id, span.span_id, is_remote=False, trace_flags=flags, trace_state=state)
        parent = (
            SpanContext(span.trace_id, span.parent_id, is_remote=span.remote_parent, trace_flags=flags)
            if span.parent_id
            else None
        )
        links = [Link(SpanContext(t, s, is_remote=remote)) for t, s, remote in span.links]
        events = [Event(name, attributes, timestamp) for name, timestamp, attributes in span.events]
        status = Status(StatusCode(span.status_code), span.status_message or None)
        times = {"start_time": span.start_ns, "end_time": span.end_ns, "instrumentation_scope": scope}
        kind = KINDS[span.kind]
        readable.append(ReadableSpan(span.name, context, parent, RESOURCE, span.all_attributes(), events, links, kind,
                                     status=status, **times))  # fmt: skip
    return encode_spans(readable).SerializeToString()


def span(*args: Any, **kwargs: Any) -> Span:
    """A recording span (one with somewhere to go when it ends)."""
    return Span(*args, **kwargs, sink=lambda _: None)


def ended(span: Span) -> Span:
    span.end()
    assert span.end_ns >= span.start_ns > 0
    return span


def lean(spans: list[Span]) -> bytes:
    return Encoder(dict(RESOURCE.attributes), *SCOPE).request(spans)


def assert_same(spans: list[Span]) -> None:
    mine, theirs = lean(spans), official(spans)
    assert ExportTraceServiceRequest.FromString(mine) == ExportTraceServiceRequest.FromString(theirs)
    assert mine == theirs


def test_every_attribute_type_event_link_and_status() -> None:
    root = span(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, "POST /v1/messages", SERVER,
                parent_id=0x1122334455667788, remote_parent=True, trace_state="vendor=abc,other=1",
                attributes=dict(EVERY_TYPE))  # fmt: skip
    root.add_event("exception", {"exception.type": "Timeout", "attempt": 2})
    root.add_event("done")
    root.fail("overloaded_error")
    root.status_message = "upstream said 529"
    child = span(root.trace_id, 0xFFFFFFFFFFFFFFFF, "chat m", CLIENT, parent_id=root.span_id,
                 attributes={"gen_ai.system": "anthropic", "specgate.attempt": 1})  # fmt: skip
    job = span(1, 2, "specgate.job", INTERNAL, links=[(root.trace_id, root.span_id, False), (3, 4, True)])
    bare = span(5, 6, "", INTERNAL)
    spans = [ended(s) for s in (root, child, job, bare)]
    assert len(root.events) == 2 and root.status_code == STATUS_ERROR
    assert_same(spans)


@pytest.mark.parametrize("count", [1, 3, 200])  # 200: lengths beyond one varint byte at every level
def test_batches_of_real_request_spans(count: int) -> None:
    """Spans as the request path makes them (a traced record: server span + attempt, usage)."""
    from specgate.core.config import TracingConfig
    from specgate.ops.tracing import Tracing

    tracing = Tracing(TracingConfig(endpoint="http://127.0.0.1:9/v1/traces", export_interval_s=3600))
    try:
        spans: list[Span] = []
        tracing._sink = spans.append
        for i in range(count):
            record = server_record(tracing, Metrics(), {"method": "POST", "headers": []})
            record.attempting("ant", "anthropic", "m", "claude-upstream")
            record.retried("ant", "529")
            record.usage({"input_tokens": i, "output_tokens": 1000 + i, "cache_read_input_tokens": 5})
            record.ended(500 if i % 2 else 200, "POST", "/v1/messages", f"req_{i}", "key_a", "m")
        assert len(spans) == 3 * count
        assert_same(spans)
    finally:
        tracing.close()


def test_varint() -> None:
    assert [varint(n) for n in (0, 1, 127, 128, 300)] == [b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02"]
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_alike_spans_share_one_encoded_attribute_set() -> None:
    """Requests alike in route, status, key, model and provider share one ``Shared`` set (encoded
    once); what differs (the request id, the usage) stays each span's own."""
    from specgate.core.config import TracingConfig
    from specgate.ops.tracing import Tracing

    tracing = Tracing(TracingConfig(endpoint="http://127.0.0.1:9/v1/traces", export_interval_s=3600))
    try:
        spans: list[Span] = []
        tracing._sink = spans.append
        for i, key_id in enumerate(("key_a", "key_a", "key_b")):
            record = server_record(tracing, Metrics(), {"method": "POST", "headers": []})
            record.attempting("ant", "anthropic", "m", "claude-upstream")
            record.usage({"input_tokens": i, "output_tokens": 1})
            record.served("ant", "claude-upstream")
            record.ended(200, "POST", "/v1/messages", f"req_{i}", key_id, "m")
        attempts, servers = spans[0::2], spans[1::2]
        assert servers[0].shared is servers[1].shared and servers[2].shared is not servers[0].shared
        assert attempts[0].shared is attempts[1].shared is attempts[2].shared
        assert servers[2].all_attributes()["specgate.key_id"] == "key_b"
        assert [s.attributes["specgate.request_id"] for s in servers] == ["req_0", "req_1", "req_2"]
        assert [s.attributes["gen_ai.usage.input_tokens"] for s in attempts] == [0, 1, 2]
        assert not set(servers[0].attributes) & set(servers[0].shared.attributes)  # type: ignore[union-attr]
        assert_same(spans)
    finally:
        tracing.close()


def test_shared_sets_are_kept_up_to_their_limit() -> None:
    """A set is made once per key; past ``SHARED_LIMIT`` distinct keys all are dropped and made again."""
    from specgate.core.config import TracingConfig
    from specgate.ops.tracing import SHARED_LIMIT, Tracing

    tracing = Tracing(TracingConfig(endpoint="http://127.0.0.1:9/v1/traces", export_interval_s=3600))
    try:
        made: list[tuple[Any, ...]] = []

        def make(key: tuple[Any, ...]) -> dict[str, Any]:
            made.append(key)
            return {"k": key[0]}

        first = tracing.shared((0,), make)
        assert tracing.shared((0,), make) is first and made == [(0,)]
        for i in range(1, SHARED_LIMIT + 1):
            tracing.shared((i,), make)
        again = tracing.shared((0,), make)
        assert again is not first and again.attributes == {"k": 0} and made.count((0,)) == 2
    finally:
        tracing.close()
