"""The streamed body's silence watch, against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from providers.silence import watch_silence

Pace = list[float]  # seconds to wait before each chunk


async def _serve(pace: Pace) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i, wait in enumerate(pace):
            await asyncio.sleep(wait)
            await resp.write(f"event: n\ndata: {i}\n\n".encode())
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Pace], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(pace: Pace) -> str:
        runner, url = await _serve(pace)
        runners.append(runner)
        return url

    yield start
    for runner in runners:
        await runner.cleanup()


async def _read(url: str, limit_s: float, consumer_pause_s: float = 0.0, head_timeout: bool = False) -> list[bytes]:
    """Read the body as the upstream client does: mark each wait, hand each chunk on.

    Without ``head_timeout`` aiohttp times nothing, so only the watch can fail a read; with it,
    ``sock_read`` covers the head as in UpstreamClient and the watch must turn it off for the body."""
    got: list[bytes] = []
    timeout = aiohttp.ClientTimeout(sock_read=limit_s if head_timeout else None)
    async with aiohttp.ClientSession() as session, session.get(url, timeout=timeout) as resp:
        watch = watch_silence(resp, limit_s)
        try:
            while True:
                watch.since = watch.clock()
                data = await resp.content.readany()
                watch.since = None
                if not data:
                    break
                got.append(data)
                await asyncio.sleep(consumer_pause_s)  # a slow client downstream
        finally:
            watch.cancel()
        assert watch._handle is None  # no timer left behind
    return got


async def test_silence_past_the_limit_fails_the_read(serve: Callable[[Pace], Awaitable[str]]) -> None:
    url = await serve([0.0, 0.0, 1.5])
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(aiohttp.SocketTimeoutError):
        await _read(url, 0.3)
    # it fired near the limit after the second chunk, not at the end of the peer's wait
    assert loop.time() - started < 1.2


async def test_silence_before_the_first_event_counts(serve: Callable[[Pace], Awaitable[str]]) -> None:
    """The head is sent at once, then nothing: the body's silence is watched from the start."""
    url = await serve([1.5])
    with pytest.raises(aiohttp.SocketTimeoutError):
        await _read(url, 0.3)


async def test_steady_events_longer_in_total_than_the_limit_pass(
    serve: Callable[[Pace], Awaitable[str]],
) -> None:
    url = await serve([0.1] * 8)  # ~0.8 s in all, never silent for 0.3 s
    got = b"".join(await _read(url, 0.3))
    assert got.count(b"event: n") == 8


async def test_time_spent_on_a_slow_client_is_not_the_peers_silence(
    serve: Callable[[Pace], Awaitable[str]],
) -> None:
    """Each chunk is held downstream longer than the limit, and the next one is on the socket,
    0.35 s after the last, before the reader asks for it: the reader never waited. (aiohttp's own
    socket timer, left on, would fail this at 0.3 s.)"""
    url = await serve([0.0, 0.35, 0.35, 0.35])
    got = b"".join(await _read(url, 0.3, consumer_pause_s=0.45, head_timeout=True))
    assert got.count(b"event: n") == 4


async def test_the_connection_is_timed_again_on_its_next_request(
    serve: Callable[[Pace], Awaitable[str]],
) -> None:
    """The watch turns the connection's own read timer off; a pooled connection's next request
    sets its own (aiohttp sets the response params per request)."""
    url = await serve([0.2])  # the body comes after the head: the connection is still held
    async with aiohttp.ClientSession() as session:
        async with session.get(url, timeout=aiohttp.ClientTimeout(sock_read=0.3)) as resp:
            assert resp.connection is not None and resp.connection.protocol is not None
            protocol = resp.connection.protocol
            watch = watch_silence(resp, 0.3)
            assert protocol.read_timeout is None
            await resp.read()
            watch.cancel()
        async with session.get(url, timeout=aiohttp.ClientTimeout(sock_read=0.7)) as resp:
            assert resp.connection is None or resp.connection.protocol is protocol
            assert protocol.read_timeout == 0.7
            await resp.read()
