"""ChatStreamTranslator: OpenAI stream chunks -> the exact Anthropic event grammar."""

from __future__ import annotations

from typing import Any

import pytest

from providers.openai.translate import ChatStreamTranslator
from specgate.core.errors import ApiError
from specgate.core.types import SSEEvent
from tests.providers.grammar import check_stream
from tests.providers.openai.expected import text, thinking, tool_use

Json = dict[str, Any]

USAGE = {"prompt_tokens": 30, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 10}}


def delta_chunk(delta: Json, finish: str | None = None, **choice: Any) -> Json:
    return {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **choice}]}


def usage_chunk(usage: Json = USAGE) -> Json:
    return {"id": "c1", "choices": [], "usage": usage}


def call(index: int, args: str, call_id: str | None = None, name: str | None = None) -> Json:
    entry: Json = {"index": index, "function": {"arguments": args}}
    if call_id:
        entry["id"] = call_id
        entry["type"] = "function"
    if name:
        entry["function"]["name"] = name
    return {"tool_calls": [entry]}


def run(chunks: list[Json], done: bool = True, input_estimate: int = 5) -> list[SSEEvent]:
    translator = ChatStreamTranslator("client-model", "msg_1", input_estimate)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish(done=done)
    return events


TEXT = [
    delta_chunk({"role": "assistant", "content": ""}),
    delta_chunk({"content": "Hel"}),
    delta_chunk({"content": "lo"}),
    delta_chunk({}, "stop"),
    usage_chunk(),
]

FRAGMENTED_PARALLEL_TOOLS = [
    delta_chunk({"role": "assistant", "content": None}),
    delta_chunk({"content": "Let me check."}),
    delta_chunk(call(0, "", "call_a", "get_weather")),
    delta_chunk(call(0, '{"loc')),
    delta_chunk(call(0, "")),
    delta_chunk(call(0, 'ation": "Par')),
    delta_chunk(call(0, 'is"}')),
    delta_chunk(call(1, "", "call_b", "get_time")),
    delta_chunk(call(1, '{"tz":')),
    delta_chunk(call(1, ' "CET"}')),
    delta_chunk({}, "tool_calls"),
    usage_chunk(),
]

REASONING = [
    delta_chunk({"role": "assistant"}),
    delta_chunk({"reasoning_content": "Let me"}),
    delta_chunk({"reasoning": " think."}),
    delta_chunk({"content": "4"}),
    delta_chunk({}, "stop"),
    usage_chunk(),
]

CASES: list[tuple[str, list[Json], list[Json], str]] = [
    ("text", TEXT, [text("Hello")], "end_turn"),
    (
        "fragmented parallel tool calls",
        FRAGMENTED_PARALLEL_TOOLS,
        [
            text("Let me check."),
            tool_use("call_a", "get_weather", {"location": "Paris"}),
            tool_use("call_b", "get_time", {"tz": "CET"}),
        ],
        "tool_use",
    ),
    (
        "reasoning then text",
        REASONING,
        [thinking("Let me think."), text("4")],
        "end_turn",
    ),
    (
        "arguments in the same chunk as the name (Gemini style)",
        [delta_chunk(call(0, '{"a": 1}', "call_x", "f"), "tool_calls"), usage_chunk()],
        [tool_use("call_x", "f", {"a": 1})],
        "tool_use",
    ),
    (
        "length",
        [delta_chunk({"content": "abc"}, "length"), usage_chunk()],
        [text("abc")],
        "max_tokens",
    ),
    ("content filter", [delta_chunk({}, "content_filter"), usage_chunk()], [], "refusal"),
]


@pytest.mark.parametrize(("name", "chunks", "content", "stop_reason"), CASES, ids=[c[0] for c in CASES])
def test_stream_translation(name: str, chunks: list[Json], content: list[Json], stop_reason: str) -> None:
    events = run(chunks)
    message = check_stream(events)
    assert message["content"] == content
    assert message["stop_reason"] == stop_reason
    assert message["id"] == "msg_1" and message["model"] == "client-model"
    assert message["usage"]["output_tokens"] == 12
    assert message["usage"]["input_tokens"] == 20
    assert message["usage"]["cache_read_input_tokens"] == 10


def test_message_start_carries_the_input_estimate() -> None:
    start = run(TEXT, input_estimate=77)[0]
    assert start.data["message"]["usage"]["input_tokens"] == 77
    assert start.data["message"]["usage"]["output_tokens"] >= 0


def test_first_tool_fragment_is_not_empty_and_tool_arguments_stream_incrementally() -> None:
    events = run(FRAGMENTED_PARALLEL_TOOLS)
    partials = [
        e.data["delta"]["partial_json"]
        for e in events
        if e.event == "content_block_delta" and e.data["delta"]["type"] == "input_json_delta"
    ]
    assert partials == ['{"loc', 'ation": "Par', 'is"}', '{"tz":', ' "CET"}']


