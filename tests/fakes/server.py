"""The programmable part shared by the fake upstreams: a real aiohttp server on a free loopback
port that records every request and follows a per-request script of faults.

A script is a queue: each incoming request takes the next step (if any), otherwise it gets the
fake's normal answer. Steps:

* ``Reply(status, body, headers, delay_s=0)``: answer exactly this (``body``: JSON value or raw
  bytes), after ``delay_s`` (an upstream that is slow to fail: a gateway retrying inside);
* ``Reset()``: read the request, then abort the TCP connection without answering;
* ``Delay(seconds)``: wait before answering normally (a slow first byte);
* ``Cut(after, clean=False)``: stream normally but stop after ``after`` events/chunks, aborting
  the connection (``clean=False``) or ending the body properly (``clean=True``);
* ``Garble(after)``: stream ``after`` events/chunks, then bytes that break the chunked transfer
  encoding (a chunk size that is not hex), then abort the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

Json = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Cut:
    after: int
    clean: bool = False


@dataclass(frozen=True)
class Garble:
    after: int


Step = Reply | Reset | Delay | Cut | Garble


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw bytes when it was not JSON


class FakeServer:
    """Base class: subclasses add routes in ``routes`` and answer with ``respond_json`` /
    ``respond_stream``, which apply the script."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.disconnects = 0  # requests whose client went away mid-stream or during a Delay
        self.disconnected = asyncio.Event()
        self.chunk_delay_s = 0.0
        self.ignore_stream = False  # answer a stream request with the whole JSON answer (a proxy that drops "stream")
        self._script: deque[Step] = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting and recording

    def script(self, *steps: Step) -> None:
        self._script.extend(steps)

    @property
    def pending_steps(self) -> int:
        return len(self._script)

    async def record(self, request: web.Request) -> Recorded:
        raw = await request.read()
        try:
            body: Any = loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded = Recorded(request.method, request.path_qs, headers, body)
        self.requests.append(recorded)
        return recorded

    async def next_step(self, request: web.Request) -> tuple[Step | None, web.StreamResponse | None]:
        """The step for this request; a response if the step answers by itself."""
        step = self._script.popleft() if self._script else None
        wait = step.seconds if isinstance(step, Delay) else step.delay_s if isinstance(step, Reply) else 0.0
        if wait:
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:  # the client (the gateway) went away while we waited
                self.disconnects += 1
                self.disconnected.set()
                raise
        if isinstance(step, Reset):
            assert request.transport is not None
            request.transport.abort()
            return step, web.Response(status=500)
        elif isinstance(step, Reply):
            if isinstance(step.body, bytes):
                return step, web.Response(
                    status=step.status,
                    body=step.body,
                    headers={"content-type": "application/json", **step.headers},
                )
            return step, web.json_response(step.body, status=step.status, headers=step.headers, dumps=dumps)
        return step, None

    async def respond_stream(
        self, request: web.Request, step: Step | None, frames: Sequence[bytes], headers: dict[str, str]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                **headers,
            }
        )
        await resp.prepare(request)
        limit = step.after if isinstance(step, Cut | Garble) else len(frames)
        try:
            for frame in frames[:limit]:
                await resp.write(frame)
                if self.chunk_delay_s:
                    await asyncio.sleep(self.chunk_delay_s)
        except (ConnectionError, asyncio.CancelledError):
            self.disconnects += 1
            self.disconnected.set()
            raise
        if isinstance(step, Garble):
            assert request.transport is not None
            await asyncio.sleep(0.05)  # the frames first, on their own: the client has seen the status
            request.transport.write(b"zz\r\nnot a chunk\r\n")  # under the chunked framing
            await asyncio.sleep(0.05)
        if isinstance(step, Cut | Garble) and not (isinstance(step, Cut) and step.clean):
            assert request.transport is not None
            request.transport.abort()
            return resp
        await resp.write_eof()
        return resp


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # deeper than orjson writes (254 levels): the stdlib, unbounded
        with deep_recursion():
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: bytes) -> Any:
    """A real upstream parses what any JSON parser parses, not only what orjson does (1024 levels)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        with deep_recursion():
            return json.loads(raw)


@contextlib.contextmanager
def deep_recursion() -> Iterator[None]:
    # the stdlib's C encoder and decoder count nesting against the interpreter's recursion limit
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)
