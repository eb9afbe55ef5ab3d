"""The official Python SDK, unchanged, through a real gateway to the fake Bedrock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic

from tests.fakes.anthropic_upstream import TEXT_PIECES
from tests.fakes.bedrock_upstream import FakeBedrock, StreamException, bedrock_error
from tests.providers.bedrock.conftest import ACCESS_KEY
from tests.providers.sdk_checks import check_create_stream_and_tools, check_error, gateway_config, sdk

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def start(gateway_factory: Any, bedrock: FakeBedrock) -> Any:
    provider = {"type": "bedrock", "base_url": bedrock.url, "region": bedrock.region, "model_ids": {"sonnet": MODEL_ID}}
    return gateway_factory(gateway_config(provider, "claude-sonnet-4-5", "sonnet"))


async def test_sdk_create_stream_tools_and_errors(aws_env: Path, bedrock: FakeBedrock, gateway_factory: Any) -> None:
    """One gateway for all (starting one is the slow part)."""
    gw = start(gateway_factory, bedrock)
    await check_create_stream_and_tools(
        gw.url, "claude-sonnet-4-5", text="".join(TEXT_PIECES), tool_input={"city": "Paris"}
    )
    assert {r.path for r in bedrock.requests} == {
        f"/model/{MODEL_ID}/invoke",
        f"/model/{MODEL_ID}/invoke-with-response-stream",
    }
    assert bedrock.signed_with == [ACCESS_KEY] * len(bedrock.requests)
    assert all("sk-client" not in str(r.headers) for r in bedrock.requests)

    bedrock.script(bedrock_error(400, "ValidationException", "max_tokens: exceeds the model's limit"))
    await check_error(gw.url, "claude-sonnet-4-5", anthropic.BadRequestError, "max_tokens: exceeds the model's limit")
    bedrock.script(*[bedrock_error(429, "ThrottlingException", "Too many requests")] * 3)
    await check_error(gw.url, "claude-sonnet-4-5", anthropic.RateLimitError, "Too many requests")
    bedrock.script(StreamException(after=3, exception="ModelStreamErrorException", message="stream broke"))
    async with sdk(gw.url) as client:
        try:
            async with client.messages.stream(
                model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
            ) as stream:
                await stream.get_final_message()
        except anthropic.APIStatusError as exc:
            assert "stream broke" in str(exc.body)
        else:
            raise AssertionError("the stream's error event did not reach the SDK")
