"""Every response shape the gateway builds, held to the installed official SDK's models key for key.

The SDK's pydantic models are lenient (extra keys allowed, most fields optional), so validating
against them proves little. Here the expected key set of every object is derived at run time from
``Model.model_fields``, recursively through nested models (Usage, CacheCreation, ServerToolUsage,
content blocks, stream deltas, ModelCapabilities, …): every declared field must be present as a
key (``null`` where empty) and no other key may appear. A new SDK that adds a field makes these
tests fail naming the model and the field. Union members are chosen by their ``type`` literal.

Shapes come from the echo provider directly (JSON and its stream) and over HTTP from a live
gateway: a Message, each stream event, count_tokens, ModelInfo and the models page, the async
job placeholder and result, a MessageBatch, its result lines, the deleted batch, and an error.
"""

from __future__ import annotations

import json
import time
import types
from importlib.metadata import version
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import anthropic.types as sdk
import anthropic.types.beta as beta_types
import pydantic
import pytest
from anthropic.pagination import SyncPage
from anthropic.types import messages as batch_types
from anthropic.types.shared import ErrorResponse

from providers.base import CallContext
from providers.echo import EchoProvider
from providers.events import message_to_events
from specgate.core.config import ProviderConfig
from tests.support.http import request
from tests.support.sse import parse_frames

SDK_VERSION = version("anthropic")
CTX = CallContext(request_id="req_shapes")
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# ---- the strict checker, derived from the SDK


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an annotation (Optional, Union and Annotated unwrapped)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, pydantic.BaseModel)


def _tags(model: type[pydantic.BaseModel]) -> set[Any]:
    field = model.model_fields.get("type")
    if field is None:
        return set()
    return {v for m in _members(field.annotation) if get_origin(m) is Literal for v in get_args(m)}


def _pick(models: list[type[pydantic.BaseModel]], value: dict[str, Any]) -> type[pydantic.BaseModel] | None:
    tagged = [m for m in models if value.get("type") in _tags(m)]
    if tagged:
        return tagged[0]
    return models[0] if len(models) == 1 else None


def problems(value: Any, annotation: Any, path: str) -> list[str]:
    """How ``value`` differs from the key sets the SDK declares for ``annotation`` (recursively)."""
    members = _members(annotation)
    if value is None:
        nullable = type(None) in members or any(m is Any or m is object for m in members)
        return [] if nullable else [f"{path}: null, but the SDK declares {annotation!r} (not nullable)"]
    models = [m for m in members if _is_model(m)]
    if models and isinstance(value, dict):
        model = _pick(models, value)
        if model is None:
            names = sorted(t for m in models for t in _tags(m))
            return [f"{path}: no SDK model for type {value.get('type')!r} (declared: {names})"]
        return model_problems(value, model, path)
    for member in members:
        if get_origin(member) is list and isinstance(value, list):
            (item,) = get_args(member)
            return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    return []  # scalars and free-form objects: their types are checked by model_validate


def model_problems(value: dict[str, Any], model: type[pydantic.BaseModel], path: str) -> list[str]:
    declared = {field.alias or name: field for name, field in model.model_fields.items()}
    found: list[str] = []
    missing = sorted(declared.keys() - value.keys())
    extra = sorted(value.keys() - declared.keys())
    if missing:
        found.append(f"{path} ({model.__name__}): missing {missing}, declared by anthropic {SDK_VERSION}")
    if extra:
        found.append(f"{path} ({model.__name__}): {extra} not declared by anthropic {SDK_VERSION}")
    for key, field in declared.items():
        if key in value:
            found.extend(problems(value[key], field.annotation, f"{path}.{key}"))
    return found


def assert_exact(value: Any, model: Any, path: str) -> None:
    """``value`` has exactly the SDK's keys, recursively, and validates as the SDK type."""
    found = problems(value, model, path)
    assert not found, "\n".join(found)
    pydantic.TypeAdapter(model).validate_python(value)


