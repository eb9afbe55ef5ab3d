"""A provider type for tests of the gateway's own error paths: it fails on purpose.

The model name says what happens: ``fail-<status>`` raises the gateway error for that status
before anything is produced; ``cut-<n>`` streams the echo answer and raises an overloaded error
after ``n`` events (a failure after the stream started). Everything else behaves like echo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from providers.base import CallContext
from providers.echo import EchoProvider
from specgate.core.config import ProviderConfig
from specgate.core.errors import (
    ApiError,
    GatewayError,
    OverloadedError,
    RateLimitError,
    UpstreamError,
    error_type_for_status,
)
from specgate.core.types import Json, SSEEvent

_ERRORS: dict[int, type[GatewayError]] = {429: RateLimitError, 500: ApiError, 529: OverloadedError}


def _error_for(model: str) -> GatewayError | None:
    if not model.startswith("fail-"):
        return None
    status = int(model.removeprefix("fail-"))
    if status in _ERRORS:
        return _ERRORS[status](headers={"retry-after": "0"} if status == 429 else None)
    return UpstreamError(status, error_type_for_status(status), f"synthetic {status}")


class FaultyProvider(EchoProvider):
    type = "faulty"

    async def create_message(self, request: Json, upstream_model: str, ctx: CallContext) -> Json:
        error = _error_for(str(request["model"]))
        if error is not None:
            raise error
        return await super().create_message(request, upstream_model, ctx)

    async def stream_message(self, request: Json, upstream_model: str, ctx: CallContext) -> AsyncIterator[SSEEvent]:
        model = str(request["model"])
        error = _error_for(model)
        if error is not None:
            raise error
        limit = int(model.removeprefix("cut-")) if model.startswith("cut-") else None
        count = 0
        async for event in super().stream_message(request, upstream_model, ctx):
            if limit is not None and count >= limit:
                raise OverloadedError("Overloaded")
            count += 1
            yield event


def create(config: ProviderConfig) -> FaultyProvider:
    return FaultyProvider(config)
