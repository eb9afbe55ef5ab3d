"""Repeated subschemas moved into ``definitions`` once, referred to by ``$ref``.

A dereferenced OpenAPI body schema repeats the same subschemas many times: the Messages request
inlines its content-block union under user, assistant and system messages, tool results,
documents, compaction tool changes… (the spec's ``$ref``s are resolved for connexion). jsonschema-rs
compiles every copy: 21 MB for that one schema. ``hoist`` finds subschemas that occur at least
twice (by a structural digest, bottom-up, one pass) and keeps each once under ``definitions``:
6 MB compiled, the same speed.

Union members (``oneOf``/``anyOf``/``allOf`` items) stay inline: the error wording of
specgate/contract/wording.py reads their tags (``type``/``role`` enums) from the union itself.
Property maps are never hoisted (they are not schemas); their values are.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import orjson

UNIONS = frozenset({"oneOf", "anyOf", "allOf"})
MAPS = frozenset({"properties", "patternProperties", "definitions"})
SCHEMA_VALUED = frozenset({"items", "additionalProperties", "additionalItems", "not"})
MIN_NODES = 8  # smaller subschemas are cheaper inline than behind a $ref


def _digest(tag: bytes, parts: list[bytes]) -> bytes:
    return hashlib.blake2b(tag + b"\x01".join(parts), digest_size=16).digest()


class _Hoister:
    def __init__(self) -> None:
        self.digest: dict[int, bytes] = {}
        self.size: dict[int, int] = {}
        self.counts: Counter[bytes] = Counter()
        self.shared: set[bytes] = set()
        self.definitions: dict[str, Any] = {}

    def visit(self, node: Any, hoistable: bool) -> bytes:
        """The digest of a schema node (children first); counts the hoistable ones."""
        if not isinstance(node, dict):
            return _digest(b"v", [orjson.dumps(node)])
        parts: list[bytes] = []
        nodes = 1
        for key in sorted(node):
            value = node[key]
            if key in UNIONS and isinstance(value, list):
                inner = [self.visit(v, False) for v in value]
                nodes += sum(self.size.get(id(v), 1) for v in value)
                parts.append(key.encode() + b"\x00" + _digest(b"l", inner))
            elif key in MAPS and isinstance(value, dict):
                inner = [k.encode() + b"\x00" + self.visit(v, True) for k, v in sorted(value.items())]
                nodes += sum(self.size.get(id(v), 1) for v in value.values())
                parts.append(key.encode() + b"\x00" + _digest(b"m", inner))
            elif key in SCHEMA_VALUED and isinstance(value, dict):
                parts.append(key.encode() + b"\x00" + self.visit(value, True))
                nodes += self.size.get(id(value), 1)
            else:
                parts.append(key.encode() + b"\x00" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        found = _digest(b"s", parts)
        self.digest[id(node)] = found
        self.size[id(node)] = nodes
        if hoistable and nodes >= MIN_NODES:
            self.counts[found] += 1
        return found

    def rebuild(self, node: Any, hoistable: bool) -> Any:
        if not isinstance(node, dict):
            return node
        found = self.digest.get(id(node))
        if hoistable and found in self.shared:
            assert found is not None
            name = found.hex()
            if name not in self.definitions:
                self.definitions[name] = {}  # placed first: a definition may contain its own copies
                self.definitions[name] = self.inner(node)
            return {"$ref": f"#/definitions/{name}"}
        return self.inner(node)

    def inner(self, node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in UNIONS and isinstance(value, list):
                out[key] = [self.rebuild(v, False) for v in value]
            elif key in MAPS and isinstance(value, dict):
                out[key] = {k: self.rebuild(v, True) for k, v in value.items()}
            elif key in SCHEMA_VALUED and isinstance(value, dict):
                out[key] = self.rebuild(value, True)
            else:
                out[key] = value
        return out


def hoist(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (JSON Schema, no ``definitions`` of its own) with every subschema of at least
    ``MIN_NODES`` nodes that occurs twice or more moved to ``definitions`` (named by digest)."""
    if "definitions" in schema or "$ref" in orjson.dumps(schema).decode():
        return schema  # refs of its own: leave it as it is
    hoister = _Hoister()
    hoister.visit(schema, False)
    hoister.shared = {d for d, n in hoister.counts.items() if n >= 2}
    root = hoister.inner(schema)
    if hoister.definitions:
        root["definitions"] = hoister.definitions
    return root
