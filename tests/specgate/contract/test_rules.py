"""specgate.contract.rules: the spec copy schemathesis reads, and the cross-field rules of its hook."""

from __future__ import annotations

import json
from typing import Any

import pytest

from specgate.contract import spec
from specgate.contract.rules import rejection, schemathesis_spec

OK: dict[str, Any] = {"model": "m", "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}]}


def test_the_sse_content_keywords_are_unprefixed_in_a_copy() -> None:
    document = spec.bundle()
    before = json.dumps(document, sort_keys=True)
    copy = schemathesis_spec(document)
    assert json.dumps(document, sort_keys=True) == before  # the served spec is untouched
    schemas = copy["components"]["schemas"]
    anthropic_data = schemas["MessageStreamSSE"]["properties"]["data"]
    assert anthropic_data["contentMediaType"] == "application/json"
    assert anthropic_data["contentSchema"] == {"$ref": "#/components/schemas/StreamEvent"}
    chunk_data = schemas["ChunkSSE"]["properties"]["data"]["oneOf"]
    assert chunk_data[0] == {"type": "string", "enum": ["[DONE]"]}
    assert chunk_data[1]["contentSchema"] == {"$ref": "#/components/schemas/ChunkPayload"}
    assert "x-contentSchema" not in json.dumps(copy) and "x-contentMediaType" not in json.dumps(copy)


@pytest.mark.parametrize(
    ("extra", "headers", "reason"),
    [
        ({}, {}, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, {}, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, {}, "thinking.budget_tokens"),
        ({"tool_choice": {"type": "tool", "name": "f"}}, {}, "tool_choice.name"),
        ({"tool_choice": {"type": "tool", "name": "f"}, "tools": [{"name": "f", "input_schema": {}}]}, {}, None),
        ({"temperature": 0.5}, {"anthropic-version": "2023-06-01"}, None),
        ({"top_k": 5}, {"Anthropic-Version": "2026-10-21"}, "anthropic-version 2026-10-21"),
    ],
)
def test_cross_field_rules(extra: dict[str, Any], headers: dict[str, str], reason: str | None) -> None:
    found = rejection({**OK, **extra}, headers)
    assert (found is None) if reason is None else (found is not None and reason in found)
