"""x-specgate-overhead-ms: gateway time minus the time spent awaiting the upstream."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from specgate.wire.timing import Overhead
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.server import Delay

BODY = {"model": "claude-x", "max_tokens": 32, "messages": [{"role": "user", "content": "Hello"}]}
UPSTREAM_DELAY_S = 0.4


def test_upstream_time_is_excluded() -> None:
    overhead = Overhead()
    since = time.perf_counter()
    time.sleep(0.2)
    overhead.add_upstream(since)
    assert overhead.milliseconds() < 100
    time.sleep(0.1)
    assert 100 <= overhead.milliseconds() < 200  # gateway time after the upstream call counts
    assert overhead.header_value().decode().replace(".", "", 1).isdigit()


def _overhead_ms(headers: Any) -> float:
    value = headers["x-specgate-overhead-ms"]
    assert value.count(".") == 1 and len(value.split(".")[1]) == 3, value
    return float(value)


async def test_header_on_json_stream_and_error_responses(
    anthropic_upstream: FakeAnthropic, gateway_factory: Any
) -> None:
    gw = gateway_factory(
        {
            "providers": [
                {
                    "name": "up",
                    "type": "anthropic",
                    "base_url": anthropic_upstream.url,
                    "max_retries": 0,
                    "api_keys": ["sk-up"],
                }
            ],
            "models": [{"match": "claude-*", "provider": "up"}],
        }
    )
    anthropic_upstream.script(Delay(UPSTREAM_DELAY_S), Delay(UPSTREAM_DELAY_S))
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(gw.url + "/v1/messages", json=BODY) as resp:
            assert resp.status == 200
            await resp.read()
            elapsed_ms = (time.perf_counter() - started) * 1000
            overhead = _overhead_ms(resp.headers)
        assert elapsed_ms >= UPSTREAM_DELAY_S * 1000
        assert 0 < overhead < elapsed_ms - UPSTREAM_DELAY_S * 1000 + 1  # the upstream's delay is not in it

        async with session.post(gw.url + "/v1/messages", json={**BODY, "stream": True}) as resp:
            assert resp.status == 200
            overhead = _overhead_ms(resp.headers)  # sent with the headers, i.e. up to the first event
            assert b"message_stop" in await resp.read()
        assert 0 < overhead < UPSTREAM_DELAY_S * 1000

        async with session.post(gw.url + "/v1/messages", json={"model": "claude-x"}) as resp:
            assert resp.status == 400
            assert _overhead_ms(resp.headers) > 0
        async with session.post(gw.url + "/v1/messages", json={**BODY, "model": "gpt-unrouted"}) as resp:
            assert resp.status == 404
            assert _overhead_ms(resp.headers) > 0
    assert len(anthropic_upstream.requests) == 2
