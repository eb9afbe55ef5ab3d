"""The pure Bedrock translation: URLs, bodies, error bodies and event-stream chunk payloads."""

from __future__ import annotations

import base64

import pytest

from providers.bedrock import translate
from specgate.core.errors import UpstreamError


def test_endpoint_and_urls() -> None:
    assert translate.endpoint("eu-west-1", None) == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert translate.endpoint("eu-west-1", "http://127.0.0.1:9/") == "http://127.0.0.1:9"
    assert translate.invoke_url("https://h", "anthropic.claude-x-v1:0", stream=False) == (
        "https://h/model/anthropic.claude-x-v1:0/invoke"
    )
    arn = "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc"
    assert translate.invoke_url("https://h", arn, stream=True) == (
        "https://h/model/arn:aws:bedrock:us-east-1:1:application-inference-profile%2Fabc/invoke-with-response-stream"
    )
    assert translate.model_id("sonnet", {"sonnet": "anthropic.x"}) == "anthropic.x"
    assert translate.model_id("other", {"sonnet": "anthropic.x"}) == "other"


@pytest.mark.parametrize(
    ("request_body", "betas", "expected"),
    [
        ({"model": "m", "max_tokens": 1, "messages": []}, [], {"max_tokens": 1, "messages": []}),
        (
            {"model": "m", "stream": True, "betas": ["x"], "max_tokens": 1},
            ["x"],
            {"max_tokens": 1, "anthropic_beta": ["x"]},
        ),
    ],
)
def test_invoke_body(request_body: dict[str, object], betas: list[str], expected: dict[str, object]) -> None:
    assert translate.invoke_body(request_body, betas) == {**expected, "anthropic_version": "bedrock-2023-05-31"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b'{"message": "bad"}', "bad"), (b'{"Message": "Bad"}', "Bad"), (b"<html>", None), (b"[1]", None), (b"{}", None)],
)
def test_parse_error(raw: bytes, message: str | None) -> None:
    parsed = translate.parse_error(raw)
    assert (parsed.message if parsed else None) == message


def test_chunk_payload() -> None:
    inner = b'{"type":"ping"}'
    assert translate.chunk_payload(b'{"bytes":"' + base64.b64encode(inner) + b'","p":"ab"}') == inner
    assert translate.chunk_payload(b'{"bytes":"not base64!"}') is None
    assert translate.chunk_payload(b"[]") is None


@pytest.mark.parametrize(
    ("name", "status", "error_type"),
    [
        ("ThrottlingException", 429, "rate_limit_error"),
        ("ModelStreamErrorException", 500, "api_error"),
        ("ModelTimeoutException", 504, "timeout_error"),
        ("SomethingNew", 500, "api_error"),
    ],
)
def test_stream_exception(name: str, status: int, error_type: str) -> None:
    error = translate.stream_exception(name, b'{"message": "why"}', "up", "rid")
    assert isinstance(error, UpstreamError)
    assert (error.status_code, error.type, error.message, error.retryable) == (status, error_type, "why", False)
    assert translate.stream_exception(name, b"junk", "up", None).message == f"upstream 'up' reported {name}"
