"""Nesting depth: a body nested up to 1024 levels (the parser's limit, ``deepjson.MAX_DEPTH``)
works on every route that takes one, with echo and through both upstream types; a deeper body is
the documented 400. Never a 5xx.

Depth is that of the whole request body, as the parser counts it (the outermost object is level
1), so 1024 is the deepest accepted body and 1025 the shallowest refused one; orjson writes at
most 254 levels, hence 255 and 256 in the table. The deep part sits in a tool ``input_schema``,
in a ``tool_use.input``, or (an invalid body) in place of a content block.

Deep values are built, encoded and compared with the stdlib (``tests.fakes.server``), never
with the gateway's own encoder, and compared as canonical JSON text (Python's ``==`` on a
1000-level value recurses out)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from specgate.contract import spec
from specgate.contract.compiled import EXPLAIN_LEVELS, CompiledSchema, oas_to_json_schema
from specgate.core import deepjson
from specgate.ops.logs import JsonFormatter, TextFormatter
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import deep_recursion, dumps, loads
from tests.handlers.upstreams import CLIENT_KEY, config
from tests.support.gateway import RunningGateway, gateways
from tests.support.http import request

DEPTHS = (100, 255, 256, 300, 600, 1000, 1024, 1025, 5000)
TOO_DEEP = "Invalid JSON in request body: nested deeper than 1024 levels"
NOT_A_BLOCK = "messages.0.content.0: Input does not match any of the accepted forms"
Json = dict[str, Any]


# -- deep values (built iteratively: nothing here may recurse) ------------------------------------


def nest(levels: int) -> Any:
    """A value exactly ``levels`` levels deep, lists and objects alternating, innermost ``{}``."""
    value: Any = {}
    for i in range(levels - 1):
        value = {"k": value} if i % 2 else [value]
    return value


def lists(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def schema_chain(levels: int) -> Json:
    """A JSON Schema exactly ``levels`` levels deep: objects whose one property is the next."""
    value: Json = {"type": "object"} if levels % 2 else {"type": "object", "properties": {}}
    for _ in range((levels - 1) // 2):
        value = {"type": "object", "properties": {"a": value}}
    return value


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((sub, level + 1) for sub in (node.values() if isinstance(node, dict) else node))
    return deepest


def canon(value: Any) -> str:
    with deep_recursion():
        return json.dumps(value, sort_keys=True)


def message_body(levels: int, where: str, model: str = "m") -> Json:
    """A Messages body exactly ``levels`` deep, its deep part at ``where``."""
    user: Json = {"role": "user", "content": "hi"}
    body: Json = {"model": model, "max_tokens": 16, "messages": [user]}
    if where == "input_schema":  # body > tools > tool > input_schema > properties > x
        schema = {"type": "object", "properties": {"x": schema_chain(levels - 5)}}
        body["tools"] = [{"name": "deep", "description": "a deep tool", "input_schema": schema}]
    elif where == "tool_use.input":  # body > messages > message > content > block > input > x
        use = {"type": "tool_use", "id": "toolu_deep", "name": "deep", "input": {"x": nest(levels - 6)}}
        result = {"type": "tool_result", "tool_use_id": "toolu_deep", "content": "done"}
        body["messages"] = [user, {"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
        body["tools"] = [{"name": "deep", "input_schema": {"type": "object"}}]
    elif where == "content":  # body > messages > message > content > [the deep list]: not a block
        body["messages"] = [{"role": "user", "content": [lists(levels - 4)]}]
    else:
        raise AssertionError(where)
    assert depth(body) == levels
    return body


def batch_body(levels: int, where: str) -> Json:
    # body > requests > request > params: the params are three levels less deep
    return {"requests": [{"custom_id": "deep", "params": message_body(levels - 3, where)}]}


def expected(levels: int, where: str, success: str) -> str:
    if levels > deepjson.MAX_DEPTH:
        return f"400 {TOO_DEEP}"
    return f"400 {NOT_A_BLOCK}" if where == "content" else success


# -- deepjson ----------------------------------------------------------------------------------


SHALLOW = [
    {},
    [],
    {"a": [1, 2.5, {"b": None}], "c": "x\u00e9\n", "d": True, "e": (1, 2)},
    [1, [2, [3, []]], {}],
    {"model": "m", "messages": [{"role": "user", "content": "hi " * 50}] * 20},
]


@pytest.mark.parametrize("value", SHALLOW)
def test_shallow_values_are_written_by_orjson(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert deepjson._dumps_iterative(value, None) == orjson.dumps(value)  # the fallback agrees
    monkeypatch.setattr(deepjson, "_dumps_iterative", lambda *_: pytest.fail("fallback used"))
    assert deepjson.dumps(value) == orjson.dumps(value)


@pytest.mark.parametrize("levels", [254, 255, 256, 1024, 5000])
def test_deep_values_are_written_whole(levels: int) -> None:
    value = {"wide": [{"n": i, "s": "x" * i} for i in range(50)], "deep": nest(levels), "after": [1, "2"]}
    with deep_recursion():
        stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert deepjson.dumps(value) == stdlib


def test_the_fallback_keeps_orjson_rules() -> None:
    deep_default = {"when": object(), "deep": nest(300)}
    assert deepjson.dumps(deep_default, default=lambda _: "obj").startswith(b'{"when":"obj","deep":[')
    with pytest.raises(TypeError):
        deepjson.dumps({"deep": nest(300), "bad": object()})
    with pytest.raises(TypeError):
        deepjson.dumps({"deep": nest(300), 1: "non-str key"})


def test_too_deep_names_only_the_depth_limit() -> None:
    with pytest.raises(orjson.JSONDecodeError) as deep:
        orjson.loads(b"[" * 1025 + b"]" * 1025)
    with pytest.raises(orjson.JSONDecodeError) as broken:
        orjson.loads(b"[[]")
    assert deepjson.too_deep(deep.value) and not deepjson.too_deep(broken.value)
    assert orjson.loads(b"[" * deepjson.MAX_DEPTH + b"]" * deepjson.MAX_DEPTH)  # the limit is orjson's


def test_pruned() -> None:
    value = {"a": [1, {"b": [[[]]], "c": "x"}], "d": (1, 2)}
    assert [deepjson.pruned(value, n) for n in (1, 2, 3, 4)] == [
        {},
        {"a": [], "d": []},
        {"a": [1, {}], "d": [1, 2]},
        {"a": [1, {"b": [], "c": "x"}], "d": [1, 2]},
    ]
    assert canon(deepjson.pruned(value, 6)) == canon(value)
    assert depth(deepjson.pruned(nest(5000), 64)) == 64


# -- validation wording ------------------------------------------------------------------------


def schema_reach(schema: Any) -> int:
    """How many instance levels below its own a (dereferenced) JSON Schema constrains."""
    if isinstance(schema, list):
        return max([schema_reach(s) for s in schema] or [0])
    if not isinstance(schema, dict):
        return 0
    reach = 0
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            reach = max([reach] + [1 + schema_reach(s) for s in value.values()])
        elif key in ("items", "additionalProperties") and isinstance(value, (dict, list)):
            reach = max(reach, 1 + schema_reach(value))
        elif key in ("allOf", "anyOf", "oneOf", "not"):
            reach = max(reach, schema_reach(value))
    return reach


def body_schemas() -> Iterator[tuple[str, Json]]:
    document = spec.bundle()
    for op in spec.operations(document):
        body = spec.operation_object(document, op.method, op.path).get("requestBody")
        if body:
            yield op.operation_id, body["content"]["application/json"]["schema"]


def test_no_body_schema_reaches_as_deep_as_the_explained_copy() -> None:
    """Invalid deep bodies are worded from a copy cut at EXPLAIN_LEVELS; that finds the same error
    only while no schema constrains anything that deep."""
    reaches = {name: schema_reach(oas_to_json_schema(schema)) for name, schema in body_schemas()}
    assert reaches and max(reaches.values()) < EXPLAIN_LEVELS // 2, reaches


@pytest.fixture(scope="module")
def compiled() -> CompiledSchema:
    document = spec.bundle()
    operation = spec.operation_object(document, "POST", "/v1/messages")
    return CompiledSchema(operation["requestBody"]["content"]["application/json"]["schema"])


INVALID: dict[str, tuple[Callable[[int], Json], str]] = {
    "a content block": (lambda n: message_body(n, "content"), NOT_A_BLOCK),
    "a tool_result content block": (
        lambda n: {
            "model": "m",
            "max_tokens": 1,
            "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [lists(n - 6)]}]}
            ],
        },
        "messages.0.content.0.content.0: Input does not match any of the accepted forms",
    ),
    "metadata.user_id": (
        lambda n: {
            "model": "m",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "x"}],
            "metadata": {"user_id": lists(n - 2)},
        },
        "metadata.user_id: Input should be a valid string or null",
    ),
    "max_tokens missing, deep tool input": (
        lambda n: {k: v for k, v in message_body(n, "tool_use.input").items() if k != "max_tokens"},
        "max_tokens: Field required",
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_deep_bodies_are_worded_by_their_path(compiled: CompiledSchema, case: str) -> None:
    make, message = INVALID[case]
    for levels in (100, 300, 1000, 1024):
        body = make(levels)
        assert depth(body) == levels and not compiled.is_valid(body)
        assert compiled.explain(body) == message, levels


# -- every route, with echo --------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_gateway() -> Iterator[RunningGateway]:
    started = gateways()
    factory = next(started)
    yield factory()
    with contextlib.suppress(StopIteration):
        next(started)


def outcome(status: int, payload: bytes, success: Callable[[Any], str]) -> str:
    """``"<status> <error message>"`` for an error, else what ``success`` makes of the answer."""
    assert status < 500, payload[:300]
    if status >= 400:
        body = orjson.loads(payload)
        message = body["message"] if "success" in body else body["error"]["message"]
        if "success" not in body:
            assert body["error"]["type"] == "invalid_request_error" and body["request_id"]
        return f"{status} {message.split(' (line ')[0]}"
    return success(payload)


def is_message(payload: bytes) -> str:
    message = orjson.loads(payload)
    return "message" if message["type"] == "message" and message["content"] else f"not a message: {message}"


def is_enveloped(payload: bytes) -> str:
    body = orjson.loads(payload)
    return "message" if body["success"] is True and body["data"]["type"] == "message" else str(body)


def is_stream(payload: bytes) -> str:
    text = payload.decode()
    return "stream" if "event: message_stop" in text and "event: error" not in text else text[-300:]


def is_envelope_stream(payload: bytes) -> str:
    text = payload.decode()
    return "stream" if text.endswith("data: [DONE]\n\n") and '"success":false' not in text else text[-300:]


def is_count(payload: bytes) -> str:
    return "counted" if orjson.loads(payload)["input_tokens"] > 0 else payload.decode()


def post(gw: RunningGateway, path: str, body: Json, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    reply = request(gw.url + path, body=dumps(body), headers=headers)
    return reply.status, reply.body


def async_job(gw: RunningGateway, body: Json) -> str:
    status, payload = post(gw, "/v1/messages", body, {"x-bf-async": "true"})
    if status != 200:
        return outcome(status, payload, str)
    job_id = orjson.loads(payload)["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = request(gw.url + "/v1/messages", body=b"{}", headers={"x-bf-async-id": job_id})
        if reply.headers.get("x-bf-async-status") not in ("pending", "processing"):
            assert reply.headers.get("x-bf-async-status") == "completed", reply.body[:300]
            return outcome(reply.status, reply.body, is_message)
        time.sleep(0.02)
    raise AssertionError("the job did not finish")


def batch(gw: RunningGateway, levels: int, where: str) -> str:
    status, payload = post(gw, "/v1/messages/batches", batch_body(levels, where))
    if status != 200:
        return outcome(status, payload, str)
    batch_id = orjson.loads(payload)["id"]
    deadline = time.monotonic() + 10
    while (
        orjson.loads(request(gw.url + f"/v1/messages/batches/{batch_id}", "GET").body)["processing_status"] != "ended"
    ):
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.02)
    results = request(gw.url + f"/v1/messages/batches/{batch_id}/results", "GET")
    assert results.status == 200
    [line] = results.body.splitlines()
    result = orjson.loads(line)["result"]
    if result["type"] != "succeeded":
        return f"400 {result['error']['error']['message'].split(' (line ')[0]}"
    return "message" if result["message"]["content"] else str(result)


def no_max_tokens(body: Json) -> Json:
    return {k: v for k, v in body.items() if k != "max_tokens"}


ROUTES: dict[str, tuple[Callable[[RunningGateway, int, str], str], str]] = {
    "messages": (lambda gw, n, w: outcome(*post(gw, "/v1/messages", message_body(n, w)), is_message), "message"),
    "stream": (
        lambda gw, n, w: outcome(*post(gw, "/v1/messages", {**message_body(n, w), "stream": True}), is_stream),
        "stream",
    ),
    "envelope": (lambda gw, n, w: outcome(*post(gw, "/api/v1/messages", message_body(n, w)), is_enveloped), "message"),
    "envelope stream": (
        lambda gw, n, w: outcome(
            *post(gw, "/api/v1/messages", {**message_body(n, w), "stream": True}), is_envelope_stream
        ),
        "stream",
    ),
    "count_tokens": (
        lambda gw, n, w: outcome(*post(gw, "/v1/messages/count_tokens", no_max_tokens(message_body(n, w))), is_count),
        "counted",
    ),
    "async submit and poll": (lambda gw, n, w: async_job(gw, message_body(n, w)), "message"),
    "batch create and results": (batch, "message"),
}


@pytest.mark.parametrize("where", ["input_schema", "tool_use.input", "content"])
@pytest.mark.parametrize("route", ROUTES)
def test_every_route_takes_every_depth_up_to_the_limit(echo_gateway: RunningGateway, route: str, where: str) -> None:
    call, success = ROUTES[route]
    got = {levels: call(echo_gateway, levels, where) for levels in DEPTHS}
    want = {levels: expected(levels, where, success) for levels in DEPTHS}
    if route == "batch create and results" and where == "content":
        # a batch's params are validated as a whole batch body: the path names the request
        want = {n: w.replace("messages.0", "requests.0.params.messages.0") for n, w in want.items()}
    assert got == want


def test_deep_bodies_in_the_request_log(gateway_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    gw = gateway_factory(
        {"providers": [{"name": "echo", "type": "echo"}], "logging": {"level": "info", "log_bodies": True}}
    )
    body = message_body(1024, "tool_use.input")
    with caplog.at_level(logging.INFO, logger="specgate.access"):
        assert post(gw, "/v1/messages", body)[0] == 200
        deadline = time.monotonic() + 5
        while not [r for r in caplog.records if r.name == "specgate.access"]:
            assert time.monotonic() < deadline, "no request log"
            time.sleep(0.01)
    [record] = [r for r in caplog.records if r.name == "specgate.access"]
    logged = loads(JsonFormatter().format(record).encode())
    assert canon(logged["request_body"]) == canon(body)
    assert "specgate.access: request" in TextFormatter().format(record)


# -- through the upstreams ---------------------------------------------------------------------


async def call(session: aiohttp.ClientSession, url: str, body: Json) -> tuple[int, bytes]:
    async with session.post(
        url, data=dumps(body), headers={"x-api-key": CLIENT_KEY, "content-type": "application/json"}
    ) as resp:
        return resp.status, await resp.read()


def sent_part(body: Json, where: str) -> Any:
    return body["tools"][0]["input_schema"] if where == "input_schema" else body["messages"][1]["content"][0]["input"]


def anthropic_received(recorded: Json, where: str) -> Any:
    return sent_part(recorded, where)


def openai_received(recorded: Json, where: str) -> Any:
    if where == "input_schema":
        return recorded["tools"][0]["function"]["parameters"]
    [call_] = recorded["messages"][1]["tool_calls"]
    return loads(call_["function"]["arguments"].encode())


@pytest.mark.parametrize("where", ["input_schema", "tool_use.input"])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_deep_bodies_reach_the_upstream_intact(
    anthropic_upstream: FakeAnthropic,
    openai_upstream: FakeOpenAI,
    gateway_factory: Any,
    kind: str,
    stream: bool,
    where: str,
) -> None:
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url))
    fake, model, received = (
        (anthropic_upstream, "ant-model", anthropic_received)
        if kind == "anthropic"
        else (openai_upstream, "oai-tools", openai_received)
    )
    got: dict[int, str] = {}
    async with aiohttp.ClientSession() as session:
        for levels in DEPTHS:
            body = {**message_body(levels, where, model), **({"stream": True} if stream else {})}
            before = len(fake.requests)
            status, payload = await call(session, gw.url + "/v1/messages", body)
            got[levels] = outcome(status, payload, is_stream if stream else is_message)
            if levels > deepjson.MAX_DEPTH:
                assert len(fake.requests) == before, "a refused body went upstream"
                continue
            [recorded] = fake.requests[before:]
            assert isinstance(recorded.body, dict), "the upstream could not parse the body"
            assert canon(received(recorded.body, where)) == canon(sent_part(body, where)), levels
    success = "stream" if stream else "message"
    assert got == {levels: expected(levels, where, success) for levels in DEPTHS}
