"""OpenTelemetry tracing end to end: a real OTLP/HTTP receiver on loopback decodes what the
gateway exports (protobuf, opentelemetry-proto), for a JSON call continuing the client's W3C
traceparent, a stream, a call retried and then served by its fallback, an async job and a batch;
the retry budget refusing a retry and a fallback; and tracing off loads no OpenTelemetry module."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI, openai_error
from tests.fakes.otlp_receiver import OTLPReceiver, ReceivedSpan
from tests.handlers.upstreams import CLIENT_KEY, config, sdk

HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Secret prompt text"}]}
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = "00f067aa0ba902b7"
ROUTES = [{"match": "primary", "provider": "ant", "upstream_model": "claude-upstream", "fallbacks": ["oai-text"]}]


@pytest.fixture
async def receiver() -> AsyncIterator[OTLPReceiver]:
    server = OTLPReceiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def spans_until(receiver: OTLPReceiver, done: Any, within_s: float = 20) -> list[ReceivedSpan]:
    deadline = time.monotonic() + within_s
    while not done(receiver.spans):
        if time.monotonic() > deadline:
            raise AssertionError(f"spans never arrived: {[(s.name, s.kind) for s in receiver.spans]}")
        await asyncio.sleep(0.05)
    return receiver.spans


def servers(spans: list[ReceivedSpan], route_suffix: str = "/messages") -> list[ReceivedSpan]:
    return [s for s in spans if s.kind == "server" and str(s.attributes.get("http.route", "")).endswith(route_suffix)]


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    found = [s for s in spans if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]
    return sorted(
        found, key=lambda s: (s.attributes.get("specgate.route_index", 0), s.attributes.get("specgate.attempt", 0))
    )


async def test_spans_for_json_stream_fallback_job_and_batch(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, receiver: OTLPReceiver
) -> None:
    cfg = config(anthropic_upstream.url, openai_upstream.url, models=ROUTES)
    cfg["tracing"] = {
        "endpoint": receiver.endpoint,
        "sample_ratio": 1.0,
        "service_name": "sg-test",
        "export_interval_s": 0.1,
    }
    gw = gateway_factory(cfg)
    traceparent = f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"
    async with sdk(gw.url) as client:
        # 1. JSON, continuing the client's trace
        message = await client.messages.create(model="ant-model", **HI, extra_headers={"traceparent": traceparent})
        json_spans = await spans_until(receiver, lambda s: servers(s))
        (server,) = servers(json_spans)
        assert server.trace_id == CLIENT_TRACE and server.parent_span_id == CLIENT_PARENT
        assert server.resource["service.name"] == "sg-test"
        attrs = server.attributes
        assert attrs["http.route"] == "/anthropic/v1/messages" and attrs["http.response.status_code"] == 200
        assert attrs["http.request.method"] == "POST" and attrs["gen_ai.request.model"] == "ant-model"
        assert attrs["specgate.key_id"].startswith("key_") and attrs["specgate.request_id"]
        assert attrs["gen_ai.usage.input_tokens"] == message.usage.input_tokens
        assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens
        (attempt,) = children(json_spans, server)
        assert attempt.kind == "client" and attempt.name == "chat claude-upstream"
        assert attempt.attributes["gen_ai.system"] == "anthropic"
        assert attempt.attributes["gen_ai.request.model"] == "ant-model"
        assert attempt.attributes["gen_ai.response.model"] == "claude-upstream"
        assert attempt.attributes["specgate.provider"] == "ant" and attempt.attributes["specgate.attempt"] == 1
        assert attempt.attributes["gen_ai.usage.output_tokens"] == message.usage.output_tokens
        upstream_tp = anthropic_upstream.requests[-1].headers["traceparent"]
        assert upstream_tp == f"00-{CLIENT_TRACE}-{attempt.span_id}-01", "the attempt's span goes upstream"

        # 2. a stream: the usage of its last event is on both spans
        async with client.messages.stream(model="ant-model", **HI) as stream:
            final = await stream.get_final_message()
        spans = await spans_until(receiver, lambda s: len(servers(s)) == 2)
        streamed = servers(spans)[1]
        assert streamed.trace_id != CLIENT_TRACE and streamed.parent_span_id == ""
        assert streamed.attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens
        (attempt,) = children(spans, streamed)
        assert attempt.attributes["gen_ai.usage.output_tokens"] == final.usage.output_tokens

        # 3. retried on the first route, then served by the fallback
        anthropic_upstream.script(*[anthropic_error(529, "overloaded_error", "busy")] * 3)
        raw = await client.messages.with_raw_response.create(model="primary", **HI)
        assert raw.headers["x-specgate-provider"] == "oai"
        spans = await spans_until(receiver, lambda s: len(servers(s)) == 3)
        retried = servers(spans)[2]
        attempts = children(spans, retried)
        assert [(a.attributes["specgate.provider"], a.attributes["specgate.attempt"]) for a in attempts] == [
            ("ant", 1), ("ant", 2), ("ant", 3), ("oai", 1),
        ]  # fmt: skip
        assert [a.attributes.get("specgate.retry_reason") for a in attempts] == [None, "529", "529", None]
        assert [a.status for a in attempts] == [2, 2, 2, 0]
        assert attempts[2].attributes["specgate.fallback"] is True
        assert (
            attempts[3].attributes["gen_ai.system"] == "openai" and attempts[3].attributes["specgate.route_index"] == 2
        )
        assert retried.attributes["specgate.retries"] == 2 and retried.attributes["specgate.fallbacks"] == 1

        # 4. an async job: its own trace, linked to the request that submitted it
        submitted = await client.messages.with_raw_response.create(
            model="ant-model", **HI, extra_headers={"x-bf-async": "true"}
        )
        job_id = submitted.headers["x-bf-async-id"]
        for _ in range(400):
            poll = await client.messages.with_raw_response.create(
                model="ant-model", **HI, extra_headers={"x-bf-async-id": job_id}
            )
            if poll.headers["x-bf-async-status"] == "completed":
                break
            await asyncio.sleep(0.025)
        spans = await spans_until(receiver, lambda s: any(x.name == "specgate.job" for x in s))
        (job,) = [s for s in spans if s.name == "specgate.job"]
        submit = next(
            s for s in servers(spans) if s.attributes["specgate.request_id"] == submitted.headers["request-id"]
        )
        assert job.parent_span_id == "" and job.trace_id != submit.trace_id
        assert job.links == [(submit.trace_id, submit.span_id)]
        assert job.attributes["specgate.key_id"] == submit.attributes["specgate.key_id"]
        (attempt,) = children(spans, job)
        assert attempt.attributes["gen_ai.system"] == "anthropic" and job.attributes["gen_ai.usage.output_tokens"] > 0

        # 5. a batch: each item's span is linked to the create request
        batch = await client.messages.batches.create(
            requests=[{"custom_id": f"r{i}", "params": {"model": "ant-model", **HI}} for i in range(2)]
        )
        for _ in range(400):
            if (await client.messages.batches.retrieve(batch.id)).processing_status == "ended":
                break
            await asyncio.sleep(0.025)
        spans = await spans_until(receiver, lambda s: len([x for x in s if x.name == "specgate.batch_item"]) == 2)
        create = servers(spans, "/messages/batches")[0]
        items = [s for s in spans if s.name == "specgate.batch_item"]
        assert all(item.links == [(create.trace_id, create.span_id)] for item in items)
        assert all(len(children(spans, item)) == 1 for item in items)

    # no prompt text, no key, anywhere
    for span in receiver.spans:
        for value in span.attributes.values():
            assert "Secret prompt" not in str(value) and CLIENT_KEY not in str(value)


def refusals(attempts: list[ReceivedSpan]) -> list[tuple[Any, Any]]:
    return [(a.attributes["specgate.provider"], a.attributes.get("specgate.retry_budget_refused")) for a in attempts]


async def test_attempt_spans_show_the_retry_budget_refusing(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, receiver: OTLPReceiver
) -> None:
    """Budget of 3 attempts: ant, ant, then the fallback oai whose retry the budget refuses; and
    oai, oai, oai, whose fallback to ant it refuses. The refusing attempt's span says which."""
    routes = [
        {"match": "ant-model", "provider": "ant", "upstream_model": "claude-upstream", "fallbacks": ["oai-text"]},
        {"match": "oai-first", "provider": "oai", "upstream_model": "fake-text", "fallbacks": ["ant-model"]},
    ]
    cfg = config(
        anthropic_upstream.url, openai_upstream.url, ant={"max_retries": 1}, oai={"max_retries": 2}, models=routes
    )
    cfg["server"] = {"retry_budget": {"max_attempts": 3}}
    cfg["tracing"] = {"endpoint": receiver.endpoint, "sample_ratio": 1.0, "export_interval_s": 0.1}
    gw = gateway_factory(cfg)
    anthropic_upstream.script(*[anthropic_error(503, "api_error", "primary down")] * 2)
    openai_upstream.script(*[openai_error(503, "down")] * 4)
    async with sdk(gw.url) as client:
        for model in ("ant-model", "oai-first"):
            with pytest.raises(anthropic.APIStatusError):
                await client.messages.create(model=model, **HI)
    spans = await spans_until(receiver, lambda s: len(servers(s)) == 2)
    by_model = {s.attributes["gen_ai.request.model"]: s for s in servers(spans)}
    attempts = children(spans, by_model["ant-model"])
    assert refusals(attempts) == [("ant", None), ("ant", None), ("oai", "retry")]
    attempts = children(spans, by_model["oai-first"])
    assert refusals(attempts) == [("oai", None), ("oai", None), ("oai", "fallback")]
    assert len(anthropic_upstream.requests) == 2 and len(openai_upstream.requests) == 4


