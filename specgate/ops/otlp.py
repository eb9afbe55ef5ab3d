"""The OTLP/protobuf encoding of finished spans: an ``ExportTraceServiceRequest``, written byte by byte.

The official encoder (``opentelemetry-exporter-otlp-proto-common``) builds a protobuf message
object per span, attribute and value, in Python, then serialises it: ~125 µs a span, paid under
the GIL by the process serving requests. The wire format is small (varints, fixed-width numbers
and length-delimited fields, https://protobuf.dev/programming-guides/encoding/), so this writes
the bytes directly, in the same field order the official serialiser uses; the resource and scope
are encoded once. ``tests/specgate/ops/test_otlp.py`` decodes the output with
``opentelemetry-proto`` and compares it with the official encoder's for the same spans.

Fields follow ``opentelemetry/proto/trace/v1/trace.proto``; a proto3 scalar at its default (0,
"", empty bytes) is left out, as protobuf does, while the members of ``AnyValue``'s ``oneof``
are always written (they have presence).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from specgate.ops.spans import Span as FinishedSpan

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")
_FIXED32 = struct.Struct("<I")
_HAS_IS_REMOTE = 0x100  # SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_FLAGS = (_FIXED32.pack(_HAS_IS_REMOTE), _FIXED32.pack(_HAS_IS_REMOTE | _IS_REMOTE))
_KIND_TIMES = struct.Struct("<BBBQBQ")  # kind (6, varint < 128), start (7, fixed64), end (8, fixed64)
_IDS = b"\x0a\x10", b"\x12\x08", b"\x22\x08"  # trace_id (1), span_id (2), parent_span_id (4): bytes
_TRACE_ID = _IDS[0]
_SPAN = struct.Struct(">BBQ")  # span_id (2): 8 bytes, big-endian (as int.to_bytes(8, "big"))
_SPAN_PARENT = struct.Struct(">BBQBBQ")  # span_id (2), then parent_span_id (4)
# status (15: an empty Status, or code ERROR) then flags (16, fixed32), by (status code, remote parent)
_TAILS = tuple(
    tuple(
        (b"\x7a\x00" if code == 0 else b"\x7a\x02\x18" + bytes((code,))) + b"\x85\x01" + _FLAGS[remote]
        for remote in (0, 1)
    )
    for code in (0, 1, 2)
)  # _TAILS[code][remote parent]
_KEPT_TYPES = frozenset((str, int))  # attribute values whose encoded pairs are kept
_CACHE_LIMIT = 4096  # encoded key/value pairs (and span names) kept: they repeat across spans


def varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # a negative int64 is its two's complement: ten bytes
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; ``tag`` is ``number << 3 | 2`` (every number here is < 16)."""
    size = len(payload)
    if size < 0x80:
        return bytes((tag, size)) + payload
    if size < 0x4000:
        return bytes((tag, size & 0x7F | 0x80, size >> 7)) + payload
    return bytes((tag,)) + varint(size) + payload


