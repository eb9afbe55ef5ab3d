"""The Bedrock adapter against a fake Bedrock Runtime on 127.0.0.1 that checks every SigV4
signature with botocore and answers in AWS event-stream framing."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from providers.base import Provider
from providers.bedrock import create
from specgate.core.config import CloudConfig
from specgate.core.errors import ApiError, UpstreamError
from specgate.core.types import SSEEvent
from tests.fakes.anthropic_upstream import TEXT_PIECES
from tests.fakes.bedrock_upstream import (
    BadChecksum,
    FakeBedrock,
    RawFrames,
    StreamException,
    bedrock_error,
    event_message,
)
from tests.fakes.server import Cut
from tests.providers.bedrock.conftest import ACCESS_KEY
from tests.providers.grammar import check_stream
from tests.providers.support import collect, config, ctx

Json = dict[str, Any]
REQUEST: Json = {"model": "claude-client", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
MODEL_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TOOLS: Json = {
    "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "tool", "name": "get_weather"},
}


def bedrock_config(server: FakeBedrock, **cloud: Any) -> Any:
    fields = {"region": server.region, "model_ids": {"claude-sonnet-4-5": MODEL_ID}, **cloud}
    return config(server.url, "bedrock", api_keys=(), cloud=CloudConfig(**fields))


@pytest.fixture
async def provider(aws_env: Path, bedrock: FakeBedrock) -> AsyncIterator[Provider]:
    made = create(bedrock_config(bedrock))
    yield made
    await made.aclose()


async def test_create_signs_maps_the_model_and_sends_bedrocks_body(bedrock: FakeBedrock, provider: Provider) -> None:
    call = ctx(anthropic_beta=("b1,b2",))
    message = await provider.create_message({**REQUEST, "betas": ["b3"]}, "claude-sonnet-4-5", call)
    seen = bedrock.requests[0]
    assert seen.path == f"/model/{MODEL_ID}/invoke"
    assert seen.body == {
        "max_tokens": 32,
        "messages": REQUEST["messages"],
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["b1", "b2", "b3"],
    }
    assert bedrock.signed_with == [ACCESS_KEY]
    assert seen.headers["x-amz-security-token"] == "fake-session-token"
    assert message["model"] == "claude-client"
    assert message["content"] == [{"type": "text", "text": "".join(TEXT_PIECES)}]
    assert call.response_headers["x-specgate-upstream-request-id"] == "bedrock-req-1"


async def test_an_inference_profile_arn_is_percent_encoded_and_signed(bedrock: FakeBedrock, provider: Provider) -> None:
    await provider.create_message(REQUEST, PROFILE_ARN, ctx())
    assert bedrock.requests[0].path == "/model/" + PROFILE_ARN.replace("/", "%2F") + "/invoke"
    assert bedrock.signed_with == [ACCESS_KEY]


async def test_stream_decodes_the_event_stream(bedrock: FakeBedrock, provider: Provider) -> None:
    events = await collect(provider.stream_message(REQUEST, "claude-sonnet-4-5", ctx()), [])
    message = check_stream(events)
    assert message["model"] == "claude-client"
    assert message["content"] == [{"type": "text", "text": "".join(TEXT_PIECES)}]
    assert bedrock.requests[0].path == f"/model/{MODEL_ID}/invoke-with-response-stream"
    assert "stream" not in bedrock.requests[0].body
    assert events[-1].raw is not None and events[-1].raw.startswith(b"event: message_stop\ndata: {")


async def test_tools_create_and_stream(provider: Provider) -> None:
    message = await provider.create_message({**REQUEST, **TOOLS}, MODEL_ID, ctx())
    assert message["stop_reason"] == "tool_use"
    assert message["content"][0]["input"] == {"city": "Paris"}
    streamed = check_stream(await collect(provider.stream_message({**REQUEST, **TOOLS}, MODEL_ID, ctx()), []))
    assert streamed["content"][0]["name"] == "get_weather" and streamed["content"][0]["input"] == {"city": "Paris"}


@pytest.mark.parametrize(
    ("status", "exception", "client"),
    [
        (400, "ValidationException", (400, "invalid_request_error", "messages: bad")),
        (
            403,
            "AccessDeniedException",
            (502, "api_error", "upstream 'up' refused the gateway's credentials (HTTP 403)"),
        ),
        (
            404,
            "ResourceNotFoundException",
            (502, "api_error", "upstream 'up' does not know the configured model or resource (HTTP 404)"),
        ),
    ],
)
async def test_errors_are_mapped(
    bedrock: FakeBedrock, provider: Provider, status: int, exception: str, client: tuple[int, str, str]
) -> None:
    bedrock.script(bedrock_error(status, exception, "messages: bad"))
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, MODEL_ID, ctx())
    assert (info.value.status_code, info.value.type, info.value.message) == client
    assert len(bedrock.requests) == 1  # not retried


async def test_throttling_and_unavailable_are_retried(bedrock: FakeBedrock, provider: Provider) -> None:
    bedrock.script(
        bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        bedrock_error(503, "ServiceUnavailableException", "Service unavailable"),
    )
    message = await provider.create_message(REQUEST, MODEL_ID, ctx())
    assert message["type"] == "message"
    assert len(bedrock.requests) == 3 and bedrock.signed_with == [ACCESS_KEY] * 3


async def test_throttling_exhausts_retries(bedrock: FakeBedrock, provider: Provider) -> None:
    bedrock.script(*[bedrock_error(429, "ThrottlingException", "Too many requests")] * 3)
    with pytest.raises(UpstreamError) as info:
        await provider.create_message(REQUEST, MODEL_ID, ctx())
    assert (info.value.status_code, info.value.type, info.value.message) == (
        429,
        "rate_limit_error",
        "Too many requests",
    )


@pytest.mark.parametrize(
    ("exception", "status", "error_type"),
    [
        ("ModelStreamErrorException", 500, "api_error"),
        ("ThrottlingException", 429, "rate_limit_error"),
        ("ValidationException", 400, "invalid_request_error"),
        ("ServiceUnavailableException", 529, "overloaded_error"),
    ],
)
async def test_a_stream_exception_ends_the_stream(
    bedrock: FakeBedrock, provider: Provider, exception: str, status: int, error_type: str
) -> None:
    bedrock.script(StreamException(after=4, exception=exception, message="it broke"))
    events: list[SSEEvent] = []
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream_message(REQUEST, MODEL_ID, ctx()), events)
    assert [e.event for e in events][:2] == ["message_start", "content_block_start"] and len(events) == 4
    assert (info.value.status_code, info.value.type, info.value.message) == (status, error_type, "it broke")


async def test_an_exception_before_any_event_is_an_http_error(bedrock: FakeBedrock, provider: Provider) -> None:
    bedrock.script(StreamException(after=0, exception="ValidationException", message="max_tokens: too big"))
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream_message(REQUEST, MODEL_ID, ctx()), [])
    assert (info.value.status_code, info.value.message) == (400, "max_tokens: too big")


async def test_a_cut_or_corrupt_event_stream_is_an_error(bedrock: FakeBedrock, provider: Provider) -> None:
    bedrock.script(Cut(after=3, clean=True))
    with pytest.raises(ApiError, match="before message_stop"):
        await collect(provider.stream_message(REQUEST, MODEL_ID, ctx()), [])
    bedrock.script(BadChecksum(after=2))
    events: list[SSEEvent] = []
    with pytest.raises(ApiError, match="malformed event-stream framing"):
        await collect(provider.stream_message(REQUEST, MODEL_ID, ctx()), events)
    assert len(events) == 2


async def test_a_wrong_secret_is_refused_by_the_signature_check(
    bedrock: FakeBedrock, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    made = create(bedrock_config(bedrock))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, MODEL_ID, ctx())
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.message) == (
        502,
        "upstream 'up' refused the gateway's credentials (HTTP 403)",
    )
    assert bedrock.signed_with == []


async def test_no_credentials_is_a_502_naming_the_provider(
    bedrock: FakeBedrock, aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    made = create(bedrock_config(bedrock, aws_profile="missing"))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, MODEL_ID, ctx())
    finally:
        await made.aclose()
    assert (info.value.status_code, info.value.message) == (502, "upstream 'up' could not obtain AWS credentials")
    assert bedrock.requests == []


def _credential_process(tmp: Path, lifetime_s: int) -> str:
    """A ``credential_process`` that hands out a new access key each run (AKIDPROC1, 2, …)."""
    script = tmp / "creds.py"
    script.write_text(
        "import datetime, json, pathlib\n"
        f"counter = pathlib.Path({str(tmp / 'runs')!r})\n"
        "n = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "counter.write_text(str(n))\n"
        f"until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds={lifetime_s})\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'AKIDPROC{n}', 'SecretAccessKey': f'secret{n}',"
        " 'SessionToken': f'token{n}', 'Expiration': until.strftime('%Y-%m-%dT%H:%M:%SZ')}))\n"
    )
    return f"{sys.executable} {script}"


# inside the window botocore refreshes at every use (so the first call, too, signs with a second run's key)
@pytest.mark.parametrize(
    ("lifetime_s", "keys"), [(7200, ["AKIDPROC1", "AKIDPROC1"]), (720, ["AKIDPROC2", "AKIDPROC3"])]
)
async def test_credentials_from_a_profile_are_refreshed_before_they_expire(
    bedrock: FakeBedrock, aws_env: Path, monkeypatch: pytest.MonkeyPatch, lifetime_s: int, keys: list[str]
) -> None:
    """A profile's credential_process (the chain's refreshable kind): kept while fresh, run again
    once inside botocore's refresh window (15 minutes before expiry)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    (aws_env / "aws-config").write_text(
        f"[profile rotating]\ncredential_process = {_credential_process(aws_env, lifetime_s)}\n"
    )
    for n in (1, 2, 3, 4):
        bedrock.allow(f"AKIDPROC{n}", f"secret{n}", f"token{n}")
    made = create(bedrock_config(bedrock, aws_profile="rotating"))
    try:
        for _ in range(2):
            await made.create_message(REQUEST, MODEL_ID, ctx())
    finally:
        await made.aclose()
    assert bedrock.signed_with == keys
    assert [r.headers["x-amz-security-token"] for r in bedrock.requests] == [
        k.replace("AKIDPROC", "token") for k in keys
    ]