def test_tracing_off_loads_no_opentelemetry() -> None:
    """With no ``tracing:`` the app is built and serves requests without importing OpenTelemetry."""
    script = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from specgate.app import create_app
        with TestClient(create_app()) as client:
            body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
            assert client.post("/v1/messages", json=body).status_code == 200
            assert client.post("/v1/messages", json={**body, "stream": True}).status_code == 200
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        assert not loaded, loaded
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_the_sampler_decides_new_traces_and_a_client_sampled_flag_is_followed(ratio: float) -> None:
    from specgate.core.config import TracingConfig
    from specgate.ops.tracing import Tracing

    tracing = Tracing(TracingConfig(endpoint="http://127.0.0.1:9/v1/traces", sample_ratio=ratio))
    try:
        ended: list[Any] = []
        tracing._sink = ended.append
        new = tracing.server("POST request", {})
        assert new.recording is (ratio == 1.0) and new.parent_id == 0
        assert new.traceparent()["traceparent"].endswith("-01" if ratio else "-00")  # goes upstream either way
        attempt = tracing.child(new, "chat m", {"a": 1})
        assert attempt.recording is new.recording and attempt.trace_id == new.trace_id
        for flag in ("01", "00"):
            carrier = {"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-{flag}", "tracestate": "v=1"}
            continued = tracing.server("POST request", carrier)
            assert f"{continued.trace_id:032x}" == CLIENT_TRACE and f"{continued.parent_id:016x}" == CLIENT_PARENT
            assert continued.recording is (flag == "01") and continued.remote_parent
            assert continued.traceparent() == {
                "traceparent": f"00-{CLIENT_TRACE}-{continued.span_id:016x}-{flag}",
                "tracestate": "v=1",
            }
            continued.end()
        job = tracing.background("specgate.job", [(1, 2, False)], {"specgate.key_id": "k"})
        assert job.recording is (ratio == 1.0) and job.parent_id == 0
        for span in (attempt, new, job):
            span.end()
        assert len(ended) == (4 if ratio else 1)
        if ratio:
            assert ended[-1].links == [(1, 2, False)] and ended[-1].attributes == {"specgate.key_id": "k"}
    finally:
        tracing.close()
