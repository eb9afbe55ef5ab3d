"""The Vertex AI adapter against a fake Vertex on 127.0.0.1 (OAuth bearer tokens from a
service account's JWT grant, ``:rawPredict`` and ``:streamRawPredict``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from providers.base import Provider, TokenCounter
from providers.vertex import create
from specgate.core.config import CloudConfig
from specgate.core.errors import UpstreamError
from tests.fakes.anthropic_upstream import TEXT_PIECES, anthropic_error
from tests.fakes.server import Reply
from tests.fakes.vertex_upstream import FakeVertex, google_error
from tests.providers.grammar import check_stream
from tests.providers.support import collect, config, ctx

Json = dict[str, Any]
REQUEST: Json = {"model": "claude-client", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
MODEL = "claude-sonnet-4-5@20250929"
PATH = f"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{MODEL}"
TOOLS: Json = {
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any"},
}


def vertex_config(server: FakeVertex, credentials_file: Path | None) -> Any:
    cloud = CloudConfig(
        project="proj",
        region="us-east5",
        credentials_file=str(credentials_file) if credentials_file else None,
        model_ids={"sonnet": MODEL},
    )
    return config(server.url, "vertex", api_keys=(), cloud=cloud)


@pytest.fixture
async def provider(vertex: FakeVertex, service_account: Path) -> AsyncIterator[Provider]:
    made = create(vertex_config(vertex, service_account))
    yield made
    await made.aclose()


async def test_create_with_a_bearer_token_and_vertex_body(vertex: FakeVertex, provider: Provider) -> None:
    message = await provider.create_message({**REQUEST, "betas": ["b1"]}, "sonnet", ctx(anthropic_beta=("b0",)))
    seen = vertex.requests[0]
    assert seen.path == f"{PATH}:rawPredict"
    assert seen.headers["authorization"] == "Bearer ya29.fake-1"
    assert seen.headers["anthropic-beta"] == "b0,b1"
    assert seen.body == {"max_tokens": 32, "messages": REQUEST["messages"], "anthropic_version": "vertex-2023-10-16"}
    assert message["model"] == "claude-client"
    assert message["content"] == [{"type": "text", "text": "".join(TEXT_PIECES)}]


async def test_stream_raw_predict(vertex: FakeVertex, provider: Provider) -> None:
    message = check_stream(await collect(provider.stream_message(REQUEST, "sonnet", ctx()), []))
    assert message["model"] == "claude-client" and message["content"][0]["text"] == "".join(TEXT_PIECES)
    assert vertex.requests[0].path == f"{PATH}:streamRawPredict"
    assert vertex.requests[0].body["stream"] is True


async def test_tools_and_count_tokens(vertex: FakeVertex, provider: Provider) -> None:
    message = await provider.create_message({**REQUEST, **TOOLS}, MODEL, ctx())
    assert message["content"][0]["type"] == "tool_use" and message["content"][0]["input"] == {"city": "Paris"}
    streamed = check_stream(await collect(provider.stream_message({**REQUEST, **TOOLS}, MODEL, ctx()), []))
    assert streamed["content"][0]["input"] == {"city": "Paris"}
    assert isinstance(provider, TokenCounter)
    assert await provider.count_tokens(REQUEST, "sonnet", ctx()) > 0
    counted = vertex.requests[-1]
    assert counted.path.endswith("/models/count-tokens:rawPredict")
    assert counted.body["model"] == MODEL and "max_tokens" not in counted.body


@pytest.mark.parametrize(
    ("reply", "client"),
    [
        (google_error(400, "INVALID_ARGUMENT", "messages: bad"), (400, "invalid_request_error", "messages: bad")),
        (
            anthropic_error(400, "invalid_request_error", "max_tokens: bad"),
            (400, "invalid_request_error", "max_tokens: bad"),
        ),
        (
            google_error(403, "PERMISSION_DENIED", "Permission denied on resource project proj."),
            (502, "api_error", "upstream 'up' refused the gateway's credentials (HTTP 403)"),
        ),
        (
            google_error(404, "NOT_FOUND", "Publisher Model was not found"),
            (502, "api_error", "upstream 'up' does not know the configured model or resource (HTTP 404)"),
        ),
    ],
)
async def test_errors_are_mapped(
    vertex: FakeVertex, provider: Provider, reply: Reply, client: tuple[int, str, str]
) -> None:
    vertex.script(reply)
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, MODEL, ctx())
    assert (info.value.status_code, info.value.type, info.value.message) == client


async def test_quota_and_overload_are_retried(vertex: FakeVertex, provider: Provider) -> None:
    vertex.script(
        google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com"),
        anthropic_error(529, "overloaded_error", "Overloaded"),
    )
    assert (await provider.create_message(REQUEST, MODEL, ctx()))["type"] == "message"
    assert len(vertex.requests) == 3
    vertex.script(*[google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")] * 3)
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, MODEL, ctx())
    assert (info.value.status_code, info.value.type, info.value.message) == (429, "rate_limit_error", "Quota exceeded")


async def test_a_token_is_reused_while_valid(vertex: FakeVertex, provider: Provider) -> None:
    for _ in range(3):
        await provider.create_message(REQUEST, MODEL, ctx())
    assert vertex.token_requests == 1
    assert {r.headers["authorization"] for r in vertex.requests} == {"Bearer ya29.fake-1"}


async def test_a_token_near_expiry_is_refreshed_first(vertex: FakeVertex, provider: Provider) -> None:
    """google-auth holds a token invalid minutes before it expires: one that lives 60 s is
    refreshed before each use, so no call goes out with a token about to lapse."""
    vertex.token_lifetime_s = 60
    for _ in range(2):
        await provider.create_message(REQUEST, MODEL, ctx())
    assert vertex.token_requests == 2
    assert [r.headers["authorization"] for r in vertex.requests] == ["Bearer ya29.fake-1", "Bearer ya29.fake-2"]


async def test_application_default_credentials(vertex: FakeVertex, service_account: Path) -> None:
    made = create(vertex_config(vertex, None))  # ADC: GOOGLE_APPLICATION_CREDENTIALS
    try:
        await made.create_message(REQUEST, MODEL, ctx())
    finally:
        await made.aclose()
    assert vertex.requests[0].headers["authorization"] == "Bearer ya29.fake-1"


async def test_a_key_the_token_endpoint_does_not_trust_is_a_502(vertex: FakeVertex, tmp_path: Path) -> None:
    other = FakeVertex()  # a key pair the fake never saw
    other.port = vertex.port
    stranger = other.service_account(tmp_path / "stranger.json")
    made = create(vertex_config(vertex, stranger))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, MODEL, ctx())
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.message) == (502, "upstream 'up' could not obtain Google credentials")
    assert vertex.requests == []


async def test_a_revoked_token_is_renewed_once_and_the_call_made_again(vertex: FakeVertex, provider: Provider) -> None:
    """Tokens can be revoked before they expire: the 401 renews the token at once (whatever
    google-auth thinks of its expiry) and the same call goes again with the new one."""
    await provider.create_message(REQUEST, MODEL, ctx())
    vertex.revoke("ya29.fake-1")
    message = await provider.create_message(REQUEST, MODEL, ctx())
    assert message["type"] == "message" and vertex.token_requests == 2
    vertex.revoke("ya29.fake-2")
    streamed = check_stream(await collect(provider.stream_message(REQUEST, "sonnet", ctx()), []))
    assert streamed["content"][0]["text"] == "".join(TEXT_PIECES)
    assert [r.headers["authorization"].removeprefix("Bearer ya29.") for r in vertex.requests] == [
        "fake-1",
        "fake-1",
        "fake-2",
        "fake-2",
        "fake-3",
    ]


async def test_a_second_401_is_the_clients_502_after_one_renewal(vertex: FakeVertex, provider: Provider) -> None:
    refused = google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    vertex.script(refused, refused, refused)
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, MODEL, ctx())
    assert (info.value.status_code, info.value.message) == (
        502,
        "upstream 'up' refused the gateway's credentials (HTTP 401)",
    )
    assert len(vertex.requests) == 2 and vertex.token_requests == 2  # one renewal, not max_retries of them


async def test_concurrent_401s_share_one_renewal(vertex: FakeVertex, provider: Provider) -> None:
    await provider.create_message(REQUEST, MODEL, ctx())
    vertex.revoke("ya29.fake-1")
    answers = await asyncio.gather(*[provider.create_message(REQUEST, MODEL, ctx()) for _ in range(4)])
    assert all(a["type"] == "message" for a in answers)
    assert vertex.token_requests == 2


async def test_a_hanging_token_endpoint_is_a_503_within_the_bound(vertex: FakeVertex, service_account: Path) -> None:
    """A token (or metadata) server that never answers cannot hang requests: each waits at most
    the bound (the provider's timeout_s here), the refresh in flight is joined, not started again,
    and once the server answers the next call gets a token."""
    made = create(
        config(vertex.url, "vertex", api_keys=(), cloud=vertex_config(vertex, service_account).cloud, timeout_s=1.0)
    )
    vertex.token_delay_s = 30.0
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *[made.create_message(REQUEST, MODEL, ctx()) for _ in range(3)], return_exceptions=True
        )
        elapsed = time.monotonic() - started
        assert all(isinstance(r, UpstreamError) for r in results)
        error = results[0]
        assert isinstance(error, UpstreamError)
        assert (error.status_code, error.type, error.message) == (
            503,
            "api_error",
            "upstream 'up' could not obtain Google credentials in time (1 s)",
        )
        assert elapsed < 2.5 and vertex.token_requests == 1 and vertex.requests == []
        vertex.token_delay_s = 0.0
        await asyncio.sleep(1.2)  # the stuck refresh ends at its own HTTP timeout (the same bound)
        assert (await made.create_message(REQUEST, MODEL, ctx()))["type"] == "message"
    finally:
        await made.aclose()
