"""The compiled body schemas: OpenAPI 3.0 converted to JSON Schema and compiled by jsonschema-rs.

Each operation's dereferenced schema is converted once (``nullable`` becomes a type union;
``x-``/``discriminator`` keywords are dropped) and compiled once (``CompiledSchema``; shared by
content within an app through ``SchemaCache``). ``is_valid`` is one native call; only an invalid
body pays for python-jsonschema: ``explain`` points it at the failing part of the body, and
``specgate.contract.wording`` words what it finds.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import jsonschema
import jsonschema_rs
import orjson

from specgate.contract.hoisting import hoist
from specgate.contract.wording import describe
from specgate.core import deepjson

_DROP_KEYS = frozenset({"discriminator", "example", "examples", "externalDocs", "xml", "nullable", "deprecated"})
_MAP_KEYS = frozenset({"properties", "patternProperties", "definitions", "$defs"})


def oas_to_json_schema(node: Any) -> Any:
    """Convert an OpenAPI 3.0 schema object (already dereferenced) to Draft 4 JSON Schema."""
    if isinstance(node, list):
        return [oas_to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or key.startswith("x-"):
            continue
        if key in _MAP_KEYS and isinstance(value, dict):
            out[key] = {name: oas_to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = oas_to_json_schema(value)
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif any(k in out for k in ("oneOf", "anyOf", "allOf", "$ref")):
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class CompiledSchema:
    """One operation's body schema, compiled once: a fast check and a slow explainer."""

    def __init__(self, oas_schema: dict[str, Any]) -> None:
        # repeated subschemas once, behind $ref (specgate/contract/hoisting.py): a quarter of the memory
        schema = hoist(oas_to_json_schema({k: v for k, v in oas_schema.items() if k != "components"}))
        self.schema = schema
        self._definitions = schema.get("definitions")
        self._fast = jsonschema_rs.Draft4Validator(schema)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._fast.is_valid(instance))

    def undeclared(self, instance: Any) -> tuple[str, ...]:
        """The top-level keys of ``instance`` that a closed top-level object schema does not
        declare (empty when the schema is open or not an object schema)."""
        schema = self.schema
        if not isinstance(instance, dict) or schema.get("additionalProperties") is not False:
            return ()
        declared = schema.get("properties") or {}
        patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
        return tuple(k for k in instance if k not in declared and not any(p.search(k) for p in patterns))

    def without_undeclared(self, instance: Any) -> tuple[Any, tuple[str, ...]]:
        """(``instance`` without its undeclared top-level keys, their names). Call it for a body
        that ``is_valid`` refused: when the stripped body is valid, those keys were its only fault."""
        names = self.undeclared(instance)
        if not names:
            return instance, ()
        return {k: v for k, v in instance.items() if k not in names}, names

    def explain(self, instance: Any) -> str:
        """One message for the most relevant error (call only when ``is_valid`` is False).

        jsonschema-rs finds the errors (milliseconds even for a large body); python-jsonschema,
        which words them, then sees only the failing keyword and the part of the body under it,
        so the cost follows the size of that part, not of the whole body.

        Neither engine words errors of a body nested about as deep as the parser allows (past
        ~255 levels jsonschema-rs refuses to report, python-jsonschema recurses out), so such a
        body is explained from a copy cut at ``EXPLAIN_LEVELS``: no schema constrains anything
        that deep (tests/specgate/test_depth.py checks the spec), so the same error is found."""
        try:
            return self._locate(instance)
        except (_TooDeep, RecursionError):
            pass
        try:
            return self._locate(deepjson.pruned(instance, EXPLAIN_LEVELS))
        except (_TooDeep, RecursionError):
            return "body: Invalid request"

    def _locate(self, instance: Any) -> str:
        try:
            fast_errors = list(self._fast.iter_errors(instance))
        except ValueError as exc:
            if "Recursion limit" in str(exc):
                raise _TooDeep from None
            fast_errors = []
        if not fast_errors:
            return self._explain(self.schema, instance, [])
        first = min(fast_errors, key=lambda e: (type(e.kind).__name__ in _UNION_KINDS, len(e.instance_path)))
        *where, keyword = list(first.schema_path)
        try:
            parent = _walk(self.schema, where)
            part = _walk(instance, list(first.instance_path))
        except (KeyError, IndexError, TypeError):
            return self._explain(self.schema, instance, [])
        focused = _focus(parent, str(keyword))
        if self._definitions is not None:  # what the focused part refers to
            focused["definitions"] = self._definitions
        return self._explain(focused, part, list(first.instance_path))

    @staticmethod
    def _explain(schema: Any, instance: Any, prefix: list[Any]) -> str:
        errors = list(jsonschema.Draft4Validator(schema).iter_errors(instance))
        if not errors:  # the two engines disagree; trust the fast one, word it generically
            return "body: Invalid request"
        for err in errors:  # paths relative to the part -> paths in the body
            err.path.extendleft(reversed(prefix))
        return describe(errors)


class _TooDeep(Exception):
    """jsonschema-rs would not report the errors of a body this deep."""


EXPLAIN_LEVELS = 64  # the depth a body is cut to for wording its error (see CompiledSchema.explain)

_UNION_KINDS = frozenset({"OneOfNotValid", "OneOfMultipleValid", "AnyOf"})


def _walk(node: Any, path: list[Any]) -> Any:
    for part in path:
        node = node[part]
    return node


def _focus(schema: dict[str, Any], keyword: str) -> dict[str, Any]:
    """The failing keyword of ``schema`` alone, with what its wording needs (the declared
    property names, for ``additionalProperties``) but none of the sibling checks."""
    focused: dict[str, Any] = {keyword: schema[keyword]}
    if keyword == "additionalProperties":
        focused["properties"] = {name: {} for name in schema.get("properties", {})}
        focused["patternProperties"] = {name: {} for name in schema.get("patternProperties", {})}
    return focused


class SchemaCache:
    """The compiled body schemas of one app, shared by content.

    Compiling the Messages request (~200 types) costs ~90 ms. The app compiles every body schema
    once at start-up (``compile``); connexion's validator, which holds its own copy of the same
    schema, finds it here on its first request instead of compiling on the event loop."""

    def __init__(self) -> None:
        self._by_content: dict[bytes, CompiledSchema] = {}

    def compile(self, schema: dict[str, Any]) -> CompiledSchema:
        own = {k: v for k, v in schema.items() if k != "components"}  # connexion adds the spec's; unused
        try:
            key = hashlib.sha256(orjson.dumps(own, option=orjson.OPT_SORT_KEYS)).digest()
        except (TypeError, orjson.JSONEncodeError):  # not serialisable as is: compile it alone
            return CompiledSchema(schema)
        found = self._by_content.get(key)
        if found is None:
            found = self._by_content[key] = CompiledSchema(schema)
        return found
