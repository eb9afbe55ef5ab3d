"""Relaying Anthropic Messages answers that are already in the client's shape: the ``anthropic``
provider and Claude on Bedrock and Vertex AI share it.

``parse_error`` reads Anthropic's error body; ``relay_event`` turns one upstream event payload
into an ``SSEEvent`` whose raw frame is the upstream's bytes (only ``message_start`` is rewritten,
to carry the client's model name); ``SSERelay`` relays a whole ``text/event-stream`` body as it
arrives (the events of each read at once, fed by the HTTP client: ``UpstreamClient.stream_decoded``),
and insists on ``message_stop``; a JSON Message answered to the stream request (``JsonAnswer``: a
proxy or mock that ignores ``stream``) is turned into its events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.answers import load_json_object, note_upstream
from providers.base import CallContext
from providers.events import message_to_events
from providers.faults import Malformed, ProviderError, capped, map_fault
from providers.streaming import JsonAnswer
from specgate.core import deepjson
from specgate.core.errors import ApiError, UpstreamError
from specgate.core.types import Json, SSEEvent

STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def parse_error(raw: bytes) -> ProviderError | None:
    """An Anthropic error body (``{"type": "error", "error": {"type", "message"}}``), or None
    for anything else (an HTML page, a proxy's text, another API's JSON)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return error_of(body)


def error_of(body: Any) -> ProviderError | None:
    """``parse_error`` for an already parsed body."""
    if not isinstance(body, dict) or body.get("type", "error") != "error":
        return None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    error_type, message = error.get("type"), error.get("message")
    if not isinstance(error_type, str) or not error_type or not isinstance(message, str):
        return None
    return ProviderError(error_type, message)


def relay_event(name: str | None, payload: bytes, client_model: str, provider: str, request_id: str) -> SSEEvent:
    """One upstream event (its name, if the framing carries one, and its JSON payload)."""
    data = load_json_object(payload, "stream event", provider=provider, request_id=request_id)
    if not name:
        name = str(data.get("type", ""))
    if name == "message_start" and isinstance(data.get("message"), dict):
        return started(data, client_model)
    raw = b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"
    return SSEEvent(name, data, raw=raw)


def started(data: Json, client_model: str) -> SSEEvent:
    """A ``message_start`` event (its ``message`` a dict) rewritten to name the client's model."""
    data = {**data, "message": {**data["message"], "model": client_model}}
    return SSEEvent("message_start", data, raw=b"event: message_start\ndata: " + deepjson.dumps(data) + b"\n\n")


def stream_error(data: Json, request_id: str | None) -> UpstreamError:
    """An ``error`` event of the upstream's stream, as the error the client's stream ends with."""
    error = data.get("error") or {}
    error_type = str(error.get("type") or "api_error")
    message = capped(str(error.get("message") or "upstream stream error"))
    status = STATUS_BY_TYPE.get(error_type, 500)
    return UpstreamError(status, error_type, message, upstream_request_id=request_id, retryable=False)


def one_write(events: list[SSEEvent]) -> list[SSEEvent]:
    """The events of one read, to be written to the client in one piece: the last of them carries
    every one's frame, the others an empty ``raw`` (``SSEEvent``). An ``error`` event, which ends
    the stream as an error of the gateway's own wording, keeps its frame and is not joined.

    Events that arrive together (the head of a stream, its tail, whatever a busy upstream or
    network put in one segment) then cost the client's connection one write, as for a proxy that
    forwards its reads, instead of one each: a send through the server and a system call."""
    if len(events) < 2:
        return events
    written = events[:-1] if events[-1].event == "error" else events
    if len(written) < 2:
        return events
    joined = b"".join([event.raw or b"" for event in written])
    last = written[-1]
    return [
        *(SSEEvent(event.event, event.data, raw=b"") for event in written[:-1]),
        SSEEvent(last.event, last.data, raw=joined),
        *events[len(written) :],
    ]


