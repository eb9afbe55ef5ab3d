"""The relay's SSE framing: the whole-frames shortcut gives exactly what the line-by-line reader
gives, for any way the upstream's bytes are split into reads."""

from __future__ import annotations

import random

import orjson
import pytest

from providers.answers import UPSTREAM_REQUEST_ID_HEADER
from providers.base import CallContext
from providers.relay import SSERelay, _Frames
from specgate.core.errors import ApiError, GatewayError, UpstreamError
from specgate.core.types import SSEEvent


def frame(name: str, data: dict[str, object], *, sep: bytes = b"\n") -> bytes:
    return b"event: " + name.encode() + sep + b"data: " + orjson.dumps(data) + sep + sep


STREAM = b"".join(
    [
        frame("message_start", {"type": "message_start", "message": {"model": "up", "usage": {"input_tokens": 3}}}),
        frame("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}),
        frame("ping", {"type": "ping"}),
        *(
            frame("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"text": f"w{i} é\\n"}})
            for i in range(6)
        ),
        b": a comment line\n\n",
        b'event: content_block_delta\nid: 7\ndata: {"type":"content_block_delta","index":0}\n\n',
        b'data: {"type":"content_block_stop","index":0}\n\n',  # no event line: named by its type
        frame("message_delta", {"type": "message_delta", "usage": {"output_tokens": 9}}),
        frame("message_stop", {"type": "message_stop"}),
        frame("content_block_delta", {"type": "content_block_delta"}),  # after message_stop: dropped
    ]
)


class LineByLine(_Frames):
    """The reader without its shortcut: every read line by line."""

    def _whole_frames(self, data: bytes) -> list[SSEEvent] | None:
        return None


def events(reads: list[bytes], *, shortcut: bool = True) -> tuple[list[tuple[str, object]], bytes]:
    """The events read, and the bytes the client is sent for them (every ``raw``, in order)."""
    frames = (_Frames if shortcut else LineByLine)("client-model", "p", "req_1")
    out: list[SSEEvent] = []
    for read in reads:
        out += frames.feed(read)
        if out and out[-1].event == "error":  # SSERelay fails the stream: nothing is read after it
            break
    else:
        out += frames.last_line()
        last = frames.last_frame()
        if last is not None:
            out.append(last)
    return [(e.event, e.data) for e in out], b"".join(e.raw or b"" for e in out if e.event != "error")


def split(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` in reads: at frame ends (what a real upstream mostly sends) or anywhere."""
    if rng.random() < 0.5:
        end = b"\r\n\r\n" if b"\r\n" in data else b"\n\n"
        frames = data.split(end)
        ends = [f + end for f in frames[:-1]]
        reads, i = [], 0
        while i < len(ends):
            n = rng.randint(1, 4)
            reads.append(b"".join(ends[i : i + n]))
            i += n
        return reads + ([frames[-1]] if frames[-1] else [])
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("body", [STREAM, STREAM.replace(b"\n", b"\r\n")], ids=["lf", "crlf"])
def test_the_shortcut_gives_the_line_by_line_events(body: bytes) -> None:
    rng = random.Random(17)
    expected = events([body], shortcut=False)
    names = expected[0]
    assert names[0][0] == "message_start"
    assert names[0][1]["message"]["model"] == "client-model"  # type: ignore[index]
    assert names[-1][0] == "message_stop"
    for _ in range(300):
        reads = split(body, rng)
        assert events(reads) == expected
        assert events(reads, shortcut=False) == expected


def test_frames_are_relayed_as_the_upstreams_bytes() -> None:
    read = frame("content_block_delta", {"type": "content_block_delta", "index": 0})
    (event,) = _Frames("m", "p", "r").feed(read)
    assert event.raw is read  # one whole frame in a read: the read itself, no copy


@pytest.mark.parametrize("shortcut", [True, False])
def test_the_frames_of_one_read_are_written_in_one_piece(shortcut: bool) -> None:
    """The last event of a read carries every frame of it, the others nothing (one write)."""
    ping = frame("ping", {"type": "ping"})
    delta = frame("content_block_delta", {"type": "content_block_delta", "index": 0})
    reader = (_Frames if shortcut else LineByLine)("m", "p", "r")
    three = reader.feed(ping + delta + ping)
    assert [(e.event, e.raw) for e in three] == [
        ("ping", b""),
        ("content_block_delta", b""),
        ("ping", ping + delta + ping),
    ]
    error = frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    ended = (_Frames if shortcut else LineByLine)("m", "p", "r").feed(delta + ping + error)
    # the frames before the error are written; the error keeps its own (the stream ends with it)
    assert [(e.event, e.raw) for e in ended] == [("content_block_delta", b""), ("ping", delta + ping), ("error", error)]
    alone = (_Frames if shortcut else LineByLine)("m", "p", "r").feed(delta + error)
    assert [(e.event, e.raw) for e in alone] == [("content_block_delta", delta), ("error", error)]


@pytest.mark.parametrize(
    "read",
    [
        b"event: content_block_delta\ndata: {not json\n\n",
        b"event: content_block_delta\ndata: [1, 2]\n\n",
        b"event: content_block_delta\ndata: \xff\n\n",
        b"event: \xff\ndata: {}\n\n",
    ],
)
def test_a_bad_frame_is_the_same_error_either_way(read: bytes) -> None:
    outcomes = []
    for shortcut in (True, False):
        try:
            outcomes.append(events([read], shortcut=shortcut))
        except (GatewayError, UnicodeDecodeError) as exc:
            outcomes.append(type(exc).__name__ + ": " + str(exc))
    assert outcomes[0] == outcomes[1]


def test_an_error_event_ends_the_read() -> None:
    error = frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    read = frame("ping", {"type": "ping"}) + error + frame("ping", {"type": "ping"})
    assert [name for name, _ in events([read])[0]] == ["ping", "error"]
    assert events([read]) == events([read], shortcut=False)


@pytest.mark.parametrize(
    "read",
    [
        b"event: ping\nid: 7\ndata: {}\n\n",  # another field
        b": keep-alive\nevent: ping\ndata: {}\n\n",  # a comment
        b"event: ping\ndata: {}\ndata: {}\n\n",  # two data lines
        b"event: ping\ndata:{}\n\n",  # no space after the colon
        b"event: \ndata: {}\n\n",  # no name: the payload's type is the name
        b'data: {"type": "ping"}\n\n',  # no event line
        b"event: ping\ndata: {}\n\n\n",  # an extra blank line
        b"event: ping\ndata: {}\n\nevent: ping\ndata: {}\n",  # a frame cut short
    ],
)
def test_frames_of_other_shapes_get_the_line_by_line_events(read: bytes) -> None:
    outcomes = []
    for shortcut in (True, False):
        try:
            outcomes.append(events([read], shortcut=shortcut))
        except GatewayError as exc:  # two data lines join into a payload that is not JSON
            outcomes.append(type(exc).__name__ + ": " + str(exc))
    assert outcomes[0] == outcomes[1]


def relay() -> SSERelay:
    return SSERelay("client-model", "p", CallContext(request_id="req_1"))


def test_the_relay_hands_out_the_events_before_an_error_then_fails_with_it() -> None:
    decoder = relay()
    head = frame("message_start", {"type": "message_start", "message": {"model": "up"}})
    error = frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    delta = frame("content_block_delta", {"type": "content_block_delta", "index": 0})
    assert [e.event for e in decoder.feed(head, {"request-id": "req_up"})] == ["message_start"]
    assert decoder.failure is None
    assert decoder.end() == [] and isinstance(decoder.failure, ApiError)  # no message_stop: cut off
    decoder = relay()
    handed = decoder.feed(head + delta + error, {"request-id": "req_up"})
    assert [e.event for e in handed] == ["message_start", "content_block_delta"]
    failure = decoder.failure
    assert isinstance(failure, UpstreamError) and failure.status_code == 529
    assert failure.upstream_request_id == "req_up"


def test_the_relay_ends_with_a_last_frame_or_line_and_notes_the_upstream_once() -> None:
    ctx = CallContext(request_id="req_1")
    decoder = SSERelay("client-model", "p", ctx)
    stop = b'event: message_stop\ndata: {"type":"message_stop"}'  # no blank line, no line ending
    assert decoder.feed(STREAM.partition(b"event: message_stop")[0], {"request-id": "req_up"})
    assert decoder.feed(stop, {"request-id": "other"}) == []
    assert [e.event for e in decoder.end()] == ["message_stop"] and decoder.failure is None
    assert ctx.response_headers[UPSTREAM_REQUEST_ID_HEADER] == "req_up"  # the first read's headers
