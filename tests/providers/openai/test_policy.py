"""providers.openai.policy: every part of the official SDK's request surface has a rule, refused
parts answer a 400 naming their path, ignored parts leave the translation unchanged, and the
parts with a faithful translation are translated (table-driven)."""

from __future__ import annotations

import types
import typing
from typing import Any

import pydantic
import pytest
import typing_extensions
from anthropic.types import content_block_param, message_create_params, tool_union_param
from anthropic.types.beta import (
    beta_content_block_param,
    beta_system_message_param,
    beta_tool_result_block_param,
    beta_tool_union_param,
)
from anthropic.types.beta import message_create_params as beta_message_create_params
from anthropic.types.beta.beta_message_param import BetaMessageParam

from providers.openai import policy
from providers.openai.translate import to_chat_request
from specgate.core.errors import InvalidRequestError, UnsupportedFieldError

Json = dict[str, Any]
USER: Json = {"role": "user", "content": "hi"}


def req(**fields: Any) -> Json:
    return {"model": "client-model", "max_tokens": 64, "messages": [USER], **fields}


# ---- the SDK's surface, read from its types at run time


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    if origin in (typing.Annotated, typing_extensions.Required, typing_extensions.NotRequired):
        return _members(typing.get_args(tp)[0])
    return [tp]


def _literals(tp: Any) -> set[str]:
    return {
        value
        for m in _members(tp)
        if typing.get_origin(m) is typing.Literal
        for value in typing.get_args(m)
        if isinstance(value, str)
    }


def _hints(cls: Any) -> dict[str, Any]:
    if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
        return {name: f.annotation for name, f in cls.model_fields.items()}
    hints: dict[str, Any] = typing_extensions.get_type_hints(cls, include_extras=True)
    return hints


def _tags(*unions: Any, key: str = "type") -> set[str]:
    return {
        tag for union in unions for m in _members(union) if m is not type(None) for tag in _literals(_hints(m)[key])
    }


SDK_FIELDS = sorted(
    {"stream"}
    | set(message_create_params.MessageCreateParamsBase.__annotations__)
    | set(beta_message_create_params.MessageCreateParamsBase.__annotations__)
)
SDK_ROLES = sorted(_tags(BetaMessageParam, key="role"))
SDK_BLOCKS = sorted(
    _tags(
        content_block_param.ContentBlockParam,
        beta_content_block_param.BetaContentBlockParam,
        beta_tool_result_block_param.Content,
        beta_system_message_param.ContentBlock,
    )
)
SDK_TOOLS = sorted(_tags(tool_union_param.ToolUnionParam, beta_tool_union_param.BetaToolUnionParam))


def test_the_sdk_surface_was_read() -> None:
    # guards the readers above: an SDK reorganisation must not turn the drift tests into no-ops
    assert {"context_management", "mcp_servers", "output_config", "thread"} <= set(SDK_FIELDS)
    assert SDK_ROLES == ["assistant", "system", "user"]
    assert {"text", "container_upload", "mcp_tool_use", "compaction", "tool_reference"} <= set(SDK_BLOCKS)
    assert {"custom", "web_search_20250305", "mcp_toolset", "browser_toolset_20260801"} <= set(SDK_TOOLS)


@pytest.mark.parametrize("name", SDK_FIELDS)
def test_every_sdk_field_has_a_rule(name: str) -> None:
    assert name in policy.TOP_LEVEL, f"decide what the OpenAI translation does with {name!r} (policy.TOP_LEVEL)"


@pytest.mark.parametrize("role", SDK_ROLES)
def test_every_sdk_role_has_a_rule(role: str) -> None:
    assert role in policy.ROLES


@pytest.mark.parametrize("kind", SDK_BLOCKS)
def test_every_sdk_block_type_has_a_rule(kind: str) -> None:
    assert kind in policy.BLOCKS, f"decide what the OpenAI translation does with {kind!r} blocks (policy.BLOCKS)"


@pytest.mark.parametrize("kind", SDK_TOOLS)
def test_every_sdk_tool_type_has_a_rule(kind: str) -> None:
    assert policy.tool_rule(kind) is not policy.UNKNOWN, f"add a pattern for {kind!r} to policy.TOOL_TYPES"


