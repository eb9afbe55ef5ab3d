"""specgate/contract/compiled.py: the focused explanation (jsonschema-rs locates the error, python-
jsonschema words only that part) says what a full python-jsonschema pass over the body says."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import orjson
import pytest

from specgate.contract import spec
from specgate.contract.compiled import CompiledSchema, oas_to_json_schema
from specgate.contract.unknown_fields import handler_takes_unknown_fields, unknown_field_error


@pytest.fixture(scope="module")
def compiled() -> CompiledSchema:
    document = spec.bundle()
    operation = spec.operation_object(document, "POST", "/v1/messages")
    return CompiledSchema(operation["requestBody"]["content"]["application/json"]["schema"])


def conversation(turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        if i % 2 == 0:
            messages.append({"role": "user", "content": [{"type": "text", "text": f"turn {i} " * 20}]})
        else:
            messages.append({"role": "assistant", "content": f"reply {i} " * 20})
    return {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": messages}


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        node: Any = body
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _delete(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(name)


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "wrong-type": _set(["max_tokens"], "many"),
    "missing": _delete("max_tokens"),
    "extra": _set(["surprise"], 1),
    "enum": _set(["messages", 5, "role"], "bot"),
    "unknown-block": _set(["messages", 40, "content", 0], {"type": "video"}),
    "block-field-missing": _set(["messages", 40, "content", 0], {"type": "text"}),
    "block-wrong-type": _set(["messages", 40, "content", 0, "text"], 7),
    "content-not-a-list": _set(["messages", 41, "content"], 5),
    "empty-messages": _set(["messages"], []),
    "nested-tool": _set(["tools"], [{"name": "t", "input_schema": "no"}]),
    "minimum": _set(["max_tokens"], 0),
    "system-block": _set(["system"], [{"type": "text"}]),
}


@pytest.mark.parametrize("turns", [2 * 30, 650])
@pytest.mark.parametrize("edit", list(EDITS))
def test_focused_explanation_matches_the_full_one(compiled: CompiledSchema, turns: int, edit: str) -> None:
    body = copy.deepcopy(conversation(turns))
    EDITS[edit](body)
    assert not compiled.is_valid(body)
    full = compiled._explain(compiled.schema, body, [])
    assert compiled.explain(body) == full
    assert not full.startswith("body: ")  # each names the field


def test_non_objects(compiled: CompiledSchema) -> None:
    assert compiled.explain([]) == "body: Input should be a valid dictionary"
    assert compiled.explain("text") == "body: Input should be a valid dictionary"


# ---- undeclared top-level keys (forward compatibility, see specgate.dispatch.forwarding)


def test_undeclared_top_level_keys_are_named_in_body_order(compiled: CompiledSchema) -> None:
    body = {"zz_b": 1, **conversation(1), "zz_a": {"x": 1}}
    assert compiled.undeclared(body) == ("zz_b", "zz_a")
    known, names = compiled.without_undeclared(body)
    assert names == ("zz_b", "zz_a") and known == conversation(1) and compiled.is_valid(known)
    assert compiled.without_undeclared(conversation(1)) == (conversation(1), ())
    assert compiled.undeclared([1]) == () and compiled.undeclared("x") == ()


def test_only_the_top_level_is_looked_at(compiled: CompiledSchema) -> None:
    body = conversation(1)
    body["messages"][0]["zz_x"] = 1
    assert compiled.undeclared(body) == ()
    assert not compiled.is_valid(compiled.without_undeclared(body)[0])


def test_an_open_schema_declares_everything() -> None:
    assert CompiledSchema({"type": "object", "properties": {"a": {}}}).undeclared({"b": 1}) == ()
    closed = CompiledSchema({"type": "object", "additionalProperties": False, "patternProperties": {"^x_": {}}})
    assert closed.undeclared({"x_1": 1, "y": 2}) == ("y",)


def test_the_refusal_names_the_first_undeclared_key_as_the_explanation_does(compiled: CompiledSchema) -> None:
    body = {**conversation(1), "zz_b": 1, "zz_a": 2}
    assert unknown_field_error(compiled.undeclared(body)) == compiled.explain(body)
    assert compiled.explain(body) == "zz_a: Extra inputs are not permitted"


def test_only_marked_handlers_take_unknown_fields() -> None:
    from handlers import batches, count_tokens, messages

    assert handler_takes_unknown_fields(messages.create_message)
    assert handler_takes_unknown_fields(messages.anthropic_create_message)
    assert handler_takes_unknown_fields(messages.platform_create_message)
    assert handler_takes_unknown_fields(count_tokens.count_tokens)
    assert not handler_takes_unknown_fields(batches.create_message_batch)
    assert not handler_takes_unknown_fields(messages.create_message_wildcard)


def test_compiled_schemas_are_shared_by_content() -> None:
    """The app compiles each body schema at start-up; connexion's copy (the same schema plus the
    spec's components) finds that compiled form instead of compiling on its first request."""
    from specgate.contract.compiled import SchemaCache

    cache = SchemaCache()
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    first = cache.compile(schema)
    assert cache.compile({**schema, "components": {"schemas": {"X": {}}}}) is first
    assert cache.compile({**schema, "required": ["a"]}) is not first


def test_repeated_subschemas_are_compiled_once() -> None:
    """The Messages schema repeats its block unions in many places; hoisted, each is kept once."""
    from specgate.contract.hoisting import hoist

    doc = spec.bundle()
    schema = spec.operation_object(doc, "post", "/v1/messages")["requestBody"]["content"]["application/json"]["schema"]
    inline = oas_to_json_schema(schema)
    hoisted = hoist(inline)
    assert len(orjson.dumps(hoisted)) * 3 < len(orjson.dumps(inline))
    assert all("$ref" not in str(branch)[:8] for branch in hoisted["properties"]["messages"]["items"]["oneOf"])
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    assert jsonschema_rs.Draft4Validator(hoisted).is_valid(body) == jsonschema_rs.Draft4Validator(inline).is_valid(body)
