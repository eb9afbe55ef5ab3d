"""What a streamed 2xx body becomes, apart from the HTTP client that reads it
(``providers.http.UpstreamClient.stream_decoded``): the ``StreamDecoder`` interface, the reads
themselves (``Reads``, for ``stream_chunks`` and ``stream_lines``), and the check of the answer's
content type (``JsonAnswer`` when a stream request was answered with one JSON body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

import aiohttp

from providers.answers import upstream_request_id
from providers.faults import Fault, map_fault
from specgate.core.errors import UpstreamError
from specgate.core.responses import header_safe

T = TypeVar("T")


class StreamDecoder(Protocol[T]):
    """Turns a streamed 2xx body into items as it arrives (``UpstreamClient.stream_decoded``):
    ``feed`` each read, ``end`` once the body has ended, ``answer`` instead of both when a
    stream request was answered with a JSON body. Where the body says the stream failed (an
    ``error`` event, a cut-off ending), the call returns the items before it and sets ``failure``,
    which the client raises once they are handed out."""

    failure: BaseException | None

    def feed(self, data: bytes, headers: Mapping[str, str]) -> list[T]: ...

    def end(self) -> list[T]: ...

    def answer(self, answer: JsonAnswer) -> list[T]: ...


class JsonAnswer(Exception):
    """A stream was asked for and the upstream answered one JSON body (2xx, ``application/json``)."""

    def __init__(self, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__("the upstream answered a stream request with JSON")
        self.body = body
        self.headers = headers


class Reads:
    """The ``StreamDecoder`` of ``stream_chunks`` and ``stream_lines``: each read as it comes, with
    the response's headers; a JSON answer is raised to the caller as it is."""

    __slots__ = ("failure",)

    def __init__(self) -> None:
        self.failure: BaseException | None = None

    def feed(self, data: bytes, headers: Mapping[str, str]) -> list[tuple[bytes, Mapping[str, str]]]:
        return [(data, headers)]

    def end(self) -> list[tuple[bytes, Mapping[str, str]]]:
        return []

    def answer(self, answer: JsonAnswer) -> list[tuple[bytes, Mapping[str, str]]]:
        raise answer


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def check_stream_type(resp: aiohttp.ClientResponse, provider: str, request_id: str | None) -> None:
    """A stream request's 2xx answer is an event stream (or untyped); a JSON body is raised as a
    ``JsonAnswer``, any other type is a retryable 502."""
    media = media_type(resp.headers)
    if media in ("", "text/event-stream"):
        return
    if media == "application/json" or media.endswith("+json"):
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            fault = map_fault(provider, exc, upstream_status=resp.status)
            fault.log(request_id)
            raise fault.error from exc
        raise JsonAnswer(raw, resp.headers)
    shown = media if header_safe(media) and len(media) <= 100 else "unprintable"
    error = UpstreamError(
        502,
        "api_error",
        f"upstream {provider!r} answered a stream request with content type {shown!r}, not text/event-stream",
        upstream_request_id=upstream_request_id(resp.headers),
        retryable=True,
    )
    Fault(provider, error, f"HTTP {resp.status} {media}", resp.status).log(request_id)
    raise error