def test_the_rules_render_as_a_table() -> None:
    table = policy.table_markdown().splitlines()
    assert table[0] == "| kind | name | openai |"
    assert "| field | `mcp_servers` | refuse: an OpenAI-compatible upstream cannot connect to MCP servers |" in table
    assert len(table) == 2 + len(policy.TOP_LEVEL) + len(policy.ROLES) + len(policy.BLOCKS) + len(policy.TOOL_TYPES)


# ---- refused: a 400 naming the path

ASSISTANT_TOOL_CALL: Json = {
    "role": "assistant",
    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
}


def turn(*blocks: Json, role: str = "user") -> list[Json]:
    return [USER, {"role": "assistant", "content": "ok"}, {"role": role, "content": list(blocks)}]


REFUSED: list[tuple[str, Json, str]] = [
    ("mcp_servers", req(mcp_servers=[{"type": "url", "url": "https://mcp.test", "name": "m"}]), "mcp_servers: "),
    ("container", req(container="cntr_1"), "container: "),
    ("container object", req(container={"id": "cntr_1", "skills": []}), "container: "),
    ("compaction", req(compaction={"type": "summarize"}), "compaction: "),
    ("thread continue", req(thread={"type": "continue", "previous_message_id": "msg_1"}), "thread: "),
    ("thread create", req(thread={"type": "create"}), "thread: "),
    ("fallback list", req(fallbacks=[{"model": "claude-haiku-4-5"}]), "fallbacks: "),
    (
        "billing to a user profile",
        req(billing_policy={"type": "billing_policy", "bill_to": "user_profile"}),
        "billing_policy.bill_to: ",
    ),
    ("inference region", req(inference_geo="us"), "inference_geo: "),
    ("a field no rule names", req(brand_new_field=1), "brand_new_field: "),
    (
        "two output formats",
        req(
            output_format={"type": "json_schema", "schema": {}},
            output_config={"format": {"type": "json_schema", "schema": {}}},
        ),
        "output_format: ",
    ),
    ("web search tool", req(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "tools.0.type: "),
    ("bash tool", req(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools.0.type: "),
    (
        "computer tool",
        req(tools=[{"type": "computer_20251124", "name": "computer", "display_width_px": 1, "display_height_px": 1}]),
        "tools.0.type: ",
    ),
    ("toolset without a name", req(tools=[{"type": "browser_toolset_20260801"}]), "tools.0.type: "),
    ("mcp toolset", req(tools=[{"type": "mcp_toolset", "mcp_server_name": "m"}]), "tools.0.type: "),
    ("undated tool search", req(tools=[{"type": "tool_search_tool_regex", "name": "tool_search"}]), "tools.0.type: "),
    (
        "a second tool",
        req(
            tools=[
                {"name": "f", "input_schema": {"type": "object"}},
                {"type": "code_execution_20250825", "name": "code_execution"},
            ]
        ),
        "tools.1.type: ",
    ),
    (
        "a tool only code execution may call",
        req(tools=[{"name": "f", "input_schema": {"type": "object"}, "allowed_callers": ["code_execution_20250825"]}]),
        "tools.0.allowed_callers: ",
    ),
    (
        "server_tool_use history",
        req(messages=turn({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, role="assistant")),
        "messages.2.content.0.type: ",
    ),
    (
        "web search result",
        req(messages=turn({"type": "web_search_tool_result", "tool_use_id": "s", "content": []})),
        "messages.2.content.0.type: ",
    ),
    (
        "mcp tool use",
        req(
            messages=turn(
                {"type": "mcp_tool_use", "id": "m", "name": "n", "server_name": "s", "input": {}}, role="assistant"
            )
        ),
        "messages.2.content.0.type: ",
    ),
    (
        "mcp tool result",
        req(messages=turn({"type": "mcp_tool_result", "tool_use_id": "m"})),
        "messages.2.content.0.type: ",
    ),
    (
        "container upload",
        req(messages=turn({"type": "text", "text": "see"}, {"type": "container_upload", "file_id": "file_1"})),
        "messages.2.content.1.type: ",
    ),
    (
        "image file source",
        req(messages=turn({"type": "image", "source": {"type": "file", "file_id": "file_1"}})),
        "messages.2.content.0.source.type: ",
    ),
    (
        "document url source",
        req(messages=turn({"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}})),
        "messages.2.content.0.source.type: ",
    ),
    (
        "document file source",
        req(messages=turn({"type": "document", "source": {"type": "file", "file_id": "file_1"}})),
        "messages.2.content.0.source.type: ",
    ),
    (
        "compaction with tool changes",
        req(
            messages=turn(
                {
                    "type": "compaction",
                    "content": "summary",
                    "tool_changes": [{"type": "tool_removal", "tool": {"name": "f"}}],
                },
                role="assistant",
            )
        ),
        "messages.2.content.0.tool_changes: ",
    ),
    (
        "tool addition in a system message",
        req(
            messages=[
                USER,
                {
                    "role": "system",
                    "content": [{"type": "tool_addition", "tool": {"name": "f", "input_schema": {"type": "object"}}}],
                },
            ]
        ),
        "messages.1.content.0.type: ",
    ),
    (
        "tool reference in a tool result",
        req(
            messages=[
                USER,
                ASSISTANT_TOOL_CALL,
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "tool_reference", "tool_name": "f"}],
                        }
                    ],
                },
            ]
        ),
        "messages.2.content.0.content.0.type: ",
    ),
]


@pytest.mark.parametrize(("name", "body", "path"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_parts_answer_a_400_naming_them(name: str, body: Json, path: str) -> None:
    with pytest.raises(UnsupportedFieldError) as info:
        to_chat_request(body, "up")
    assert isinstance(info.value, InvalidRequestError) and info.value.status_code == 400
    assert info.value.message.startswith(path), info.value.message
    assert "cannot be sent to an OpenAI-compatible provider (" in info.value.message


# ---- ignored: the translation is the same as without them

IGNORED: list[tuple[str, Json]] = [
    ("context_management", {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}}),
    ("diagnostics", {"diagnostics": {"previous_message_id": "msg_1"}}),
    ("inference_geo global", {"inference_geo": "global"}),
    ("inference_geo null", {"inference_geo": None}),
    ("speed", {"speed": "fast"}),
    ("cache_control", {"cache_control": {"type": "ephemeral"}}),
    ("service_tier", {"service_tier": "auto"}),
    ("thinking adaptive", {"thinking": {"type": "adaptive"}}),
    ("top_k", {"top_k": 5}),
    ("effort and task budget", {"output_config": {"effort": "high", "task_budget": {"type": "tokens", "total": 9000}}}),
    ("default fallbacks", {"fallbacks": "default"}),
    ("fallback credit token", {"fallback_credit_token": {"token": "fct_1"}}),
    ("billing to self", {"billing_policy": {"type": "billing_policy", "bill_to": "self"}}),
    ("betas", {"betas": ["context-management-2025-06-27"]}),
    ("account headers", {"workspace_id": "wrkspc_1", "user_profile_id": "up_1"}),
    ("empty mcp_servers", {"mcp_servers": []}),
    ("null container", {"container": None}),
]


@pytest.mark.parametrize(("name", "extra"), IGNORED, ids=[c[0] for c in IGNORED])
def test_ignored_fields_leave_the_translation_unchanged(name: str, extra: Json) -> None:
    assert to_chat_request(req(**extra), "up") == to_chat_request(req(), "up")


IGNORED_BLOCKS: list[tuple[str, list[Json], list[Json]]] = [
    (
        "thinking and fallback markers in assistant history",
        [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "fallback", "from": {"model": "a"}, "to": {"model": "b"}},
            {"type": "text", "text": "answer"},
        ],
        [{"type": "text", "text": "answer"}],
    ),
    (
        "a failed compaction (null content)",
        [{"type": "compaction", "content": None}, {"type": "text", "text": "answer"}],
        [{"type": "text", "text": "answer"}],
    ),
    (
        "text citations and cache_control",
        [{"type": "text", "text": "answer", "citations": [], "cache_control": {"type": "ephemeral"}}],
        [{"type": "text", "text": "answer"}],
    ),
]


@pytest.mark.parametrize(("name", "blocks", "same_as"), IGNORED_BLOCKS, ids=[c[0] for c in IGNORED_BLOCKS])
def test_ignored_blocks_leave_the_translation_unchanged(name: str, blocks: list[Json], same_as: list[Json]) -> None:
    assert to_chat_request(req(messages=turn(*blocks, role="assistant")), "up") == to_chat_request(
        req(messages=turn(*same_as, role="assistant")), "up"
    )


def test_ignored_custom_tool_fields() -> None:
    plain = {"name": "f", "input_schema": {"type": "object"}}
    rich = {
        **plain,
        "cache_control": {"type": "ephemeral"},
        "defer_loading": False,
        "input_examples": [{"a": 1}],
        "eager_input_streaming": True,
        "allowed_callers": ["direct", "code_execution_20250825"],
    }
    assert to_chat_request(req(tools=[rich]), "up") == to_chat_request(req(tools=[plain]), "up")


# ---- translated

SYSTEM_REMINDER = {"role": "system", "content": [{"type": "text", "text": "Be terse."}]}

SYSTEM_CASES: list[tuple[str, list[Json], list[Json]]] = [
    (
        "as the last message (Claude Code 2.1.332)",
        [USER, SYSTEM_REMINDER],
        [{"role": "user", "content": "hi"}, {"role": "system", "content": "Be terse."}],
    ),
    (
        "mid-conversation, at its position",
        [
            USER,
            {"role": "assistant", "content": "a"},
            {"role": "system", "content": "now French"},
            {"role": "user", "content": "q"},
        ],
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "a"},
            {"role": "system", "content": "now French"},
            {"role": "user", "content": "q"},
        ],
    ),
    (
        "clear_at next_user_message: shown until a later user message",
        [USER, {"role": "system", "content": "once", "clear_at": "next_user_message"}],
        [{"role": "user", "content": "hi"}, {"role": "system", "content": "once"}],
    ),
    (
        "clear_at next_user_message: left out after one",
        [
            USER,
            {"role": "system", "content": "once", "clear_at": "next_user_message"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q"},
        ],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}],
    ),
    (
        "clear_at never and a per-message output_config (ignored)",
        [
            USER,
            {"role": "system", "content": "always", "clear_at": "never", "output_config": {"effort": "low"}},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q"},
        ],
        [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "always"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q"},
        ],
    ),
    (
        "only an output_config: nothing to show",
        [USER, {"role": "system", "output_config": {"effort": "low"}}],
        [{"role": "user", "content": "hi"}],
    ),
    (
        "between tool calls and their results: after the tool messages",
        [
            USER,
            ASSISTANT_TOOL_CALL,
            {"role": "system", "content": "results follow"},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
        [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "42"},
            {"role": "system", "content": "results follow"},
            {"role": "user", "content": "go on"},
        ],
    ),
]


