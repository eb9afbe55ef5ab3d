"""The official Python SDK, over the wire, with every top-level param, message role, content block
type and tool type its types declare (derived at run time, see specgate/apisurface), and with
its own responses fed back into the next request (GA and beta namespaces)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from specgate.contract.apisurface.cases import Builder
from specgate.contract.apisurface.nodes import ListOf, Lit, OneOf, Ref, without_null
from specgate.contract.apisurface.sdk import Surface, operations
from tests.support.gateway import start_gateway

ECHO_REFUSES = {"compaction"}  # README, per-provider table
BASE: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 2048,
    "messages": [{"role": "user", "content": "Hello"}],
}


def _surface() -> tuple[Surface, dict[str, Any]]:
    surface = Surface()
    ops = {op.name: op for op in operations(surface)}
    return surface, ops["create"].beta


SURFACE, FIELDS = _surface()
BUILDER = Builder(SURFACE)


def _members(node: Any) -> list[str]:
    inner, _ = without_null(node)
    if isinstance(inner, ListOf):
        return _members(inner.item)
    if isinstance(inner, OneOf):
        return [n for m in inner.members for n in _members(m)]
    return [inner.name] if isinstance(inner, Ref) else []


def _tag(name: str) -> str:
    f = SURFACE.objects[name].fields.get("type")
    return str(f.node.values[0]) if f is not None and isinstance(f.node, Lit) else name


def _top_level() -> list[tuple[str, Any]]:
    out = []
    for key, f in FIELDS.items():
        if key in BASE:
            continue
        out.append((key, BUILDER.minimal(f.node, key)))
    return out


def _block_types() -> list[str]:
    user = SURFACE.objects["UserMessageParam"].fields["content"].node
    return [n for n in _members(user) if not n.endswith("@model")]


def _tool_types() -> list[str]:
    return [n for n in _members(FIELDS["tools"].node) if not n.endswith("@model")]


@pytest.fixture(scope="module")
def gateway() -> Iterator[Any]:
    """One echo gateway for the module: these tests only read."""
    running = start_gateway()
    yield running
    running.stop()


def client(gateway: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="unused", base_url=gateway.url, max_retries=0)


TOP_LEVEL = _top_level()


@pytest.mark.parametrize(("key", "value"), TOP_LEVEL, ids=[k for k, _ in TOP_LEVEL])
def test_every_top_level_param(gateway: Any, key: str, value: Any) -> None:
    with client(gateway) as c:
        if key in ECHO_REFUSES:  # the spec takes it; the echo provider says it cannot honour it
            with pytest.raises(anthropic.BadRequestError) as info:
                c.beta.messages.create(**{**BASE, key: value})
            assert info.value.status_code == 400
            assert f"'{key}: the echo provider" in str(info.value)
            return
        message = c.beta.messages.create(**{**BASE, key: value})
    assert message.type == "message"


@pytest.mark.parametrize("name", _block_types(), ids=[_tag(n) for n in _block_types()])
def test_every_content_block_type(gateway: Any, name: str) -> None:
    block = BUILDER.object(name)
    messages = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": [block]}]
    with client(gateway) as c:
        message = c.beta.messages.create(**{**BASE, "messages": [*messages, {"role": "user", "content": "go on"}]})
    assert message.type == "message"


@pytest.mark.parametrize("name", _tool_types(), ids=[_tag(n) for n in _tool_types()])
def test_every_tool_type(gateway: Any, name: str) -> None:
    with client(gateway) as c:
        message = c.beta.messages.create(**{**BASE, "tools": [BUILDER.object(name)]})
    assert message.type == "message"


def test_system_messages_inside_messages(gateway: Any) -> None:
    # Claude Code 2.1.332: a role "system" message, last.
    messages = [{"role": "user", "content": "Hello"}, {"role": "system", "content": "Be brief."}]
    with client(gateway) as c:
        message = c.beta.messages.create(**{**BASE, "messages": messages})
    assert message.content[0].type == "text"


def test_header_params_arrive_as_headers(gateway: Any) -> None:
    with client(gateway) as c:
        raw = c.beta.messages.with_raw_response.create(
            **BASE, betas=["context-management-2025-06-27"], workspace_id="wrkspc_1", user_profile_id="up_1"
        )
    assert raw.http_request.headers["anthropic-workspace-id"] == "wrkspc_1"
    assert raw.parse().type == "message"


TOOL = {
    "name": "lookup",
    "description": "Look up",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
}


@pytest.mark.parametrize("namespace", ["ga", "beta"])
def test_responses_fed_back(gateway: Any, namespace: str) -> None:
    """What the SDK returns (tool_use, thinking, text blocks) is what it sends back next turn."""
    with client(gateway) as c:
        api: Any = c.messages if namespace == "ga" else c.beta.messages
        first = api.create(
            **BASE,
            tools=[TOOL],
            tool_choice={"type": "any"},
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        kinds = [b.type for b in first.content]
        assert "tool_use" in kinds and "thinking" in kinds
        call = next(b for b in first.content if b.type == "tool_use")
        turn = [
            *BASE["messages"],
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "42"}]},
        ]
        second = api.create(**{**BASE, "messages": turn}, tools=[TOOL])
        assert "42" in second.content[0].text
        with api.stream(**{**BASE, "messages": [*BASE["messages"], {"role": "user", "content": "more"}]}) as s:
            streamed = s.get_final_message()
        third = api.create(
            **{
                **BASE,
                "messages": [
                    *turn,
                    {"role": "assistant", "content": streamed.content},
                    {"role": "user", "content": "ok"},
                ],
            },
            tools=[TOOL],
        )
        assert third.type == "message"
