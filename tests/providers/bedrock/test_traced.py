"""Tracing through Bedrock: every attempt carries its own span's ``traceparent``, added before
the transport signs that attempt (the fake verifies every signature), a retried attempt
included. botocore's signer leaves ``traceparent`` out of ``SignedHeaders`` on purpose (its
``SIGNED_HEADERS_BLACKLIST``: proxies and meshes may rewrite trace headers), as AWS's SDKs do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.bedrock_upstream import FakeBedrock, bedrock_error
from tests.fakes.otlp_receiver import OTLPReceiver
from tests.providers.bedrock.conftest import ACCESS_KEY
from tests.providers.sdk_checks import gateway_config, sdk
from tests.specgate.ops.test_tracing import children, servers, spans_until

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HI: list[Any] = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def receiver() -> AsyncIterator[OTLPReceiver]:
    server = OTLPReceiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def signed_headers(authorization: str) -> list[str]:
    match = re.search(r"SignedHeaders=([^,]+),", authorization)
    assert match is not None, authorization
    return match[1].split(";")


async def test_each_attempt_sends_its_traceparent_and_a_valid_signature(
    aws_env: Path, bedrock: FakeBedrock, gateway_factory: Any, receiver: OTLPReceiver
) -> None:
    provider = {"type": "bedrock", "base_url": bedrock.url, "region": bedrock.region, "model_ids": {"sonnet": MODEL_ID}}
    cfg = gateway_config(provider, "claude-sonnet-4-5", "sonnet")
    cfg["tracing"] = {"endpoint": receiver.endpoint, "sample_ratio": 1.0, "export_interval_s": 0.1}
    gw = gateway_factory(cfg)
    bedrock.script(bedrock_error(429, "ThrottlingException", "Too many requests"))
    async with sdk(gw.url) as client:
        message = await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HI)
    assert message.stop_reason == "end_turn"
    assert len(bedrock.requests) == 2 and bedrock.signed_with == [ACCESS_KEY] * 2, "both attempts signed correctly"
    for request in bedrock.requests:
        signed = signed_headers(request.headers["authorization"])
        assert "traceparent" not in signed and {"host", "x-amz-date", "content-type"} <= set(signed)
    assert bedrock.requests[0].headers["x-amz-date"] <= bedrock.requests[1].headers["x-amz-date"]

    (server,) = servers(await spans_until(receiver, lambda s: servers(s)))
    attempts = children(receiver.spans, server)
    assert [a.attributes["specgate.attempt"] for a in attempts] == [1, 2]
    assert attempts[1].attributes["specgate.retry_reason"] == "429"
    assert attempts[0].attributes["gen_ai.system"] == "bedrock"
    sent = [r.headers["traceparent"].split("-")[1:3] for r in bedrock.requests]
    assert sent == [[server.trace_id, a.span_id] for a in attempts], "each attempt's own span upstream"