def assert_stream(events: list[tuple[str, dict[str, Any]]], path: str, union: Any = sdk.RawMessageStreamEvent) -> None:
    for i, (name, data) in enumerate(events):
        assert data["type"] == name
        if name == "ping":  # no SDK model: the real API sends exactly this
            assert data == {"type": "ping"}
            continue
        assert_exact(data, union, f"{path}[{i}] {name}")


# ---- the checker can fail


def test_the_checker_names_missing_and_undeclared_keys() -> None:
    message = EchoProvider(ProviderConfig(name="e", type="echo")).compose(
        {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}, "m"
    )
    del message["container"]
    message["usage"]["brand_new"] = 1
    del message["content"][0]["citations"]
    found = problems(message, sdk.Message, "message")
    assert any("message (Message): missing ['container']" in p for p in found), found
    assert any("message.usage (Usage): ['brand_new'] not declared" in p for p in found), found
    assert any("message.content[0] (TextBlock): missing ['citations']" in p for p in found), found
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 1, "service_tier": "standard"},
    }
    found = problems(delta, sdk.RawMessageStreamEvent, "event")
    assert any("event.delta (Delta): missing ['container', 'stop_details']" in p for p in found), found
    assert any("(MessageDeltaUsage): ['service_tier'] not declared" in p for p in found), found
    assert problems({"type": "video"}, sdk.ContentBlock, "block") == [
        "block: no SDK model for type 'video' (declared: "
        + str(sorted(t for m in _members(sdk.ContentBlock) for t in _tags(m)))
        + ")"
    ]


# ---- echo's shapes, straight from the provider

ECHO_CASES: dict[str, dict[str, Any]] = {
    "text": {"messages": [{"role": "user", "content": "Hello there"}]},
    "stop_sequence": {"messages": [{"role": "user", "content": "a b STOP c"}], "stop_sequences": ["STOP"]},
    "max_tokens": {"max_tokens": 2, "messages": [{"role": "user", "content": "one two three four"}]},
    "tool_use": {"tools": [WEATHER], "tool_choice": {"type": "any"}},
    "directive": {"tools": [WEATHER], "messages": [{"role": "user", "content": "/tool get_weather Paris"}]},
    "thinking": {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}},
    "thinking_tool": {
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    },
    "tool_result": {
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "P"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
        ],
        "tools": [WEATHER],
    },
    "image": {
        "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}
        ]
    },
}


def echo_request(case: str) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]} | (
        ECHO_CASES[case]
    )


@pytest.mark.parametrize("case", list(ECHO_CASES))
def test_echo_message_and_stream_are_exactly_the_sdk_shapes(case: str) -> None:
    message = EchoProvider(ProviderConfig(name="e", type="echo")).compose(echo_request(case), "claude-sonnet-4-6")
    assert_exact(message, sdk.Message, f"{case}: Message")
    events = [(e.event, e.data) for e in message_to_events(message)]
    assert_stream(events, f"{case}: stream")
    kinds = {name for name, _ in events}
    assert {"message_start", "content_block_start", "content_block_delta", "message_delta"} <= kinds
    if case.startswith("thinking"):
        assert message["usage"]["output_tokens_details"]["thinking_tokens"] > 0
        deltas = {d["delta"]["type"] for n, d in events if n == "content_block_delta"}
        assert {"thinking_delta", "signature_delta"} <= deltas


def test_every_stream_event_type_of_the_sdk_is_produced() -> None:
    """Each member of RawMessageStreamEvent and each delta type echo can produce appears."""
    seen: set[str] = set()
    deltas: set[str] = set()
    for case in ECHO_CASES:
        message = EchoProvider(ProviderConfig(name="e", type="echo")).compose(echo_request(case), "m")
        for event in message_to_events(message):
            seen.add(event.event)
            if event.event == "content_block_delta":
                deltas.add(event.data["delta"]["type"])
    declared = {t for m in _members(sdk.RawMessageStreamEvent) for t in _tags(m)}
    assert declared <= seen, f"SDK stream events echo never produces: {sorted(declared - seen)}"
    assert {"text_delta", "input_json_delta", "thinking_delta", "signature_delta"} <= deltas


# ---- over HTTP, from a live gateway

