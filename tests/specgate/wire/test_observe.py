"""The request observer's pure parts: model labels and the observed stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from providers.router import Router
from specgate.core.config import ModelRoute
from specgate.core.streams import TappedStream
from specgate.core.types import SSEEvent
from specgate.dispatch.fallbacks import StreamSeen
from specgate.ops.metrics import Metrics
from specgate.wire.observe import RequestRecord, model_label


def test_model_labels_are_bounded_by_the_config() -> None:
    providers: Any = {"p": object()}
    router = Router([ModelRoute("claude-exact", "p"), ModelRoute("claude-*", "p"), ModelRoute("gpt-?", "p")], providers)
    assert model_label(router, "claude-exact") == "claude-exact"
    assert model_label(router, "claude-anything-the-client-says") == "claude-*"
    assert model_label(router, "gpt-4") == "gpt-?"
    assert model_label(router, "gpt-44") == "other"
    assert model_label(router, "") == "other"


async def test_observed_stream_reports_usage_and_first_token_and_closes_the_source() -> None:
    closed: list[bool] = []

    async def source() -> AsyncIterator[SSEEvent]:
        try:
            yield SSEEvent("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {}})
            yield SSEEvent("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {}})
            yield SSEEvent("message_delta", {"type": "message_delta", "usage": {"output_tokens": 7}})
        finally:
            closed.append(True)

    record = RequestRecord(Metrics())
    start = SSEEvent("message_start", {"message": {"usage": {"input_tokens": 5, "cache_read_input_tokens": 2}}})
    seen = StreamSeen(record)
    seen.see(start)
    stream = TappedStream(source())
    stream.tap(seen.see)
    assert [e.event async for e in stream] == ["content_block_delta", "content_block_delta", "message_delta"]
    assert record.tokens == {"input": 5, "cache_read": 2, "output": 7}
    assert record.first_token_s is not None

    half_read = TappedStream(source())
    half_read.tap(StreamSeen(record).see)
    await anext(half_read)
    await half_read.aclose()
    assert closed == [True, True]
