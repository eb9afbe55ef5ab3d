"""The Anthropic adapter against a real fake Anthropic server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

from providers.anthropic import AnthropicProvider, create, merge_betas
from providers.base import Provider, TokenCounter
from specgate.core.errors import ApiError, UpstreamError
from specgate.core.types import SSEEvent
from tests.fakes.anthropic_upstream import TEXT_PIECES, FakeAnthropic, anthropic_error, frame
from tests.fakes.server import Cut, Delay, Reply, Reset
from tests.providers.grammar import check_stream
from tests.providers.support import collect, config, ctx

Json = dict[str, Any]

REQUEST: Json = {"model": "claude-client", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def provider(anthropic_upstream: FakeAnthropic) -> Any:
    made = create(config(anthropic_upstream.url, "anthropic"))
    yield made
    await made.aclose()


async def make(server: FakeAnthropic, **overrides: Any) -> AnthropicProvider:
    made = create(config(server.url, "anthropic", **overrides))
    assert isinstance(made, AnthropicProvider)
    return made


def test_protocols(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    assert isinstance(provider, Provider) and isinstance(provider, TokenCounter)
    assert provider.type == "anthropic" and provider.name == "up"


async def test_create_relays_and_rewrites_model(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    message = await provider.create_message(REQUEST, "claude-upstream", ctx())
    seen = anthropic_upstream.requests[0]
    assert seen.path == "/v1/messages"
    assert seen.body == {**REQUEST, "model": "claude-upstream"}
    assert message["model"] == "claude-client"
    assert message["brand_new_field"] == {"kept": True}
    assert message["usage"]["inference_geo"] == "global"
    assert message["content"] == [{"type": "text", "text": "".join(TEXT_PIECES)}]


async def test_headers_betas_and_no_client_credentials(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    call = ctx(
        anthropic_version="2026-10-21",
        anthropic_beta=("b1, b2", "b1", " b3 "),
        extra={"authorization": "Bearer client-secret", "x-api-key": "client-secret"},
    )
    await provider.create_message({**REQUEST, "betas": ["b2", "b4"]}, "claude-upstream", call)
    seen = anthropic_upstream.requests[0]
    assert seen.headers["x-api-key"] == "key-1"
    assert "authorization" not in seen.headers
    assert "client-secret" not in orjson.dumps(seen.headers).decode()
    assert seen.headers["anthropic-version"] == "2026-10-21"
    assert seen.headers["anthropic-beta"] == "b1,b2,b3,b4"
    assert "betas" not in seen.body


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ((), None, []),
        (("a,b",), None, ["a", "b"]),
        (("a , ,b", "b"), ["c", "a"], ["a", "b", "c"]),
        ((), ["x"], ["x"]),
        (("a",), "not-a-list", ["a"]),
    ],
)
def test_merge_betas(header: tuple[str, ...], body: Any, expected: list[str]) -> None:
    assert merge_betas(header, body) == expected


async def test_stream_relays_events_with_raw_frames(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    events = await collect(provider.stream_message(REQUEST, "claude-upstream", ctx()), [])
    message = check_stream(events)
    assert message["model"] == "claude-client"
    assert message["content"] == [{"type": "text", "text": "".join(TEXT_PIECES)}]
    assert anthropic_upstream.requests[0].body["stream"] is True
    # what the client is sent: the events' frames (those of one read in one piece, the last
    # event of the read carrying them: relay.one_write)
    assert all(e.raw is not None for e in events)
    sent = b"".join(e.raw or b"" for e in events)
    start, _, rest = sent.partition(b"\n\n")
    assert b'"model":"claude-client"' in start
    assert orjson.loads(start.split(b"data: ", 1)[1]) == events[0].data
    # every other frame is relayed byte for byte
    upstream = anthropic_upstream.frames("claude-upstream", "msg_fake_1")
    assert rest == b"".join(upstream[1:])


async def test_retries_5xx_then_succeeds(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(500, "api_error", "boom"), anthropic_error(503, "api_error", "busy"))
    message = await provider.create_message(REQUEST, "m", ctx())
    assert message["type"] == "message"
    assert len(anthropic_upstream.requests) == 3


async def test_529_exhausts_retries(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(*[anthropic_error(529, "overloaded_error", "Overloaded")] * 3)
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, "m", ctx())
    assert (info.value.status_code, info.value.type, info.value.message) == (
        529,
        "overloaded_error",
        "Overloaded",
    )
    assert info.value.upstream_request_id == "req_fake_err"
    assert len(anthropic_upstream.requests) == 3


async def test_400_is_not_retried(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(400, "invalid_request_error", "messages: bad"))
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, "m", ctx())
    assert (info.value.status_code, info.value.type) == (400, "invalid_request_error")
    assert len(anthropic_upstream.requests) == 1


async def test_x_should_retry_false_is_honoured(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(500, "api_error", "no", **{"x-should-retry": "false"}))
    with pytest.raises(UpstreamError):
        await provider.create_message(REQUEST, "m", ctx())
    assert len(anthropic_upstream.requests) == 1


async def test_honours_retry_after(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "0.4"}))
    started = time.monotonic()
    await provider.create_message(REQUEST, "m", ctx())
    assert 0.4 <= time.monotonic() - started < 4.0  # honoured, and no long backoff on top
    assert len(anthropic_upstream.requests) == 2


async def test_retry_after_ms_wins(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    headers = {"retry-after-ms": "300", "retry-after": "30"}
    anthropic_upstream.script(anthropic_error(429, "rate_limit_error", "slow down", **headers))
    started = time.monotonic()
    await provider.create_message(REQUEST, "m", ctx())
    assert 0.3 <= time.monotonic() - started < 4.0  # retry-after (30 s) would be far longer


async def test_retry_after_beyond_deadline_fails_fast(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "30"}))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, "m", ctx(deadline_in=2.0))
    assert time.monotonic() - started < 1.8  # not the 30 s retry-after, and within the 2 s deadline
    assert (info.value.status_code, info.value.type) == (429, "rate_limit_error")
    assert info.value.headers == {"retry-after": "30"}
    assert len(anthropic_upstream.requests) == 1


async def test_connection_reset_is_retried(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(Reset())
    message = await provider.create_message(REQUEST, "m", ctx())
    assert message["type"] == "message"
    assert len(anthropic_upstream.requests) == 2


async def test_connection_refused_is_an_upstream_error(anthropic_upstream: FakeAnthropic) -> None:
    url = anthropic_upstream.url
    await anthropic_upstream.stop()
    made = create(config(url, "anthropic", max_retries=1))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "m", ctx())
        assert (info.value.status_code, info.value.type) == (502, "api_error")
    finally:
        await made.aclose()


async def test_slow_first_byte_times_out_within_the_deadline(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(Delay(1.5), Delay(1.5), Delay(1.5))
    made = await make(anthropic_upstream)
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "m", ctx(deadline_in=0.6))
    finally:
        await made.aclose()
    assert time.monotonic() - started < 1.4  # the 0.6 s deadline, not 3 x 1.5 s of delays
    assert (info.value.status_code, info.value.type) == (504, "timeout_error")


async def test_read_timeout_does_not_cut_a_whole_answer(anthropic_upstream: FakeAnthropic) -> None:
    """read_timeout_s is the longest silence of a stream; a JSON answer has until timeout_s."""
    anthropic_upstream.script(Delay(1.0))
    made = await make(anthropic_upstream, read_timeout_s=0.3)
    try:
        message = await made.create_message(REQUEST, "m", ctx(deadline_in=3.0))
    finally:
        await made.aclose()
    assert message["type"] == "message"
    assert len(anthropic_upstream.requests) == 1


async def test_slow_stream_start_is_retried_then_succeeds(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(Delay(1.0))
    made = await make(anthropic_upstream, read_timeout_s=0.3)
    try:
        events = await collect(made.stream_message({**REQUEST, "stream": True}, "m", ctx(deadline_in=3.0)), [])
    finally:
        await made.aclose()
    assert events[-1].event == "message_stop"
    assert len(anthropic_upstream.requests) == 2


async def test_garbage_body_is_an_api_error(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(Reply(200, b"{not json"))
    with pytest.raises(ApiError, match="malformed message body"):
        await provider.create_message(REQUEST, "m", ctx())


async def test_garbage_error_body_keeps_status(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(Reply(502, b"<html>bad gateway</html>", {"content-type": "text/html"}))
    made = await make(anthropic_upstream, max_retries=0)
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "m", ctx())
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.type) == (502, "api_error")
    assert info.value.message == "upstream 'up' failed (HTTP 502)"  # the HTML stays in the log


async def test_keys_rotate(anthropic_upstream: FakeAnthropic) -> None:
    made = await make(anthropic_upstream, api_keys=("k1", "k2", "k3"))
    try:
        for _ in range(4):
            await made.create_message(REQUEST, "m", ctx())
    finally:
        await made.aclose()
    assert [r.headers["x-api-key"] for r in anthropic_upstream.requests] == ["k1", "k2", "k3", "k1"]


async def test_key_cools_down_after_401(anthropic_upstream: FakeAnthropic) -> None:
    anthropic_upstream.script(anthropic_error(401, "authentication_error", "invalid x-api-key"))
    made = await make(anthropic_upstream, api_keys=("k1", "k2"))
    try:
        await made.create_message(REQUEST, "m", ctx())  # k1 -> 401, retried with k2
        await made.create_message(REQUEST, "m", ctx())  # k1 still cooling down
    finally:
        await made.aclose()
    assert [r.headers["x-api-key"] for r in anthropic_upstream.requests] == ["k1", "k2", "k2"]


async def test_single_key_401_is_not_retried(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    anthropic_upstream.script(anthropic_error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, "m", ctx())
    # the gateway's own key was refused: the gateway's fault, not the client's
    assert (info.value.status_code, info.value.type) == (502, "api_error")
    assert info.value.message == "upstream 'up' refused the gateway's credentials (HTTP 401)"
    assert len(anthropic_upstream.requests) == 1


async def test_stream_status_errors_are_retried_before_the_first_event(
    anthropic_upstream: FakeAnthropic, provider: Provider
) -> None:
    anthropic_upstream.script(anthropic_error(529, "overloaded_error", "Overloaded"))
    events = await collect(provider.stream_message(REQUEST, "m", ctx()), [])
    check_stream(events)
    assert len(anthropic_upstream.requests) == 2


async def test_cut_stream_raises_after_events_and_is_not_retried(
    anthropic_upstream: FakeAnthropic, provider: Provider
) -> None:
    anthropic_upstream.script(Cut(after=4))
    events: list[SSEEvent] = []
    with pytest.raises(ApiError, match="prematurely"):
        await collect(provider.stream_message(REQUEST, "m", ctx()), events)
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
    ]
    assert len(anthropic_upstream.requests) == 1


async def test_stream_without_message_stop(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    frames = len(anthropic_upstream.frames("m", "x"))
    anthropic_upstream.script(Cut(after=frames - 1, clean=True))
    events: list[SSEEvent] = []
    with pytest.raises(ApiError, match="before message_stop"):
        await collect(provider.stream_message(REQUEST, "m", ctx()), events)
    assert events[-1].event == "message_delta"
    assert len(anthropic_upstream.requests) == 1


async def test_error_event_mid_stream(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    start = anthropic_upstream.frames("m", "msg_x")[0]
    error = frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    headers = {"content-type": "text/event-stream", "request-id": "req_mid"}
    anthropic_upstream.script(Reply(200, start + error, headers))
    events: list[SSEEvent] = []
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream_message(REQUEST, "m", ctx()), events)
    assert [e.event for e in events] == ["message_start"]
    assert (info.value.status_code, info.value.type, info.value.message) == (
        529,
        "overloaded_error",
        "Overloaded",
    )
    assert info.value.upstream_request_id == "req_mid"


async def test_crlf_framing(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    body = b"".join(anthropic_upstream.frames("m", "msg_x")).replace(b"\n", b"\r\n")
    anthropic_upstream.script(Reply(200, body, {"content-type": "text/event-stream"}))
    message = check_stream(await collect(provider.stream_message(REQUEST, "m", ctx()), []))
    assert message["content"][0]["text"] == "".join(TEXT_PIECES)


async def test_cancellation_closes_the_upstream_connection(
    anthropic_upstream: FakeAnthropic, provider: Provider
) -> None:
    anthropic_upstream.chunk_delay_s = 0.2
    first = asyncio.Event()

    async def consume() -> None:
        async for _event in provider.stream_message(REQUEST, "m", ctx()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(anthropic_upstream.disconnected.wait(), 2.0)
    assert anthropic_upstream.disconnects == 1


async def test_count_tokens(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    assert isinstance(provider, TokenCounter)
    body = {**REQUEST, "stream": True, "temperature": 0.5, "betas": ["b1"], "system": "s"}
    counted = await provider.count_tokens(body, "claude-upstream", ctx())
    seen = anthropic_upstream.requests[0]
    assert seen.path == "/v1/messages/count_tokens"
    assert seen.body == {"model": "claude-upstream", "messages": REQUEST["messages"], "system": "s"}
    assert seen.headers["anthropic-beta"] == "b1"
    assert counted == len(orjson.dumps(REQUEST["messages"])) // 4


async def test_count_tokens_bad_answer(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    assert isinstance(provider, TokenCounter)
    anthropic_upstream.script(Reply(200, {"tokens": 3}))
    with pytest.raises(ApiError, match="input_tokens"):
        await provider.count_tokens(REQUEST, "m", ctx())


async def test_last_frame_without_trailing_blank_line(anthropic_upstream: FakeAnthropic, provider: Provider) -> None:
    body = b"".join(anthropic_upstream.frames("m", "msg_x")).rstrip(b"\n")
    anthropic_upstream.script(Reply(200, body, {"content-type": "text/event-stream"}))
    events = await collect(provider.stream_message(REQUEST, "m", ctx()), [])
    assert check_stream(events)["stop_reason"] == "end_turn"


async def test_upstream_cookies_are_never_sent_back(anthropic_upstream: FakeAnthropic) -> None:
    # One session serves every client: a Set-Cookie from the upstream must not ride along on a
    # later request. A host name, not an IP (cookie jars ignore IP hosts); it is still loopback.
    by_name = create(config(anthropic_upstream.url.replace("127.0.0.1", "localhost"), "anthropic"))
    message = anthropic_upstream.message("claude-upstream", "msg_cookie")
    anthropic_upstream.script(Reply(200, message, headers={"set-cookie": "session=tenant-a; Path=/"}))
    try:
        await by_name.create_message(REQUEST, "claude-upstream", ctx())
        await by_name.create_message(REQUEST, "claude-upstream", ctx())
    finally:
        await by_name.aclose()
    assert [r.headers.get("cookie") for r in anthropic_upstream.requests] == [None, None]