def test_process_credentials_script_is_valid_json(tmp_path: Path) -> None:
    import subprocess

    out = subprocess.run(_credential_process(tmp_path, 60).split(), capture_output=True, check=True, text=True)
    parsed = json.loads(out.stdout)
    assert parsed["AccessKeyId"] == "AKIDPROC1" and parsed["Expiration"] > time.strftime("%Y")


async def test_an_event_stream_error_message_ends_the_stream(bedrock: FakeBedrock, provider: Provider) -> None:
    """``:message-type: error`` (the framing's own errors) carries its code and message in headers."""
    error = event_message({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b"")
    bedrock.script(RawFrames(after=3, frame=error))
    events: list[SSEEvent] = []
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream_message(REQUEST, MODEL_ID, ctx()), events)
    assert len(events) == 3 and (info.value.status_code, info.value.message) == (500, "oops")


async def test_fixed_and_forwarded_headers_are_signed(aws_env: Path, bedrock: FakeBedrock) -> None:
    fields = {"region": bedrock.region, "model_ids": {"claude-sonnet-4-5": MODEL_ID}}
    cfg = config(
        bedrock.url,
        "bedrock",
        api_keys=(),
        cloud=CloudConfig(**fields),
        headers={"x-amz-client-tag": "fixed"},
        forward_headers=("x-amz-trace-*", "authorization"),
    )
    made = create(cfg)
    try:
        client = {"x-amz-trace-id": "t-1", "authorization": "Bearer client", "x-other": "no"}
        await made.create_message(REQUEST, "claude-sonnet-4-5", ctx(client_headers=client))
        events: list[SSEEvent] = []
        await collect(made.stream_message(REQUEST, "claude-sonnet-4-5", ctx(client_headers=client)), events)
    finally:
        await made.aclose()
    assert bedrock.signed_with == [ACCESS_KEY, ACCESS_KEY]
    for seen in bedrock.requests:
        signed = seen.headers["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        assert {"x-amz-client-tag", "x-amz-trace-id"} <= set(signed)
        assert seen.headers["x-amz-trace-id"] == "t-1" and seen.headers["x-amz-client-tag"] == "fixed"
        assert seen.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")  # the signature, not the client's
        assert "x-other" not in seen.headers
    assert events[-1].event == "message_stop"
