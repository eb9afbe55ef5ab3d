"""Helpers shared by the adapter tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from providers.base import CallContext
from specgate.core.config import ProviderConfig
from specgate.core.types import SSEEvent


def config(url: str, type_: str, **overrides: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "name": "up",
        "type": type_,
        "base_url": url,
        "api_keys": ("key-1",),
        "timeout_s": 5.0,
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        "max_retries": 2,
        "retry_backoff_s": 0.01,
        "retry_backoff_max_s": 0.05,
        **overrides,
    }
    return ProviderConfig(**fields)


def ctx(deadline_in: float | None = None, **fields: Any) -> CallContext:
    deadline = None if deadline_in is None else time.monotonic() + deadline_in
    return CallContext(request_id="req_test", deadline=deadline, **fields)


async def collect(stream: AsyncIterator[SSEEvent], into: list[SSEEvent]) -> list[SSEEvent]:
    """Collect events into ``into`` (so a test still sees them when the stream raises)."""
    async for event in stream:
        into.append(event)
    return into
