"""Request bodies built from the SDK's types: one minimal valid value per type, and one case per
variant (every union member, every literal value, every optional field) reachable from a
request's top level.

A case is a path (``messages[].content[].image.source.url``: where the variant sits, for the
report) and a whole request body. ``strict_cases`` add one unknown key to each strict object,
which a strict spec must refuse.

The SDK's types say which fields exist, not every constraint the API puts on their values;
``VALUE_HINTS`` gives the few values the types cannot (a thinking budget of at least 1024...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from specgate.contract.apisurface.nodes import (
    Anything,
    Field,
    ListOf,
    Lit,
    MapOf,
    Node,
    Null,
    OneOf,
    Prim,
    Ref,
    without_null,
)
from specgate.contract.apisurface.sdk import Surface

# field name -> the minimal value the API accepts where the type says only "int" or "str".
VALUE_HINTS: dict[str, Any] = {
    "budget_tokens": 1024,
    "max_tokens": 2048,
    "model": "claude-sonnet-4-5",
    "custom_id": "req-1",
    "name": "tool_1",
    "id": "toolu_1",
    "tool_use_id": "toolu_1",
    "media_type": "text/plain",
}
UNKNOWN_KEY = "zz_not_a_field"
MAX_DEPTH = 12


@dataclass(frozen=True, slots=True)
class Case:
    path: str
    body: dict[str, Any]


class Builder:
    def __init__(self, surface: Surface) -> None:
        self.surface = surface

    def minimal(self, node: Node, key: str = "", depth: int = 0) -> Any:
        inner, _ = without_null(node)
        if key in VALUE_HINTS and isinstance(inner, Prim):
            return VALUE_HINTS[key]
        if isinstance(inner, Prim):
            return {"string": "x", "integer": 1, "number": 0.5, "boolean": True}[inner.kind]
        if isinstance(inner, Lit):
            return inner.values[0]
        if isinstance(inner, Anything | Null):
            return {}
        if isinstance(inner, MapOf):
            return {}
        if isinstance(inner, ListOf):
            return [self.minimal(inner.item, key, depth + 1)]
        if isinstance(inner, OneOf):
            return self.minimal(self._simplest(inner.members), key, depth)
        return self.object(inner.name, depth)

    def object(self, name: str, depth: int = 0) -> dict[str, Any]:
        fields = self.surface.objects[name].fields
        return {k: self.minimal(f.node, k, depth + 1) for k, f in fields.items() if f.required}

    @staticmethod
    def _simplest(members: tuple[Node, ...]) -> Node:
        for m in members:
            if isinstance(m, Prim | Lit):
                return m
        return members[0]

    def variants(self, node: Node, key: str, path: str, depth: int, seen: frozenset[str]) -> Iterator[tuple[str, Any]]:
        """(path, value) for each variant of ``node``: the minimal value first."""
        inner, nullable = without_null(node)
        if nullable:
            yield f"{path}=null", None
        if depth > MAX_DEPTH:
            return
        if isinstance(inner, Lit):
            for v in inner.values:
                yield f"{path}={v}", v
        elif isinstance(inner, ListOf):
            for sub, value in self.variants(inner.item, key, f"{path}[]", depth + 1, seen):
                yield sub, [value]
        elif isinstance(inner, OneOf):
            typed = any(isinstance(m, Ref) for m in inner.members)
            for m in inner.members:
                if typed and m == MapOf(Anything()):
                    continue  # "a typed shape or any object": the API still wants the shape
                yield from self.variants(m, key, path, depth, seen)
        elif isinstance(inner, Ref):
            if inner.name in seen:
                return
            label = self._label(inner.name)
            yield from self.object_variants(inner.name, f"{path}.{label}" if path else label, depth, seen)
        else:
            yield path, self.minimal(inner, key, depth)

    def object_variants(self, name: str, path: str, depth: int, seen: frozenset[str]) -> Iterator[tuple[str, Any]]:
        base = self.object(name, depth)
        yield path, base
        inner_seen = seen | {name}
        for key, f in self.surface.objects[name].fields.items():
            for sub, value in self.variants(f.node, key, f"{path}.{key}", depth + 1, inner_seen):
                yield sub, {**base, key: value}

    def _label(self, name: str) -> str:
        tag = self.surface.objects[name].fields.get("type") or self.surface.objects[name].fields.get("role")
        if tag is not None and isinstance(tag.node, Lit) and tag.required:
            return str(tag.node.values[0])
        return name

    def unknown_key_variants(
        self, node: Node, path: str, depth: int, seen: frozenset[str]
    ) -> Iterator[tuple[str, Any]]:
        """(path, value) with one unknown key added to one strict object of ``node``."""
        inner, _ = without_null(node)
        if depth > MAX_DEPTH:
            return
        if isinstance(inner, ListOf):
            for sub, value in self.unknown_key_variants(inner.item, f"{path}[]", depth + 1, seen):
                yield sub, [value]
        elif isinstance(inner, OneOf):
            if MapOf(Anything()) in inner.members:  # the SDK allows any object here
                return
            for m in inner.members:
                yield from self.unknown_key_variants(m, path, depth, seen)
        elif isinstance(inner, Ref) and inner.name not in seen:
            label = self._label(inner.name)
            here = f"{path}.{label}" if path else label
            base = self.object(inner.name, depth)
            yield f"{here}.{UNKNOWN_KEY}", {**base, UNKNOWN_KEY: "x"}
            for key, f in self.surface.objects[inner.name].fields.items():
                for sub, value in self.unknown_key_variants(f.node, f"{here}.{key}", depth + 1, seen | {inner.name}):
                    yield sub, {**base, key: value}


def request_cases(
    surface: Surface, fields: Mapping[str, Field], base: Mapping[str, Any], *, strict: bool = False
) -> Iterator[Case]:
    """One body per variant of each top-level field, on top of ``base`` (a minimal request)."""
    builder = Builder(surface)
    for key, f in fields.items():
        found = (
            builder.unknown_key_variants(f.node, key, 0, frozenset())
            if strict
            else builder.variants(f.node, key, key, 0, frozenset())
        )
        for path, value in found:
            body = copy.deepcopy(dict(base))
            body[key] = value
            yield Case(path, _fix_up(body))


def _fix_up(body: dict[str, Any]) -> dict[str, Any]:
    """Make a case a request the API could take: a conversation starts with a user turn."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("role") != "user":
        body["messages"] = [{"role": "user", "content": "x"}, *messages]
    return body
