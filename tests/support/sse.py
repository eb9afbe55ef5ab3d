"""A strict reader of Anthropic SSE streams for tests: parses frames and checks the grammar."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from specgate.contract.compiled import oas_to_json_schema
from specgate.contract.spec import bundle


def parse_frames(raw: bytes) -> list[tuple[str | None, str]]:
    frames = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk.strip():
            continue
        event, data = None, []
        for line in chunk.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        assert len(data) == 1, f"exactly one data line per event, got {chunk!r}"
        frames.append((event, data[0]))
    return frames


def stream_event_validator() -> jsonschema.Draft4Validator:
    doc = bundle()
    schemas = {name: oas_to_json_schema(s) for name, s in doc["components"]["schemas"].items()}

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (v.replace("#/components/schemas/", "#/definitions/") if k == "$ref" else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    root = {"$ref": "#/definitions/StreamEvent", "definitions": fix(schemas)}
    return jsonschema.Draft4Validator(root)


def check_grammar(raw: bytes) -> list[dict[str, Any]]:
    """Assert the exact Anthropic event grammar; return the decoded events."""
    validator = stream_event_validator()
    events: list[dict[str, Any]] = []
    for name, data in parse_frames(raw):
        assert name is not None, "every event needs an event: line"
        payload = json.loads(data)
        assert payload["type"] == name, f"data.type {payload['type']!r} != event {name!r}"
        validator.validate(payload)
        events.append(payload)
    kinds = [e["type"] for e in events]
    if kinds and kinds[-1] == "error":
        return events
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1
    assert kinds[-2] == "message_delta"
    open_index: int | None = None
    next_index = 0
    for e in events:
        if e["type"] == "content_block_start":
            assert open_index is None, "blocks must not interleave"
            assert e["index"] == next_index, "indices 0,1,2... in order"
            open_index = e["index"]
        elif e["type"] == "content_block_delta":
            assert e["index"] == open_index, "delta for a block that is not open"
        elif e["type"] == "content_block_stop":
            assert e["index"] == open_index
            open_index, next_index = None, next_index + 1
    assert open_index is None
    for e in events:
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            first = next(x for x in events if x["type"] == "content_block_delta" and x["index"] == e["index"])
            assert first["delta"].get("partial_json") != "", "first input_json_delta must not be empty"
    return events