def any_value(value: Any) -> bytes:
    """``AnyValue``, as the official encoder maps Python values (bool before int: a bool is an int)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return field(0x0A, value.encode())
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return field(0x3A, value)
    if isinstance(value, Sequence):
        return field(0x2A, b"".join(field(0x0A, any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return field(0x32, b"".join(field(0x0A, key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"an attribute value of type {type(value).__name__} cannot be encoded")


def key_value(key: str, value: Any) -> bytes:
    return (field(0x0A, key.encode()) if key else b"") + field(0x12, any_value(value))


class _Pairs(dict[tuple[str, Any], bytes]):
    """Encoded ``KeyValue`` fields of one repeated field, by the ``(key, value)`` item: looked up
    with ``map(pairs.__getitem__, attributes.items())``, so a hit costs no Python step; a miss
    (``__missing__``) encodes the pair and keeps it. Only for values of exact type ``str`` or
    ``int``: ``1``, ``True`` and ``1.0`` are equal keys but not equal encodings."""

    __slots__ = ("encoder", "tag")

    def __init__(self, encoder: Encoder, tag: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.tag = tag

    def __missing__(self, item: tuple[str, Any]) -> bytes:
        key, value = item
        if type(value) is str:  # most misses are a new string (a request id): its bytes written here
            key_bytes, value_bytes = key.encode(), value.encode()
            value_size = len(value_bytes)
            size = len(key_bytes) + value_size + 6  # key (2 + len), value (2 + AnyValue: 2 + len)
            if size < 0x80:
                encoded = (
                    bytes((self.tag, size, 0x0A, len(key_bytes)))
                    + key_bytes
                    + bytes((0x12, value_size + 2, 0x0A, value_size))
                    + value_bytes
                )
            else:
                encoded = field(self.tag, key_value(key, value))
        else:
            encoded = field(self.tag, key_value(key, value))
        self[item] = encoded
        self.encoder.kept()
        return encoded


class Encoder:
    """Encodes batches of spans for one resource and instrumentation scope.

    Spans are encoded by the thousand and most of what they say repeats (attribute keys and
    values, span names), so encoded key/value pairs of strings and integers are kept
    (``_Pairs``), as are span names, up to ``_CACHE_LIMIT`` (then they are dropped and kept
    again: a value never seen twice, such as a request id, only costs its place)."""

    def __init__(
        self,
        resource: Mapping[str, Any],
        scope_name: str,
        scope_version: str,
        scope_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._pairs: dict[int, _Pairs] = {}  # by repeated field tag
        self._span_pairs = self._pairs[0x4A] = _Pairs(self, 0x4A)  # Span.attributes
        self._cached = 0
        self._names: dict[str, bytes] = {}  # a span's name field
        self._resource = field(0x0A, self.attributes(0x0A, resource))  # ResourceSpans.resource
        scope = b"".join(
            (
                field(0x0A, scope_name.encode()) if scope_name else b"",
                field(0x12, scope_version.encode()) if scope_version else b"",
                self.attributes(0x1A, scope_attributes or {}),
            )
        )
        self._scope = field(0x0A, scope)  # ScopeSpans.scope

    def kept(self) -> None:
        """One more pair kept: past the limit, all are dropped."""
        self._cached += 1
        if self._cached > _CACHE_LIMIT:
            self._cached = 0
            for pairs in self._pairs.values():
                pairs.clear()

    def attributes(self, tag: int, attributes: Mapping[str, Any]) -> bytes:
        """The repeated ``KeyValue`` field ``tag``."""
        pairs = self._pairs.get(tag)
        if pairs is None:
            pairs = self._pairs[tag] = _Pairs(self, tag)
        if _KEPT_TYPES.issuperset(map(type, attributes.values())):  # strings and integers only
            return b"".join(map(pairs.__getitem__, attributes.items()))
        parts = []
        for item in attributes.items():
            kind = type(item[1])
            parts.append(pairs[item] if kind is str or kind is int else field(tag, key_value(*item)))
        return b"".join(parts)

    def _name(self, name: str) -> bytes:
        encoded = field(0x2A, name.encode()) if name else b""
        if len(self._names) >= _CACHE_LIMIT:
            self._names.clear()
        self._names[name] = encoded
        return encoded

    def span(self, span: FinishedSpan) -> bytes:
        """One ``Span`` (a ``ScopeSpans.spans`` field); a request's spans take the first branch, one
        join of a fixed layout."""
        if span.trace_state or span.events or span.links or span.status_message:
            return self._general_span(span)
        name = self._names.get(span.name)
        if name is None:
            name = self._name(span.name)
        attributes = span.attributes
        if _KEPT_TYPES.issuperset(map(type, attributes.values())):  # as ``attributes``, inlined
            encoded = b"".join(map(self._span_pairs.__getitem__, attributes.items()))
        else:
            encoded = self.attributes(0x4A, attributes)
        shared = span.shared
        shared_encoded = b""
        if shared is not None:
            shared_encoded = shared.encoded
            if not shared_encoded:
                shared_encoded = shared.encoded = self.attributes(0x4A, shared.attributes)
        body = b"".join(
            (
                _TRACE_ID,
                span.trace_id.to_bytes(16, "big"),
                _SPAN_PARENT.pack(0x12, 8, span.span_id, 0x22, 8, span.parent_id) if span.parent_id else
                _SPAN.pack(0x12, 8, span.span_id),
                name,
                _KIND_TIMES.pack(0x30, span.kind, 0x39, span.start_ns, 0x41, span.end_ns),
                shared_encoded,
                encoded,
                _TAILS[span.status_code][span.remote_parent],
            )
        )  # fmt: skip
        size = len(body)  # the ScopeSpans.spans field, as ``field``, inlined
        if 0x80 <= size < 0x4000:
            return bytes((0x12, size & 0x7F | 0x80, size >> 7)) + body
        return field(0x12, body)

    def _general_span(self, span: FinishedSpan) -> bytes:
        """Any span: with trace state, events, links or a status message too."""
        parts = [_IDS[0], span.trace_id.to_bytes(16, "big"), _IDS[1], span.span_id.to_bytes(8, "big")]
        if span.trace_state:
            parts.append(field(0x1A, span.trace_state.encode()))
        if span.parent_id:
            parts += (_IDS[2], span.parent_id.to_bytes(8, "big"))
        name = self._names.get(span.name)
        parts.append(name if name is not None else self._name(span.name))
        parts.append(_KIND_TIMES.pack(0x30, span.kind, 0x39, span.start_ns, 0x41, span.end_ns))
        if span.shared is not None:
            parts.append(self.attributes(0x4A, span.shared.attributes))
        parts.append(self.attributes(0x4A, span.attributes))
        if span.events:
            for event_name, event_ns, event_attributes in span.events:
                event = b"\x09" + _FIXED64.pack(event_ns)
                event += field(0x12, event_name.encode()) if event_name else b""
                parts.append(field(0x5A, event + self.attributes(0x1A, event_attributes)))
        if span.links:
            for link_trace, link_span, link_remote in span.links:
                link = b"\x0a\x10" + link_trace.to_bytes(16, "big") + b"\x12\x08" + link_span.to_bytes(8, "big")
                parts.append(field(0x6A, link + b"\x35" + _FLAGS[link_remote]))
        if span.status_message:
            status = field(0x12, span.status_message.encode())
            status += bytes((0x18, span.status_code)) if span.status_code else b""
            parts += (field(0x7A, status), b"\x85\x01", _FLAGS[span.remote_parent])
        else:
            parts.append(_TAILS[span.status_code][span.remote_parent])
        return field(0x12, b"".join(parts))  # ScopeSpans.spans

    def request(self, spans: Iterable[FinishedSpan]) -> bytes:
        """An ``ExportTraceServiceRequest`` holding ``spans`` (one resource, one scope)."""
        return self.batch(map(self.span, spans))

    def batch(self, encoded: Iterable[bytes]) -> bytes:
        """An ``ExportTraceServiceRequest`` holding spans already encoded by ``span``: one join,
        the lengths computed first (a batch is hundreds of kilobytes: each copy of it counts)."""
        spans = list(encoded)
        scope_spans = len(self._scope) + sum(map(len, spans))  # ScopeSpans
        scope_spans_field = b"\x12" + varint(scope_spans)  # ResourceSpans.scope_spans
        resource_spans = len(self._resource) + len(scope_spans_field) + scope_spans
        head = b"\x0a" + varint(resource_spans) + self._resource + scope_spans_field + self._scope
        return b"".join((head, *spans))
