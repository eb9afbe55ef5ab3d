"""What the OpenAI translation does with each part of the Anthropic request surface.

Every top-level field, message role, content block type and tool type of the Anthropic Messages
API (the official SDK's ``MessageCreateParams``, GA and beta) has one rule here:

* ``translate``: sent upstream in its Chat Completions form (``providers.openai.translate``);
* ``ignore``: not sent, because leaving it out does not change what was asked (a hint about
  caching, context editing, speed, diagnostics or billing);
* ``refuse``: a 400 naming the field (``UnsupportedFieldError``), because an OpenAI-compatible
  upstream cannot do it and leaving it out would silently change the request's meaning;
* ``depends``: the note says which values are ignored and which refused.

A name this module does not know is refused (a new API field is never dropped unnoticed).
``check`` applies the refusals; the translation itself honours the rest. ``table_markdown``
renders the rules for the README.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from specgate.core.errors import UnsupportedFieldError

Json = dict[str, Any]


class Action(StrEnum):
    TRANSLATE = "translate"
    IGNORE = "ignore"
    REFUSE = "refuse"
    DEPENDS = "depends"


@dataclass(frozen=True, slots=True)
class Rule:
    action: Action
    note: str


T, IG, R, D = Action.TRANSLATE, Action.IGNORE, Action.REFUSE, Action.DEPENDS

TOP_LEVEL: dict[str, Rule] = {
    "model": Rule(T, "the route's upstream model"),
    "max_tokens": Rule(T, "max_tokens"),
    "messages": Rule(T, "chat messages (see roles and blocks)"),
    "system": Rule(T, "a leading system message"),
    "stream": Rule(T, "stream, with stream_options.include_usage"),
    "stop_sequences": Rule(T, "stop"),
    "temperature": Rule(T, "temperature"),
    "top_p": Rule(T, "top_p"),
    "metadata": Rule(T, "metadata.user_id becomes user"),
    "tools": Rule(T, "function tools (see tool types)"),
    "tool_choice": Rule(T, "tool_choice; disable_parallel_tool_use becomes parallel_tool_calls: false"),
    "output_config": Rule(
        D,
        "format becomes response_format json_schema (strict); effort and task_budget are hints, ignored "
        "(reasoning_effort is refused by non-reasoning upstreams)",
    ),
    "output_format": Rule(T, "response_format json_schema (strict)"),
    "top_k": Rule(IG, "a sampling hint Chat Completions has no parameter for"),
    "thinking": Rule(IG, "extended thinking is a Claude feature; the upstream answers without it"),
    "context_management": Rule(IG, "a context-editing hint: the upstream sees the whole conversation"),
    "diagnostics": Rule(IG, "asks for cache diagnostics in the response; there are none"),
    "cache_control": Rule(IG, "a prompt-caching hint"),
    "service_tier": Rule(IG, "a capacity hint"),
    "speed": Rule(IG, "a latency hint"),
    "fallback_credit_token": Rule(IG, "a billing discount on Anthropic's side"),
    "betas": Rule(IG, "Anthropic beta names (the SDK sends them as the anthropic-beta header)"),
    "workspace_id": Rule(IG, "an Anthropic account header"),
    "user_profile_id": Rule(IG, "an Anthropic account header"),
    "inference_geo": Rule(
        D, "null or 'global' is ignored; a region is refused (the gateway cannot say where the upstream runs)"
    ),
    "fallbacks": Rule(
        D,
        "'default' is ignored (Anthropic runs a model without a fallback configuration alone); "
        "a list of fallback models is refused",
    ),
    "billing_policy": Rule(D, "bill_to 'self' is ignored; 'user_profile' is refused (it would bill the gateway)"),
    "mcp_servers": Rule(R, "an OpenAI-compatible upstream cannot connect to MCP servers"),
    "container": Rule(R, "code-execution containers and skills run at Anthropic"),
    "compaction": Rule(R, "asks for a compaction block instead of a reply"),
    "thread": Rule(R, "server-held conversation state exists only at Anthropic"),
}

ROLES: dict[str, Rule] = {
    "user": Rule(T, "user messages (tool_result blocks become tool messages before them)"),
    "assistant": Rule(T, "assistant messages (tool_use blocks become tool_calls)"),
    "system": Rule(
        T,
        "a system message at the same position (also as the last message); clear_at "
        "'next_user_message' leaves it out once a later user message exists; output_config is ignored; "
        "tool_addition/tool_removal blocks are refused",
    ),
}

BLOCKS: dict[str, Rule] = {
    "text": Rule(T, "text (citations and cache_control ignored)"),
    "image": Rule(D, "base64 and url sources become image_url parts; a file source is refused"),
    "document": Rule(
        D, "text and content sources become text, a base64 PDF a file part; url and file sources are refused"
    ),
    "search_result": Rule(T, "its text"),
    "tool_use": Rule(T, "an assistant tool call"),
    "tool_result": Rule(
        T, "a tool message with its text; its images follow in a user message (tool messages carry text only)"
    ),
    "thinking": Rule(IG, "earlier reasoning; Chat Completions takes none back"),
    "redacted_thinking": Rule(IG, "earlier reasoning; Chat Completions takes none back"),
    "fallback": Rule(IG, "a fallback marker that Anthropic does not render into the prompt either"),
    "compaction": Rule(
        D, "its summary text, in place; null content (a failed compaction) is ignored; tool_changes are refused"
    ),
    "server_tool_use": Rule(R, "server tool calls ran at Anthropic"),
    "web_search_tool_result": Rule(R, "a server tool's result"),
    "web_fetch_tool_result": Rule(R, "a server tool's result"),
    "code_execution_tool_result": Rule(R, "a server tool's result"),
    "bash_code_execution_tool_result": Rule(R, "a server tool's result"),
    "text_editor_code_execution_tool_result": Rule(R, "a server tool's result"),
    "tool_search_tool_result": Rule(R, "a server tool's result"),
    "advisor_tool_result": Rule(R, "a server tool's result"),
    "mcp_tool_use": Rule(R, "MCP calls ran at Anthropic"),
    "mcp_tool_result": Rule(R, "MCP results come from Anthropic's MCP connector"),
    "mcp_tool_listing": Rule(R, "MCP listings come from Anthropic's MCP connector"),
    "container_upload": Rule(R, "files for a code-execution container"),
    "tool_addition": Rule(R, "a change of the tool set mid-conversation"),
    "tool_removal": Rule(R, "a change of the tool set mid-conversation"),
    "tool_reference": Rule(R, "a tool-search reference (tool_result content)"),
    "browser_state": Rule(R, "browser-toolset state (tool_result content)"),
}

# tool types, first matching pattern wins (the dated names are matched by family)
TOOL_TYPES: tuple[tuple[str, Rule], ...] = (
    ("custom", Rule(T, "a function tool (cache_control, defer_loading, input_examples ignored)")),
    ("bash_*", Rule(R, "an Anthropic-defined tool whose input schema only Claude models know")),
    ("text_editor_*", Rule(R, "an Anthropic-defined tool whose input schema only Claude models know")),
    ("memory_*", Rule(R, "an Anthropic-defined tool whose input schema only Claude models know")),
    ("computer_toolset_*", Rule(R, "a server toolset that runs at Anthropic")),
    ("computer_*", Rule(R, "an Anthropic-defined tool whose input schema only Claude models know")),
    ("browser_toolset_*", Rule(R, "a server toolset that runs at Anthropic")),
    ("web_search_*", Rule(R, "a server tool that runs at Anthropic")),
    ("web_fetch_*", Rule(R, "a server tool that runs at Anthropic")),
    ("code_execution_*", Rule(R, "a server tool that runs at Anthropic")),
    ("tool_search_tool_*", Rule(R, "a server tool that runs at Anthropic")),
    ("advisor_*", Rule(R, "a server tool that runs at Anthropic")),
    ("mcp_toolset", Rule(R, "tools of an MCP server that Anthropic connects to")),
)

UNKNOWN = Rule(R, "not known to the OpenAI translation")
PROVIDER = "an OpenAI-compatible provider"


def tool_rule(tool_type: str | None) -> Rule:
    name = tool_type or "custom"
    return next((rule for pattern, rule in TOOL_TYPES if fnmatch.fnmatchcase(name, pattern)), UNKNOWN)


def _refuse(path: str, what: str, note: str) -> UnsupportedFieldError:
    subject = f"{what} cannot" if what else "cannot"
    return UnsupportedFieldError(f"{path}: {subject} be sent to {PROVIDER} ({note})")


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _check_top_level(req: Json) -> None:
    for name, value in req.items():
        rule = TOP_LEVEL.get(name, UNKNOWN)
        if rule.action is Action.REFUSE and not _empty(value):
            raise _refuse(name, "", rule.note)
    geo = req.get("inference_geo")
    if geo is not None and geo != "global":
        raise _refuse("inference_geo", f"region {geo!r}", "the gateway cannot say where the upstream runs")
    fallbacks = req.get("fallbacks")
    if isinstance(fallbacks, list) and fallbacks:
        raise _refuse("fallbacks", "a list of fallback models", "Anthropic's server-side fallback")
    billing = req.get("billing_policy")
    if isinstance(billing, dict) and billing.get("bill_to", "self") != "self":
        raise _refuse("billing_policy.bill_to", repr(billing.get("bill_to")), "only the gateway's own key pays")
    output_config = req.get("output_config")
    if isinstance(output_config, dict) and req.get("output_format") is not None and output_config.get("format"):
        raise _refuse("output_format", "output_format together with output_config.format", "two output formats")


def _check_block(block: Any, path: str) -> None:
    if not isinstance(block, dict):
        return
    kind = str(block.get("type"))
    rule = BLOCKS.get(kind, UNKNOWN)
    if rule.action is Action.REFUSE:
        raise _refuse(f"{path}.type", f"a {kind!r} block", rule.note)
    raw_source = block.get("source")
    source: Json = raw_source if isinstance(raw_source, dict) else {}
    if kind == "image" and source.get("type") not in ("base64", "url"):
        raise _refuse(f"{path}.source.type", f"an image source of type {source.get('type')!r}", "no equivalent")
    if kind == "document" and source.get("type") not in ("text", "content", "base64"):
        note = "the upstream cannot fetch it" if source.get("type") == "url" else "no equivalent"
        raise _refuse(f"{path}.source.type", f"a document source of type {source.get('type')!r}", note)
    if kind == "document" and source.get("type") == "content":
        _check_blocks(source.get("content"), f"{path}.source.content")
    if kind == "compaction" and block.get("tool_changes"):
        raise _refuse(f"{path}.tool_changes", "tool changes", "a change of the tool set mid-conversation")
    if kind == "tool_result":
        _check_blocks(block.get("content"), f"{path}.content")


def _check_blocks(content: Any, path: str) -> None:
    if isinstance(content, list):
        for j, block in enumerate(content):
            _check_block(block, f"{path}.{j}")


def _check_messages(messages: Iterable[Any]) -> None:
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = str(message.get("role"))
        if role not in ROLES:
            raise _refuse(f"messages.{i}.role", f"role {role!r}", UNKNOWN.note)
        _check_blocks(message.get("content"), f"messages.{i}.content")


def _check_tools(tools: Iterable[Any]) -> None:
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            continue
        rule = tool_rule(tool.get("type"))
        if rule.action is Action.REFUSE:
            raise _refuse(f"tools.{i}.type", f"tool type {tool.get('type')!r}", rule.note)
        callers = tool.get("allowed_callers")
        if isinstance(callers, list) and callers and "direct" not in callers:
            raise _refuse(f"tools.{i}.allowed_callers", "a tool only code execution may call", "programmatic calling")


def check(req: Json) -> None:
    """Raise ``UnsupportedFieldError`` (naming the path) for the first part of ``req`` that the
    translation refuses; return when everything is translated or harmlessly ignored."""
    _check_top_level(req)
    _check_messages(req.get("messages") or [])
    _check_tools(req.get("tools") or [])


def table_markdown() -> str:
    """The rules as markdown rows (what the README's per-provider table shows for openai)."""
    rows = ["| kind | name | openai |", "|---|---|---|"]
    sections: list[tuple[str, Iterable[tuple[str, Rule]]]] = [
        ("field", TOP_LEVEL.items()),
        ("role", ROLES.items()),
        ("block", BLOCKS.items()),
        ("tool", TOOL_TYPES),
    ]
    for kind, rules in sections:
        rows += [f"| {kind} | `{name}` | {rule.action}: {rule.note} |" for name, rule in rules]
    return "\n".join(rows)
