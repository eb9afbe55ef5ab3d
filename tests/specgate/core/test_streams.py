"""The tapped stream: every tap sees every event, closers run once however the stream ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from specgate.core.streams import TappedStream, tapped
from specgate.core.types import SSEEvent

EVENTS = [SSEEvent(f"e{i}", {"type": f"e{i}"}) for i in range(3)]


class Source:
    """An event source that records whether it was closed, and can fail after some events."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.closed = 0
        self._fail_after = fail_after

    async def events(self) -> AsyncIterator[SSEEvent]:
        try:
            for i, event in enumerate(EVENTS):
                if i == self._fail_after:
                    raise RuntimeError("upstream cut")
                yield event
        finally:
            self.closed += 1


def watched(source: Source) -> tuple[TappedStream, list[str], list[str], list[bool]]:
    stream = TappedStream(source.events())
    first: list[str] = []
    second: list[str] = []
    ends: list[bool] = []
    stream.tap(lambda e: first.append(e.event))
    stream.tap(lambda e: second.append(e.event))

    async def closer(failed: bool) -> None:
        ends.append(failed)

    stream.on_close(closer)
    return stream, first, second, ends


async def test_every_tap_sees_every_event_and_closers_run_once_at_the_end() -> None:
    source = Source()
    stream, first, second, ends = watched(source)
    assert [e.event async for e in stream] == ["e0", "e1", "e2"]
    assert first == second == ["e0", "e1", "e2"]
    assert ends == [False]
    await stream.aclose()  # after the end: nothing runs twice
    assert ends == [False] and source.closed == 1


async def test_a_failing_source_closes_as_failed() -> None:
    source = Source(fail_after=1)
    stream, first, _, ends = watched(source)
    with pytest.raises(RuntimeError, match="upstream cut"):
        async for _ in stream:
            pass
    assert first == ["e0"] and ends == [True] and source.closed == 1


async def test_closed_part_way_or_before_the_first_step_still_settles() -> None:
    source = Source()
    stream, first, _, ends = watched(source)
    await anext(stream)
    await stream.aclose()  # the client left after one event
    assert first == ["e0"] and ends == [False] and source.closed == 1

    never = Source()
    unread, first, _, ends = watched(never)
    await unread.aclose()  # closed before it was ever iterated: a generator's finally would not run
    assert first == [] and ends == [False] and never.closed == 0  # the source never started either


async def test_each_closer_runs_even_when_one_before_it_raises() -> None:
    stream = TappedStream(Source().events())
    ran: list[str] = []

    async def broken(failed: bool) -> None:
        ran.append("broken")
        raise ValueError("settle failed")

    async def after(failed: bool) -> None:
        ran.append("after")

    stream.on_close(broken)
    stream.on_close(after)
    with pytest.raises(ValueError, match="settle failed"):
        await stream.aclose()
    assert ran == ["broken", "after"]


async def test_tapping_a_tapped_stream_adds_no_layer() -> None:
    stream = TappedStream(Source().events())
    assert tapped(stream) is stream
    assert isinstance(tapped(Source().events()), TappedStream)


async def test_a_first_delta_only_tap_sees_every_event_but_the_later_text_deltas() -> None:
    names = ["message_start", "content_block_start", *["content_block_delta"] * 3, "message_delta", "message_stop"]

    async def source() -> AsyncIterator[SSEEvent]:
        for name in names:
            yield SSEEvent(name, {"type": name})

    stream = TappedStream(source())
    few: list[str] = []
    every: list[str] = []
    stream.tap(lambda e: few.append(e.event), first_delta_only=True)
    stream.tap(lambda e: every.append(e.event))
    assert [e.event async for e in stream] == names
    assert every == names
    assert few == ["message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop"]
