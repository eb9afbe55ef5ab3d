"""GET /metrics after a known sequence of requests against a real gateway and a fake upstream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import CollectorRegistry

from specgate.access import keyid
from specgate.ops.metrics import Metrics
from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.support import metrics as prom
from tests.support.http import Reply, request

KEY = "sk-metrics-secret-4f9a"
KEY_ID_SECRET = "metrics-test-key-id-secret"
AUTH = {"x-api-key": KEY}


def ops_config(upstream_url: str) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY], "key_id_secret": KEY_ID_SECRET},
        "providers": [
            {"name": "local", "type": "echo", "options": {"token_delay_ms": 5}},
            {
                "name": "up",
                "type": "anthropic",
                "base_url": upstream_url,
                "api_keys": ["sk-upstream-key"],
                "max_retries": 1,
                "retry_backoff_s": 0.01,
            },
        ],
        "models": [
            {"match": "claude-exact", "provider": "up", "fallbacks": ["echo-fallback"]},
            {"match": "echo-*", "provider": "local"},
        ],
    }


def message(model: str, text: str = "one two three", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}], **extra}


async def call(url: str, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Reply:
    return await asyncio.to_thread(request, url + path, method, body, AUTH if body is not None else {})


def usage_of_stream(raw: bytes) -> dict[str, int]:
    usage: dict[str, int] = {}
    for block in raw.decode().split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                found = data.get("usage") or (data.get("message") or {}).get("usage") or {}
                usage.update({k: v for k, v in found.items() if isinstance(v, int)})
    return usage


async def test_metrics_after_a_known_sequence(gateway_factory: Any, anthropic_upstream: FakeAnthropic) -> None:
    gw = gateway_factory(ops_config(anthropic_upstream.url))
    overloaded = anthropic_error(529, "overloaded_error", "busy")
    # 1. claude-exact: 529 twice (one retry), then falls back to echo
    anthropic_upstream.script(overloaded, overloaded)
    first = await call(gw.url, "/v1/messages", message("claude-exact"))
    assert first.status == 200 and first.headers["x-specgate-provider"] == "local"
    # 2. claude-exact: one 503 retried, then the upstream answers
    anthropic_upstream.script(anthropic_error(503, "api_error", "flaky"))
    second = await call(gw.url, "/v1/messages", message("claude-exact"))
    assert second.status == 200 and second.headers["x-specgate-provider"] == "up"
    # 3. a stream to a glob route, 4. an unknown model, 5. a bad key
    streamed = await call(gw.url, "/v1/messages", message("echo-anything-123", stream=True))
    assert streamed.status == 200
    unknown = await call(gw.url, "/v1/messages", message("no-such-model-xyz"))
    assert unknown.status == 404
    bad_key = await asyncio.to_thread(
        request, gw.url + "/v1/messages", "POST", message("echo-a"), {"x-api-key": "sk-wrong"}
    )
    assert bad_key.status == 401

    scraped = await call(gw.url, "/metrics", method="GET")
    assert scraped.status == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = await asyncio.to_thread(prom.settled, lambda: request(gw.url + "/metrics", "GET").body.decode())
    key_id = keyid.key_id(KEY_ID_SECRET.encode(), KEY)
    route = "/v1/messages"

    assert prom.value(text, "specgate_requests_total", route=route, model="claude-exact", status="200") == 2
    assert prom.value(text, "specgate_requests_total", model="claude-exact", provider="local") == 1
    assert prom.value(text, "specgate_requests_total", model="claude-exact", provider="up") == 1
    assert prom.value(text, "specgate_requests_total", model="echo-*", provider="local", status="200") == 1
    assert prom.value(text, "specgate_requests_total", model="other", provider="none", status="404") == 1
    assert prom.value(text, "specgate_requests_total", status="401") == 1
    assert prom.value(text, "specgate_request_duration_seconds_count", route=route) == 5

    assert prom.value(text, "specgate_upstream_retries_total", provider="up", reason="529") == 1
    assert prom.value(text, "specgate_upstream_retries_total", provider="up", reason="503") == 1
    assert prom.value(text, "specgate_upstream_errors_total", provider="up", reason="overloaded_error") == 1
    assert prom.value(text, "specgate_fallbacks_total", provider="up", reason="overloaded_error") == 1
    assert prom.value(text, "specgate_upstream_duration_seconds_count", provider="up", outcome="error") == 1
    assert prom.value(text, "specgate_upstream_duration_seconds_count", provider="up", outcome="ok") == 1
    assert prom.value(text, "specgate_upstream_duration_seconds_count", provider="local", outcome="ok") == 2

    assert prom.value(text, "specgate_time_to_first_token_seconds_count", model="echo-*", provider="local") == 1
    assert prom.value(text, "specgate_time_to_first_token_seconds_count", model="claude-exact") == 0

    exact_in = first.json()["usage"]["input_tokens"] + second.json()["usage"]["input_tokens"]
    exact_out = first.json()["usage"]["output_tokens"] + second.json()["usage"]["output_tokens"]
    tokens = "specgate_tokens_total"
    assert prom.value(text, tokens, model="claude-exact", key_id=key_id, type="input") == exact_in
    assert prom.value(text, tokens, model="claude-exact", key_id=key_id, type="output") == exact_out
    stream_usage = usage_of_stream(streamed.body)
    assert prom.value(text, tokens, model="echo-*", key_id=key_id, type="output") == stream_usage["output_tokens"]
    assert prom.value(text, tokens, model="echo-*", key_id=key_id, type="input") == stream_usage["input_tokens"]

    assert prom.value(text, "specgate_requests_in_flight") == 1  # the scrape itself
    assert prom.value(text, "specgate_rate_limit_rejections_total") == 0
    values = prom.label_values(text)
    assert KEY not in text and "sk-upstream-key" not in text and "sk-wrong" not in text
    assert "no-such-model-xyz" not in values and "echo-anything-123" not in values
    assert "one two three" not in text


async def test_unknown_paths_share_one_route_label(gateway: Any) -> None:
    for path in ("/v1/zzz-1", "/v1/zzz-2", "/random"):
        assert (await asyncio.to_thread(request, gateway.url + path, "GET")).status == 404
    assert (await asyncio.to_thread(request, gateway.url + "/healthz", "GET")).status == 200
    text = await asyncio.to_thread(prom.settled, lambda: request(gateway.url + "/metrics", "GET").body.decode())
    assert prom.value(text, "specgate_requests_total", route="other", status="404", model="none") == 3
    assert prom.value(text, "specgate_requests_total", route="/healthz", status="200") == 1
    again = await asyncio.to_thread(prom.settled, lambda: request(gateway.url + "/metrics", "GET").body.decode())
    assert prom.value(again, "specgate_requests_total", route="/metrics", model="none", status="200") >= 1
    assert "zzz" not in text


def test_metrics_api_for_other_components() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.count_rate_limited("key_abc")
    metrics.count_rate_limited(None)
    metrics.job_started("message")
    metrics.job_started("message")
    metrics.job_finished("message", "succeeded", 1.5)
    metrics.count_batch_items("errored", 3)
    metrics.count_tokens("m", "key_abc", {"input": 5, "output": 0})
    text = metrics.render().decode()
    assert prom.value(text, "specgate_rate_limit_rejections_total", key_id="key_abc") == 1
    assert prom.value(text, "specgate_rate_limit_rejections_total", key_id="anonymous") == 1
    assert prom.value(text, "specgate_jobs_active", kind="message") == 1
    assert prom.value(text, "specgate_jobs_total", kind="message", outcome="succeeded") == 1
    assert prom.value(text, "specgate_job_duration_seconds_sum", kind="message") == 1.5
    assert prom.value(text, "specgate_batch_items_total", outcome="errored") == 3
    assert prom.value(text, "specgate_tokens_total", model="m", type="input") == 5
    assert prom.value(text, "specgate_tokens_total", model="m", type="output") == 0
    assert prom.value(text, "specgate_worker_up") == 1


def test_each_app_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.count_rate_limited("k")
    assert prom.value(b.render().decode(), "specgate_rate_limit_rejections_total") == 0
    assert prom.value(a.render().decode(), "specgate_rate_limit_rejections_total") == 1
