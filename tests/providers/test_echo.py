"""The echo provider: deterministic answers, stop rules, tools, usage equal across JSON and stream."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from providers.base import CallContext
from providers.echo import EchoProvider
from providers.events import accumulate
from providers.schema_sample import sample
from specgate.core.config import ProviderConfig
from specgate.core.errors import InvalidRequestError

CTX = CallContext(request_id="req_test")


def req(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}], **kw}


@pytest.fixture
def echo() -> EchoProvider:
    return EchoProvider(ProviderConfig(name="echo", type="echo"))


async def both(echo: EchoProvider, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    plain = await echo.create_message(request, "m", CTX)
    streamed = accumulate([e async for e in echo.stream_message(request, "m", CTX)])
    return plain, streamed


async def test_echoes_last_user_text(echo: EchoProvider) -> None:
    plain, streamed = await both(
        echo,
        req(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "text", "text": "c d"}]},
            ]
        ),
    )
    for m in (plain, streamed):
        assert m["content"] == [{"type": "text", "text": "c d", "citations": None}]
        assert m["stop_reason"] == "end_turn" and m["stop_sequence"] is None
    assert plain["usage"]["input_tokens"] == streamed["usage"]["input_tokens"]
    assert plain["usage"]["output_tokens"] == streamed["usage"]["output_tokens"] == 2


@pytest.mark.parametrize(
    ("text", "stops", "max_tokens", "out", "reason", "seq"),
    [
        ("a b c d", ["c"], 100, "a b ", "stop_sequence", "c"),
        ("a b c d", ["d", "b"], 100, "a ", "stop_sequence", "b"),
        ("a b c d", [], 2, "a b ", "max_tokens", None),
        ("a b c d", ["d"], 2, "a b ", "max_tokens", None),
        ("a b c d", ["zzz"], 100, "a b c d", "end_turn", None),
    ],
)
async def test_stop_rules(
    echo: EchoProvider, text: str, stops: list[str], max_tokens: int, out: str, reason: str, seq: str | None
) -> None:
    plain, streamed = await both(
        echo, req(max_tokens=max_tokens, stop_sequences=stops, messages=[{"role": "user", "content": text}])
    )
    for m in (plain, streamed):
        assert m["content"][0]["text"] == out
        assert m["stop_reason"] == reason and m["stop_sequence"] == seq
    assert plain["usage"] == streamed["usage"]


SCHEMAS = [
    {"type": "object", "properties": {"q": {"type": "string", "minLength": 10}}, "required": ["q"]},
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 5, "maximum": 9},
            "f": {"type": "number", "exclusiveMinimum": 0},
        },
    },
    {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}, "minItems": 2}},
        "required": ["tags"],
    },
    {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "ok": {"type": "boolean"},
            "nil": {"type": "null"},
        },
    },
    {
        "type": "object",
        "properties": {"choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "c": {"const": 3}},
        "required": ["choice", "c"],
    },
    {
        "type": "object",
        "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {"p": {"$ref": "#/$defs/pt"}},
        "required": ["p"],
    },
    {
        "type": "object",
        "properties": {
            "inner": {
                "type": "object",
                "properties": {"deep": {"type": ["string", "null"], "maxLength": 3}},
                "required": ["deep"],
            }
        },
        "required": ["inner"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_sample_is_valid(schema: dict[str, Any]) -> None:
    jsonschema.validate(sample(schema, hint="paris"), schema)


TOOLS = [{"name": f"t{i}", "input_schema": s} for i, s in enumerate(SCHEMAS)]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def test_tool_choice_any_tool_and_none(echo: EchoProvider) -> None:
    plain, streamed = await both(echo, req(tools=TOOLS, tool_choice={"type": "any"}))
    assert plain["stop_reason"] == "tool_use" and [b["name"] for b in plain["content"]] == ["t0"]
    assert streamed["content"] == plain["content"]
    assert plain["content"][0]["caller"] == {"type": "direct"} and plain["content"][0]["toolset_name"] is None
    named, _ = await both(echo, req(tools=TOOLS, tool_choice={"type": "tool", "name": "t6"}))
    assert [b["name"] for b in named["content"]] == ["t6"]
    none, _ = await both(echo, req(tools=TOOLS, tool_choice={"type": "none"}, messages=user("/tool t2")))
    assert none["content"] == [{"type": "text", "text": "/tool t2", "citations": None}]
    with pytest.raises(InvalidRequestError, match="no tool named 'zz'"):
        await echo.create_message(req(tools=TOOLS, tool_choice={"type": "tool", "name": "zz"}), "m", CTX)


async def test_the_directive_calls_tools(echo: EchoProvider) -> None:
    plain, streamed = await both(echo, req(tools=TOOLS, messages=user("/tool t2, t5 find paris")))
    assert plain["stop_reason"] == "tool_use" and [b["name"] for b in plain["content"]] == ["t2", "t5"]
    assert streamed["content"] == plain["content"]
    for block in plain["content"]:
        jsonschema.validate(block["input"], SCHEMAS[int(block["name"][1:])])
    single, _ = await both(
        echo,
        req(
            tools=TOOLS,
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
            messages=user("/tool t2,t5"),
        ),
    )
    assert [b["name"] for b in single["content"]] == ["t2"]
    chosen, _ = await both(echo, req(tools=TOOLS, tool_choice={"type": "any"}, messages=user("/tool t4")))
    assert [b["name"] for b in chosen["content"]] == ["t4"]
    # the directive counts in the last text block of the last user message (after, e.g., reminders)
    blocks = [
        {"type": "text", "text": "<system-reminder>t1 is a tool</system-reminder>"},
        {"type": "text", "text": "/tool t1"},
    ]
    last_block, _ = await both(echo, req(tools=TOOLS, messages=[{"role": "user", "content": blocks}]))
    assert [b["name"] for b in last_block["content"]] == ["t1"]


@pytest.mark.parametrize(
    "messages",
    [
        user("call t2 and t5"),  # tool names in the text are not a request
        user("t0"),
        user("please /tool t2"),  # the directive must start the text
        user("/toolt2"),
        [
            {"role": "user", "content": "/tool t2"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hi t3"},
        ],
        [{"role": "user", "content": [{"type": "text", "text": "/tool t2"}, {"type": "text", "text": "then t3"}]}],
        [{"role": "user", "content": "Bash Write Edit Read"}],
    ],
)
async def test_tool_names_in_text_never_call_a_tool(echo: EchoProvider, messages: list[dict[str, Any]]) -> None:
    tools = [*TOOLS, *({"name": n, "input_schema": {"type": "object"}} for n in ("Bash", "Write", "Edit", "Read"))]
    plain, streamed = await both(echo, req(tools=tools, messages=messages))
    for m in (plain, streamed):
        assert m["stop_reason"] == "end_turn" and [b["type"] for b in m["content"]] == ["text"]


async def test_the_directive_without_tools_is_text_and_an_unknown_name_is_a_400(echo: EchoProvider) -> None:
    plain, _ = await both(echo, req(messages=user("/tool t2 x")))
    assert plain["content"][0]["text"] == "/tool t2 x" and plain["stop_reason"] == "end_turn"
    conversation = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, *user("/tool nope")]
    with pytest.raises(InvalidRequestError, match=r"^messages\.2\.content: the echo directive /tool names 'nope'"):
        await echo.create_message(req(tools=TOOLS, messages=conversation), "m", CTX)
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    with pytest.raises(InvalidRequestError, match="'web_search', which is not a custom tool"):
        await echo.create_message(req(tools=[*TOOLS, server_tool], messages=user("/tool web_search")), "m", CTX)


async def test_tool_result_is_answered(echo: EchoProvider) -> None:
    result = [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "is_error": True,
            "content": [{"type": "text", "text": "boom"}],
        },
    ]
    plain, _ = await both(echo, req(messages=[{"role": "user", "content": result}]))
    assert plain["content"][0]["text"] == "Tool result for toolu_1: 42\nTool error for toolu_2: boom"


async def test_thinking_block_comes_first(echo: EchoProvider) -> None:
    plain, streamed = await both(echo, req(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024}))
    assert [b["type"] for b in plain["content"]] == ["thinking", "text"]
    assert plain["content"][0]["signature"].startswith("sig_")
    assert streamed["content"] == plain["content"]
    thinking_tokens = plain["usage"]["output_tokens_details"]["thinking_tokens"]
    assert 0 < thinking_tokens < plain["usage"]["output_tokens"]
    assert streamed["usage"] == plain["usage"]


async def test_non_text_content_is_described(echo: EchoProvider) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}
    plain, _ = await both(echo, req(messages=[{"role": "user", "content": [image]}]))
    assert plain["content"][0]["text"] == "(received 1 content block: image)"
    assert plain["usage"]["input_tokens"] >= 256


def test_structured_output_is_an_instance_of_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    for request in (
        {"output_config": {"format": {"type": "json_schema", "schema": schema}}},
        {"output_format": {"type": "json_schema", "schema": schema}},
    ):
        body = {"model": "m", "max_tokens": 256, "messages": [{"role": "user", "content": "Paris"}], **request}
        answer = EchoProvider(ProviderConfig(name="echo", type="echo")).compose(body, "m")
        value = orjson.loads(answer["content"][0]["text"])
        jsonschema.validate(value, schema)
        assert value["city"].startswith("Paris")


def test_compaction_requests_are_refused_naming_the_field() -> None:
    body = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "x"}], "compaction": {}}
    with pytest.raises(InvalidRequestError, match=r"^compaction: the echo provider cannot"):
        EchoProvider(ProviderConfig(name="echo", type="echo")).compose(body, "m")
