"""What tracing costs per request, in-process: CPU per request with tracing off and on.

Drives two ASGI apps directly, one tracing every request (``sample_ratio: 1.0``) and one not,
their rounds alternating so both see the same machine. No sockets on the request path (the echo
provider answers in process), so the figure is the gateway's own CPU; ``time.process_time``
counts every thread, the exporter's included: each round ends by flushing what was traced to an
OTLP sink (another process, on loopback). Best of ``--rounds`` rounds of ``--requests`` requests
each, so a busy machine inflates the figures less.
``python -m bench.tracing_cost --sink http://127.0.0.1:P/v1/traces``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from specgate.app import create_app
from specgate.core.config import parse_config

BODY = orjson.dumps({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello there"}]})


def app_for(sink: str | None, upstream: str | None = None) -> Any:
    """Every model to the echo provider, or (``upstream``) to an ``anthropic`` provider at that URL
    (``python -m bench.upstream``, another process: an aiohttp client call per request, as served)."""
    provider: dict[str, Any] = {"name": "echo", "type": "echo"}
    if upstream is not None:
        provider = {"name": "echo", "type": "anthropic", "base_url": upstream, "api_keys": ["sk-bench-upstream"]}
    raw: dict[str, Any] = {
        "providers": [provider],
        "models": [{"match": "*", "provider": "echo"}],
        "logging": {"level": "warning"},
    }
    if sink is not None:
        raw["tracing"] = {"endpoint": sink, "sample_ratio": 1.0, "export_interval_s": 3600}
    return create_app(parse_config(raw, source="bench", known_provider_types=("echo", "anthropic")))


async def request(app: Any, state: dict[str, Any], path: str = "/v1/messages") -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": dict(state),
    }  # fmt: skip
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app: Any, state: dict[str, Any]) -> tuple[asyncio.Queue[Any], asyncio.Task[None]]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    started = asyncio.Event()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}, queue.get, send))
    await started.wait()
    return queue, task


class Subject:
    """One app (tracing off or on), started, and the best CPU per request seen so far."""

    def __init__(self, sink: str | None, upstream: str | None = None) -> None:
        self.app = app_for(sink, upstream)
        self.state: dict[str, Any] = {}
        self.best = float("inf")

    async def start(self) -> None:
        self.queue, self.task = await lifespan(self.app, self.state)
        self.tracing = next((v.tracing for v in self.state.values() if hasattr(v, "tracing")), None)
        for _ in range(200):  # warm up
            assert await request(self.app, self.state) == 200
        self.flush()

    def flush(self) -> None:
        if self.tracing is not None:
            self.tracing.flush()  # the export's CPU counts (blocking here, on purpose)

    async def round(self, requests: int) -> None:
        start = time.process_time()
        for _ in range(requests):
            await request(self.app, self.state)
        self.flush()
        self.best = min(self.best, (time.process_time() - start) / requests * 1e6)

    async def stop(self) -> None:
        await self.queue.put({"type": "lifespan.shutdown"})
        await self.task


async def measure(sink: str, requests: int, rounds: int, upstream: str | None = None) -> tuple[float, float]:
    """Rounds alternate between the two apps, so both see the same machine."""
    off, on = Subject(None, upstream), Subject(sink, upstream)
    for subject in (off, on):
        await subject.start()
    for _ in range(rounds):
        for subject in (off, on):
            await subject.round(requests)
    for subject in (off, on):
        await subject.stop()
    return off.best, on.best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sink", required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--upstream", help="an Anthropic-compatible upstream (default: the echo provider)")
    args = parser.parse_args()
    off, on = asyncio.run(measure(args.sink, args.requests, args.rounds, args.upstream))
    extra = f"{on - off:+.0f} us, {(on / off - 1) * 100:+.0f}%"
    print(f"CPU per request: tracing off {off:.0f} us, on {on:.0f} us ({extra})")


if __name__ == "__main__":
    main()