class _Frame:
    """Accumulates the lines of one SSE frame."""

    __slots__ = ("data", "event")

    def __init__(self) -> None:
        self.event: bytes | None = None
        self.data: list[bytes] = []

    def add(self, line: bytes) -> None:
        if line.startswith(b":"):
            return  # comment
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"event":
            self.event = value
        elif field == b"data":
            self.data.append(value)

    def __bool__(self) -> bool:
        return bool(self.data)

    def to_event(self, client_model: str, provider: str, request_id: str) -> SSEEvent:
        name = self.event.decode() if self.event else None
        return relay_event(name, b"\n".join(self.data), client_model, provider, request_id)


class _Frames:
    """The events of a ``text/event-stream`` body fed as it arrives: lines end at ``\n`` (a
    ``\r`` before it is dropped), a blank line ends a frame, nothing after ``message_stop``."""

    __slots__ = ("_buffer", "_frame", "_provider", "_request_id", "client_model", "stopped")

    def __init__(self, client_model: str, provider: str, request_id: str) -> None:
        self.client_model = client_model
        self._provider = provider
        self._request_id = request_id
        self._buffer = b""
        self._frame = _Frame()
        self.stopped = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events completed by ``data`` (an ``error`` event among them: the caller raises)."""
        if not self._buffer and not self._frame.data and not self.stopped and data[-2:] == b"\n\n":
            events = self._whole_frames(data)
            if events is not None:
                return events
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        return one_write(self._lines(lines))

    def _whole_frames(self, data: bytes) -> list[SSEEvent] | None:
        """The usual case, without a step per line: ``data`` is whole frames, each exactly
        ``event: <name>\\ndata: <json object>`` and a blank line, as Anthropic's API writes them;
        the frames are relayed as the upstream's bytes (a first ``message_start`` rewritten to
        name the client's model, as ``relay_event`` does), in one piece (``one_write``: a slice of
        ``data``, or ``data`` itself). None for anything else (a comment, ``\\r\\n``, a frame
        split across reads, JSON that does not parse...): the caller reads ``data`` line by
        line, which gives the same events or the error."""
        # Tests with ``partition`` (and slices), which take one argument: not ``in`` (CPython's
        # ``bytes.__contains__`` first tries its argument as an int and formats a TypeError it
        # then drops, ~2,000 instructions a test), nor ``find``/``count``/``startswith``/
        # ``endswith`` (their arguments are parsed as a tuple, ~750 instructions a call).
        if data.partition(b"\r")[1]:
            return None
        frames = data.split(b"\n\n")
        if frames.pop():  # not empty after the last blank line: more blank lines (or a stray newline)
            return None
        events: list[SSEEvent] = []
        one = len(frames) == 1
        written = 0  # how much of data the events so far came from
        start = b""  # a first message_start's frame, rewritten (the client's model)
        skip = 0  # the length of the upstream's message_start frame it replaces
        for frame in frames:
            head, separator, payload = frame.partition(b"\ndata: ")
            # one line ``event: <name>``, one line ``data: <payload>``, nothing else
            if (
                not separator
                or len(head) <= 7
                or head[:7] != b"event: "
                or head.partition(b"\n")[1]  # another line before data:
                or payload.partition(b"\n")[1]  # another line after it
            ):
                return None
            try:
                name = head[7:].decode()
            except UnicodeDecodeError:
                return None
            try:
                parsed = orjson.loads(payload)
            except orjson.JSONDecodeError:
                return None
            if type(parsed) is not dict:
                return None
            if name == "message_start":  # rewritten as relay_event does; not first (or odd): lines
                message = parsed.get("message")
                if events or type(message) is not dict:
                    return None
                event = started(parsed, self.client_model)
                if one:
                    return [event]
                parsed, start, skip = event.data, event.raw or b"", len(frame) + 2
            if name == "error":  # its own frame: the stream ends with it (one_write)
                events.append(SSEEvent(name, parsed, raw=frame + b"\n\n"))
                break
            events.append(SSEEvent(name, parsed, raw=data if one else b""))
            written += len(frame) + 2
            if name == "message_stop":
                self.stopped = True
                break
        if not one and written:  # the last frame relayed carries them all
            at = -2 if events[-1].event == "error" else -1
            last = events[at]
            raw = data if written == len(data) else data[:written]
            if start:  # in place of the upstream's message_start frame
                raw = start + raw[skip:]
            events[at] = SSEEvent(last.event, last.data, raw=raw)
        return events

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        frame = self._frame
        for line in lines:
            line = line.removesuffix(b"\r")
            if line:
                frame.add(line)
                continue
            if frame and not self.stopped:
                event = frame.to_event(self.client_model, self._provider, self._request_id)
                self.stopped = event.event == "message_stop"
                events.append(event)
                if event.event == "error":
                    break
            frame = _Frame()
        self._frame = frame
        return events

    def last_line(self) -> list[SSEEvent]:
        """At the end of the body: its last line, if it had no line ending."""
        buffer, self._buffer = self._buffer, b""
        return self._lines([buffer]) if buffer else []

    def last_frame(self) -> SSEEvent | None:
        """At the end of the body: a last frame without its blank line, dispatched anyway."""
        frame, self._frame = self._frame, _Frame()
        if not frame or self.stopped:
            return None
        event = frame.to_event(self.client_model, self._provider, self._request_id)
        self.stopped = event.event == "message_stop"
        return event


class SSERelay:
    """An Anthropic ``text/event-stream`` body as the client's events, read by the HTTP client
    itself (``UpstreamClient.stream_decoded``, a ``StreamDecoder``): all the events of a read at
    once; an ``error`` event ends the stream with the upstream's error (the events before it
    first); a body that ends without ``message_stop`` is an error; a JSON Message answered to the
    stream request is relayed as its events."""

    __slots__ = ("_ctx", "_frames", "_headers", "_provider", "client_model", "failure")

    def __init__(self, client_model: str, provider: str, ctx: CallContext) -> None:
        self.client_model = client_model
        self._provider = provider
        self._ctx = ctx
        self._frames = _Frames(client_model, provider, ctx.request_id)
        self._headers: Mapping[str, str] | None = None
        self.failure: BaseException | None = None

    def feed(self, data: bytes, headers: Mapping[str, str]) -> list[SSEEvent]:
        if self._headers is None:  # the same headers come with every read
            note_upstream(self._ctx.response_headers, headers)
            self._headers = headers
        events = self._frames.feed(data)
        if events and events[-1].event == "error":  # an error event is the last of a read's
            self.failure = stream_error(events.pop().data, headers.get("request-id"))
        return events

    def end(self) -> list[SSEEvent]:
        events = self._frames.last_line()
        if events and events[-1].event == "error":
            request_id = self._headers.get("request-id") if self._headers is not None else None
            self.failure = stream_error(events.pop().data, request_id)
            return events
        last = self._frames.last_frame()
        if last is not None:
            if last.event == "error":
                self.failure = stream_error(last.data, None)
                return events
            events.append(last)
        if not self._frames.stopped:
            self.failure = ApiError("upstream stream ended before message_stop")
        return events

    def answer(self, answer: JsonAnswer) -> list[SSEEvent]:
        return json_as_events(answer, self.client_model, self._provider, self._ctx)


def json_as_events(answer: JsonAnswer, client_model: str, provider: str, ctx: CallContext) -> list[SSEEvent]:
    """The events of a Message the upstream answered as one JSON body to a stream request."""
    note_upstream(ctx.response_headers, answer.headers)
    data = load_json_object(answer.body, "message body", provider=provider, request_id=ctx.request_id)
    if data.get("type") == "error":
        raise stream_error(data, answer.headers.get("request-id"))
    if data.get("type") != "message" or not isinstance(data.get("content"), list):
        fault = map_fault(provider, Malformed("message body", answer.body, "not a Message"))
        fault.log(ctx.request_id)
        raise fault.error
    if ctx.observer is not None:
        ctx.observer.stream_as_json(provider)
    return list(message_to_events({**data, "model": client_model}))


def input_tokens_of(raw: bytes, *, provider: str, request_id: str | None) -> int:
    """The ``input_tokens`` of an Anthropic count_tokens answer (the API's, or Vertex's)."""
    answer = load_json_object(raw, "count_tokens body", provider=provider, request_id=request_id)
    counted = answer.get("input_tokens")
    if not isinstance(counted, int) or isinstance(counted, bool):
        raise ApiError("upstream count_tokens response has no integer input_tokens")
    return counted