CONFIG: dict[str, Any] = {
    "providers": [
        {"name": "echo", "type": "echo"},
        {"name": "ant", "type": "anthropic", "base_url": "http://127.0.0.1:9", "api_keys": ["unused"]},
    ],
    "models": [
        {
            "match": "echo-model",
            "provider": "echo",
            "display_name": "Echo",
            "created_at": "2025-05-14T00:00:00Z",
            "max_input_tokens": 200000,
            "max_tokens": 64000,
        },
        {
            "match": "old-model",
            "provider": "ant",
            "created_at": "2024-03-04",
            "lifecycle": "deprecated",
            "deprecated_at": "2025-10-01T00:00:00Z",
            "retires_at": "2026-10-01T00:00:00Z",
        },
        {"match": "*", "provider": "echo"},
    ],
}


@pytest.fixture(scope="module")
def gw() -> Any:
    from tests.support.gateway import start_gateway

    running = start_gateway(CONFIG)
    yield running
    running.stop()


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "echo-model", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}], **extra}


@pytest.mark.parametrize("prefix", ["", "/anthropic"])
@pytest.mark.parametrize("case", ["text", "tool_use", "thinking_tool"])
def test_http_message_and_stream(gw: Any, prefix: str, case: str) -> None:
    params = echo_request(case) | {"model": "echo-model"}
    reply = request(gw.url + prefix + "/v1/messages", body=params)
    assert reply.status == 200, reply.body
    assert_exact(reply.json(), sdk.Message, f"POST {prefix}/v1/messages ({case})")
    streamed = request(gw.url + prefix + "/v1/messages", body=params | {"stream": True})
    assert streamed.status == 200, streamed.body
    events = [(str(name), json.loads(data)) for name, data in parse_frames(streamed.body)]
    assert_stream(events, f"stream ({case})")


@pytest.mark.parametrize(
    ("marker", "headers"),
    [("?beta=true", {}), ("", {"anthropic-beta": "context-management-2025-06-27"})],
    ids=["python-sdk-query", "beta-header"],
)
@pytest.mark.parametrize("case", ["text", "tool_use", "thinking_tool"])
def test_http_beta_message_and_stream(gw: Any, marker: str, headers: dict[str, str], case: str) -> None:
    """The beta namespace (Python SDK: ?beta=true; TypeScript SDK and Claude Code: the header)
    gets the Beta* shapes: BetaMessage, BetaUsage, BetaRawMessageDeltaEvent, BetaMessageTokensCount."""
    params = echo_request(case) | {"model": "echo-model"}
    url = gw.url + "/v1/messages" + marker
    reply = request(url, body=params, headers=headers)
    assert reply.status == 200, reply.body
    assert_exact(reply.json(), beta_types.BetaMessage, f"beta POST /v1/messages ({case})")
    streamed = request(url, body=params | {"stream": True}, headers=headers)
    events = [(str(name), json.loads(data)) for name, data in parse_frames(streamed.body)]
    assert_stream(events, f"beta stream ({case})", beta_types.BetaRawMessageStreamEvent)
    count = request(
        gw.url + "/v1/messages/count_tokens" + marker,
        body={"model": "echo-model", "messages": params["messages"]},
        headers=headers,
    )
    assert count.status == 200, count.body
    assert_exact(count.json(), beta_types.BetaMessageTokensCount, "beta count_tokens")


def test_http_count_tokens(gw: Any) -> None:
    reply = request(gw.url + "/v1/messages/count_tokens", body={"model": "echo-model", "messages": body()["messages"]})
    assert reply.status == 200, reply.body
    assert_exact(reply.json(), sdk.MessageTokensCount, "count_tokens")


