"""Raw HTTP against the message routes: versions, auth schemes, bad input, framing."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.http import request
from tests.support.sse import check_grammar

OK = {"model": "claude-x", "max_tokens": 32, "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture
def keyed(gateway_factory: Any) -> Any:
    return gateway_factory(
        {"auth": {"api_keys": ["sk-one", "sk-two"]}, "providers": [{"name": "echo", "type": "echo"}]}
    )


def test_version_2023_with_x_api_key(keyed: Any) -> None:
    r = request(
        keyed.url + "/v1/messages",
        body=OK,
        headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-one"},
    )
    assert r.status == 200, r.body
    assert r.json()["content"][0]["text"] == "Hello"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["request-id"].startswith("req_")
    assert r.headers["x-specgate-provider"] == "echo"


def test_version_2026_with_bearer(keyed: Any) -> None:
    r = request(
        keyed.url + "/v1/messages",
        body=OK,
        headers={"anthropic-version": "2026-10-21", "authorization": "Bearer sk-two"},
    )
    assert r.status == 200, r.body


@pytest.mark.parametrize("param", ["temperature", "top_p", "top_k"])
def test_version_2026_rejects_sampling_params(keyed: Any, param: str) -> None:
    body = {**OK, param: 0}
    headers = {"anthropic-version": "2026-10-21", "authorization": "Bearer sk-two"}
    r = request(keyed.url + "/v1/messages", body=body, headers=headers)
    assert r.status == 400
    assert r.json()["error"] == {
        "type": "invalid_request_error",
        "message": f"{param}: Extra inputs are not permitted",
    }
    ok = request(
        keyed.url + "/v1/messages",
        body=body,
        headers={"anthropic-version": "2023-06-01", "x-api-key": "sk-one"},
    )
    assert ok.status == 200


def test_unknown_version_is_rejected(keyed: Any) -> None:
    r = request(
        keyed.url + "/v1/messages",
        body=OK,
        headers={"anthropic-version": "1999-01-01", "x-api-key": "sk-one"},
    )
    assert r.status == 400
    assert "anthropic-version" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"x-api-key": "sk-one"}, 200),
        ({"authorization": "Bearer sk-one"}, 200),
        ({"authorization": "Basic " + base64.b64encode(b"anyone:sk-two").decode()}, 200),
        ({"x-bf-vk": "sk-two"}, 200),
        ({}, 401),
        ({"x-api-key": "sk-nope"}, 401),
        ({"authorization": "Bearer sk-nope"}, 401),
        ({"authorization": "Basic " + base64.b64encode(b"u:sk-nope").decode()}, 401),
        ({"x-bf-vk": "sk-nope"}, 401),
        ({"authorization": "garbage"}, 401),
        ({"authorization": "Basic !!!notbase64"}, 401),
        ({"x-api-key": "sk-nope", "authorization": "Bearer sk-one"}, 401),  # x-api-key wins
        ({"x-api-key": "sk-one", "authorization": "Bearer sk-nope"}, 200),
    ],
)
def test_auth_schemes(keyed: Any, headers: dict[str, str], status: int) -> None:
    r = request(keyed.url + "/v1/messages", body=OK, headers=headers)
    assert r.status == status, r.body
    if status == 401:
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
        assert body["request_id"] == r.headers["request-id"]
        assert "sk-nope" not in r.body.decode() and "sk-one" not in r.body.decode()


def test_open_endpoints_need_no_key(keyed: Any) -> None:
    assert request(keyed.url + "/healthz", "GET").status == 200
    assert request(keyed.url + "/openapi.json", "GET").status == 200
    assert request(keyed.url + "/docs/", "GET").status == 200


def test_beta_query_and_header_accepted(gateway: Any) -> None:
    r = request(gateway.url + "/v1/messages?beta=true", body=OK, headers={"anthropic-beta": "a-1, b-2"})
    assert r.status == 200


def test_consecutive_same_role_turns_allowed(gateway: Any) -> None:
    body = {**OK, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
    assert request(gateway.url + "/v1/messages", body=body).status == 200


def test_chunked_body_is_read(gateway: Any) -> None:
    r = request(gateway.url + "/v1/messages", body=OK, chunked=True)
    assert r.status == 200, r.body
    assert r.json()["content"][0]["text"] == "Hello"


def test_chunked_body_over_the_limit(gateway_factory: Any) -> None:
    gw = gateway_factory({"server": {"max_body_bytes": 2048}, "providers": [{"name": "echo", "type": "echo"}]})
    body = {**OK, "messages": [{"role": "user", "content": "x" * 4000}]}
    r = request(gw.url + "/v1/messages", body=body, chunked=True)
    assert r.status == 413
    assert r.json()["error"]["type"] == "request_too_large"


def test_curl_default_content_type_is_json(gateway: Any) -> None:
    r = request(gateway.url + "/v1/messages", body=OK, headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status == 200


def test_unsupported_media_type(gateway: Any) -> None:
    r = request(gateway.url + "/v1/messages", body=OK, headers={"content-type": "text/plain"})
    assert r.status == 415
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_not_found_and_method_not_allowed(gateway: Any) -> None:
    r = request(gateway.url + "/v1/nope", "GET")
    assert r.status == 404 and r.json()["error"] == {
        "type": "not_found_error",
        "message": "Not found: GET /v1/nope",
    }
    r = request(gateway.url + "/v1/messages", "GET")
    assert r.status == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.headers["request-id"] == r.json()["request_id"]


def test_stream_has_request_id_and_exact_grammar(gateway: Any) -> None:
    r = request(
        gateway.url + "/v1/messages",
        body={**OK, "stream": True, "messages": [{"role": "user", "content": "a b c"}]},
    )
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["request-id"].startswith("req_")
    events = check_grammar(r.body)
    assert "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta") == "a b c"


def test_stream_with_tools_and_thinking_grammar(gateway: Any) -> None:
    body = {
        "model": "m",
        "max_tokens": 2000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [
            {
                "name": "alpha",
                "input_schema": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
            {
                "name": "beta",
                "input_schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "required": ["n"],
                },
            },
        ],
        "messages": [{"role": "user", "content": "/tool alpha,beta please"}],  # the echo directive
    }
    r = request(gateway.url + "/v1/messages", body=body)
    events = check_grammar(r.body)
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["thinking", "tool_use", "tool_use"]
    deltas = {e["delta"]["type"] for e in events if e["type"] == "content_block_delta"}
    assert {"thinking_delta", "signature_delta", "input_json_delta"} <= deltas
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_envelope_route(gateway: Any) -> None:
    r = request(gateway.url + "/api/v1/messages", body=OK)
    assert r.status == 200
    body = r.json()
    assert body["success"] is True and body["code"] == "200" and body["message"] == "successful"
    assert body["data"]["type"] == "message" and body["data"]["content"][0]["text"] == "Hello"
    bad = request(gateway.url + "/api/v1/messages", body={"model": "m", "messages": []})
    assert bad.status == 400
    assert bad.json() == {
        "success": False,
        "code": "400",
        "message": "max_tokens: Field required",
        "data": None,
    }
    assert bad.headers["request-id"].startswith("req_")


def test_envelope_stream(gateway: Any) -> None:
    import json

    r = request(
        gateway.url + "/api/v1/messages",
        body={**OK, "stream": True, "messages": [{"role": "user", "content": "x y"}]},
    )
    lines = [line for line in r.body.decode().split("\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "claude-x" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "x y"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
