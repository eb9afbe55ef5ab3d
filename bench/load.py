"""A bounded closed-loop load generator: ``concurrency`` workers each send one request, wait for
the whole answer, and send the next, until the time limit or the request count is reached.

Only loopback URLs are accepted. Every response is checked (status 200; a stream must end with
its terminal event) and a failure is counted as an error, never as a latency sample.
"""

from __future__ import annotations

import asyncio
import base64
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

# the last event of an Anthropic SSE stream, an OpenAI one, and a Bedrock event stream (whose
# chunk payload starts with the base64 of '{"type":"message_stop"')
STREAM_END_MARKERS = (b"event: message_stop", b"data: [DONE]", base64.b64encode(b'{"type":"message_stop')[:28])
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Plan:
    url: str
    body: bytes
    headers: Mapping[str, str]
    concurrency: int
    duration_s: float  # measured window
    max_requests: int  # also a bound on the measured window
    warmup_s: float = 0.0
    stream: bool = False


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    overhead_ms: list[float] = field(default_factory=list)  # the gateway's own header, when sent

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the benchmark only talks to loopback addresses, not {host!r}")


async def _one(session: aiohttp.ClientSession, plan: Plan) -> tuple[float, float | None, float | None, str | None]:
    """Send one request: (latency ms, ttfb ms, gateway overhead ms, error kind)."""
    started = time.perf_counter()
    ttfb: float | None = None
    try:
        async with session.post(plan.url, data=plan.body, headers=plan.headers) as resp:
            overhead_raw = resp.headers.get("x-specgate-overhead-ms")
            overhead = float(overhead_raw) if overhead_raw is not None else None
            if resp.status != 200:
                await resp.read()
                return 0.0, None, None, f"http_{resp.status}"
            if not plan.stream:
                await resp.read()
            else:
                tail = b""
                async for data in resp.content.iter_any():
                    if ttfb is None and data:
                        ttfb = (time.perf_counter() - started) * 1000.0
                    tail = (tail + data)[-64:]
                if not any(marker in tail for marker in STREAM_END_MARKERS):
                    return 0.0, None, None, "stream_incomplete"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return 0.0, None, None, type(exc).__name__
    return (time.perf_counter() - started) * 1000.0, ttfb, overhead, None


async def run(plan: Plan, on_window: Callable[[bool], Awaitable[None]] | None = None) -> Result:
    """Run ``plan``. ``on_window(True)`` is awaited when the measured window opens (after the
    warm-up) and ``on_window(False)`` when it closes, so the caller can read CPU counters."""
    check_loopback(plan.url)
    raise_fd_limit(max(4096, plan.concurrency * 4 + 256))
    result = Result()
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=plan.concurrency, force_close=False, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=120)
    measuring = False
    stop_at = float("inf")
    issued = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        # Each worker sends at least one measured request, so a window shorter than one
        # response (a smoke run on a busy machine) still measures something.
        nonlocal issued
        measured_one = False
        while not (measured_one and loop.time() >= stop_at):
            counted = measuring
            measured_one = measured_one or counted
            if counted:
                if issued >= plan.max_requests:
                    return
                issued += 1
            latency, ttfb, overhead, error = await _one(session, plan)
            if not counted:
                continue
            if error is not None:
                result.error(error)
                continue
            result.latencies_ms.append(latency)
            if ttfb is not None:
                result.ttfb_ms.append(ttfb)
            if overhead is not None:
                result.overhead_ms.append(overhead)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        if plan.warmup_s > 0:
            tasks = [asyncio.create_task(worker(session)) for _ in range(plan.concurrency)]
            await asyncio.sleep(plan.warmup_s)
        if on_window is not None:
            await on_window(True)
        measuring = True
        started = loop.time()
        stop_at = started + plan.duration_s
        if plan.warmup_s <= 0:  # every request is measured, from the first one
            tasks = [asyncio.create_task(worker(session)) for _ in range(plan.concurrency)]
        await asyncio.gather(*tasks)
        result.elapsed_s = loop.time() - started
        if on_window is not None:
            await on_window(False)
    return result
