"""The official Python SDK, unchanged, through a real gateway to the fake Vertex AI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic

from tests.fakes.anthropic_upstream import TEXT_PIECES
from tests.fakes.vertex_upstream import FakeVertex, google_error
from tests.providers.sdk_checks import check_create_stream_and_tools, check_error, gateway_config, sdk


async def test_sdk_create_stream_tools_count_and_errors(
    vertex: FakeVertex, service_account: Path, gateway_factory: Any
) -> None:
    provider = {
        "type": "vertex",
        "base_url": vertex.url,
        "project": "proj",
        "region": "us-east5",
        "credentials_file": str(service_account),
    }
    gw = gateway_factory(gateway_config(provider, "claude-sonnet-4-5", "claude-sonnet-4-5@20250929"))
    await check_create_stream_and_tools(
        gw.url, "claude-sonnet-4-5", text="".join(TEXT_PIECES), tool_input={"city": "Paris"}
    )
    assert vertex.token_requests == 1
    async with sdk(gw.url) as client:
        counted = await client.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}]
        )
    assert counted.input_tokens > 0
    vertex.script(google_error(400, "INVALID_ARGUMENT", "max_tokens: too large"))
    await check_error(gw.url, "claude-sonnet-4-5", anthropic.BadRequestError, "max_tokens: too large")