def test_thinking_block_gets_signature_before_stop() -> None:
    events = run(REASONING)
    kinds = [(e.event, e.data.get("delta", {}).get("type")) for e in events]
    sig = kinds.index(("content_block_delta", "signature_delta"))
    assert kinds[sig + 1] == ("content_block_stop", None)
    assert events[sig + 1].data["index"] == 0


def test_stop_sequence_when_upstream_names_it() -> None:
    events = run([delta_chunk({"content": "x"}, "stop", stop_reason="END"), usage_chunk()])
    assert check_stream(events)["stop_sequence"] == "END"
    assert check_stream(events)["stop_reason"] == "stop_sequence"


def test_usage_estimated_without_usage_chunk() -> None:
    events = run([delta_chunk({"content": "x" * 40}, "stop")], done=True, input_estimate=9)
    usage = events[-2].data["usage"]
    assert usage["output_tokens"] == 10 and usage["input_tokens"] == 9


def test_usage_inside_the_finish_chunk() -> None:
    chunk = delta_chunk({"content": "hi"}, "stop")
    chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": 2}
    assert run([chunk])[-2].data["usage"]["output_tokens"] == 2


def test_premature_end_raises() -> None:
    translator = ChatStreamTranslator("m", "msg_1")
    events = translator.feed(delta_chunk({"content": "partial"}))
    assert [e.event for e in events][:2] == ["message_start", "content_block_start"]
    with pytest.raises(ApiError, match="ended prematurely"):
        translator.finish(done=False)


def test_finish_reason_without_done_is_accepted() -> None:
    check_stream(run([delta_chunk({"content": "ok"}, "stop")], done=False))


def test_done_without_any_chunk_still_forms_a_message() -> None:
    message = check_stream(run([], done=True))
    assert message["content"] == [] and message["stop_reason"] == "end_turn"


def test_interleaved_fragment_for_a_closed_tool_call_raises() -> None:
    translator = ChatStreamTranslator("m", "msg_1")
    translator.feed(delta_chunk(call(0, '{"a"', "c0", "f")))
    translator.feed(delta_chunk(call(1, "{}", "c1", "g")))
    with pytest.raises(ApiError, match="interleaved"):
        translator.feed(delta_chunk(call(0, ": 1}")))


def test_name_arriving_after_arguments_is_buffered() -> None:
    chunks = [
        delta_chunk(call(0, '{"a": 1}', "c0")),
        delta_chunk({"tool_calls": [{"index": 0, "function": {"name": "late"}}]}, "tool_calls"),
    ]
    message = check_stream(run(chunks))
    assert message["content"] == [tool_use("c0", "late", {"a": 1})]


def test_feed_after_finish_raises() -> None:
    translator = ChatStreamTranslator("m", "msg_1")
    translator.finish(done=True)
    with pytest.raises(ApiError):
        translator.feed(delta_chunk({"content": "late"}))


def test_tool_call_that_never_gets_a_name_raises() -> None:
    translator = ChatStreamTranslator("m", "msg_1")
    translator.feed(delta_chunk(call(0, '{"a": 1}', "c0")))
    with pytest.raises(ApiError, match="never received a function name"):
        translator.finish(done=True)


def test_message_delta_is_a_complete_delta_and_a_refusal_has_stop_details() -> None:
    events = run([delta_chunk({}, "content_filter"), usage_chunk()])
    assert events[-2].data == {
        "type": "message_delta",
        "delta": {
            "stop_reason": "refusal",
            "stop_sequence": None,
            "stop_details": {"type": "refusal", "category": None, "explanation": None},
            "container": None,
        },
        "usage": {  # MessageDeltaUsage: no service_tier, cache_creation, inference_geo or speed
            "input_tokens": 20,
            "output_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 10,
            "output_tokens_details": None,
            "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        },
    }
    assert run(TEXT)[-2].data["delta"]["stop_details"] is None


def test_message_start_and_block_starts_are_complete() -> None:
    events = run(FRAGMENTED_PARALLEL_TOOLS)
    head = events[0].data["message"]
    assert (head["stop_details"], head["container"], head["diagnostics"]) == (None, None, None)
    assert head["usage"]["server_tool_use"] == {"web_search_requests": 0, "web_fetch_requests": 0}
    starts = [e.data["content_block"] for e in events if e.event == "content_block_start"]
    assert starts == [
        text(""),
        tool_use("call_a", "get_weather", {}),
        tool_use("call_b", "get_time", {}),
    ]


def test_service_tier_and_reasoning_tokens() -> None:
    usage = {**USAGE, "completion_tokens_details": {"reasoning_tokens": 4}}
    chunks = [
        {**delta_chunk({"content": "hi"}), "service_tier": "default"},
        delta_chunk({}, "stop"),
        usage_chunk(usage),
    ]
    events = run(chunks)
    assert events[0].data["message"]["usage"]["service_tier"] == "standard"
    assert events[-2].data["usage"]["output_tokens_details"] == {"thinking_tokens": 4}
    assert run(TEXT)[0].data["message"]["usage"]["service_tier"] is None  # the upstream named none