@pytest.mark.parametrize(("name", "messages", "expected"), SYSTEM_CASES, ids=[c[0] for c in SYSTEM_CASES])
def test_system_role_messages(name: str, messages: list[Json], expected: list[Json]) -> None:
    assert to_chat_request(req(messages=messages), "up")["messages"] == expected


def test_a_system_message_after_the_top_level_system() -> None:
    out = to_chat_request(req(system="top", messages=[USER, SYSTEM_REMINDER]), "up")
    assert [m["role"] for m in out["messages"]] == ["system", "user", "system"]


SCHEMA: Json = {
    "type": "object",
    "properties": {"n": {"type": "integer"}},
    "required": ["n"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "extra",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "low"}},
        {"output_format": {"type": "json_schema", "schema": SCHEMA}},
    ],
    ids=["output_config.format", "output_format"],
)
def test_output_format_becomes_a_strict_json_schema_response_format(extra: Json) -> None:
    out = to_chat_request(req(**extra), "up")
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": SCHEMA, "strict": True},
    }
    assert "reasoning_effort" not in out


def test_a_compaction_summary_is_sent_as_text_in_place() -> None:
    messages = [
        {
            "role": "assistant",
            "content": [{"type": "compaction", "content": "We discussed X.", "encrypted_content": "e"}],
        },
        {"role": "user", "content": "and now?"},
    ]
    assert to_chat_request(req(messages=messages), "up")["messages"] == [
        {"role": "assistant", "content": "We discussed X."},
        {"role": "user", "content": "and now?"},
    ]


def test_tool_result_images_follow_in_the_user_message() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "screenshot"}, image]}
    out = to_chat_request(req(messages=[USER, ASSISTANT_TOOL_CALL, {"role": "user", "content": [result]}]), "up")
    assert out["messages"][2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "screenshot"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "(attachments of tool result t1)"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
            ],
        },
    ]


def test_search_results_and_text_documents_become_text() -> None:
    blocks = [
        {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "found"}]},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}},
    ]
    out = to_chat_request(req(messages=turn(*blocks)), "up")
    assert out["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "found"}, {"type": "text", "text": "doc"}],
    }