def test_http_models(gw: Any) -> None:
    page = request(gw.url + "/v1/models", method="GET")
    assert page.status == 200, page.body
    data = page.json()
    page_keys = {f.alias or n for n, f in SyncPage.model_fields.items()}
    assert set(data) == page_keys, f"models page keys {sorted(data)} != SDK SyncPage {sorted(page_keys)}"
    assert [m["id"] for m in data["data"]] == ["echo-model", "old-model"]  # newest created_at first
    for i, item in enumerate(data["data"]):
        assert_exact(item, sdk.ModelInfo, f"models.data[{i}]")
    echo, old = data["data"]
    assert echo["created_at"] == "2025-05-14T00:00:00Z" and echo["lifecycle"] == "active"
    assert (echo["max_input_tokens"], echo["max_tokens"]) == (200000, 64000)
    assert echo["capabilities"]["batch"] == {"supported": True}
    assert echo["capabilities"]["thinking"]["types"]["enabled"] == {"supported": True}
    assert old["capabilities"] is None and old["max_tokens"] is None  # the upstream's are not known
    assert (old["created_at"], old["lifecycle"]) == ("2024-03-04T00:00:00Z", "deprecated")
    assert (old["deprecated_at"], old["retires_at"]) == ("2025-10-01T00:00:00Z", "2026-10-01T00:00:00Z")
    one = request(gw.url + "/anthropic/v1/models/old-model", method="GET")
    assert one.status == 200 and one.json() == old
    assert_exact(one.json(), sdk.ModelInfo, "models/old-model")


def test_http_async_placeholder_and_result(gw: Any) -> None:
    submitted = request(gw.url + "/v1/messages", body=body(), headers={"x-bf-async": "true"})
    assert submitted.status == 200, submitted.body
    placeholder = submitted.json()
    assert_exact(placeholder, sdk.Message, "async placeholder")
    assert placeholder["content"] == [] and placeholder["usage"]["output_tokens"] == 0
    job = submitted.headers["x-bf-async-id"]
    assert request(gw.url + "/v1/messages", method="GET", headers={"x-bf-async-id": job}).status == 405
    deadline = time.monotonic() + 10
    while True:  # the README's poll: a POST, no body
        polled = request(gw.url + "/v1/messages", body=None, headers={"x-bf-async-id": job})
        assert polled.status == 200, polled.body
        if polled.headers["x-bf-async-status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert polled.headers["x-bf-async-status"] == "completed"
    assert_exact(polled.json(), sdk.Message, "async result")


def test_http_batch_shapes(gw: Any) -> None:
    requests = [
        {"custom_id": "ok", "params": body()},
        {"custom_id": "tool", "params": body(tools=[WEATHER], tool_choice={"type": "any"})},
        {
            "custom_id": "bad",
            "params": body(model="echo-model", max_tokens=10, thinking={"type": "enabled", "budget_tokens": 1024}),
        },
    ]
    created = request(gw.url + "/v1/messages/batches", body={"requests": requests})
    assert created.status == 200, created.body
    assert_exact(created.json(), batch_types.MessageBatch, "MessageBatch (created)")
    batch_id = created.json()["id"]
    deadline = time.monotonic() + 20
    while True:
        got = request(gw.url + f"/v1/messages/batches/{batch_id}", method="GET")
        if got.json()["processing_status"] == "ended" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert_exact(got.json(), batch_types.MessageBatch, "MessageBatch (ended)")
    listed = request(gw.url + "/v1/messages/batches", method="GET").json()
    assert {f.alias or n for n, f in SyncPage.model_fields.items()} == set(listed)
    for i, item in enumerate(listed["data"]):
        assert_exact(item, batch_types.MessageBatch, f"batches.data[{i}]")
    results = request(gw.url + f"/v1/messages/batches/{batch_id}/results", method="GET")
    lines = [json.loads(line) for line in results.body.decode().splitlines() if line.strip()]
    assert {line["result"]["type"] for line in lines} == {"succeeded", "errored"}
    for line in lines:
        assert_exact(line, batch_types.MessageBatchIndividualResponse, f"result line {line['custom_id']}")
        if line["result"]["type"] == "succeeded":
            assert line["result"]["message"]["usage"]["service_tier"] == "batch"
    deleted = request(gw.url + f"/v1/messages/batches/{batch_id}", method="DELETE")
    assert_exact(deleted.json(), batch_types.DeletedMessageBatch, "deleted batch")


def test_http_error_body(gw: Any) -> None:
    reply = request(gw.url + "/v1/messages", body={"model": "m", "messages": []})
    assert reply.status == 400
    assert_exact(reply.json(), ErrorResponse, "error")
