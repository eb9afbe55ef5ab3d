"""Build a small, deterministic instance that is valid against a (tool input) JSON Schema.

Covers what tool schemas use in practice: objects (required and optional properties),
strings (enum, const, default, length bounds, a few formats), numbers and integers with bounds,
booleans, null, arrays (minItems), ``anyOf``/``oneOf``/``allOf`` (first workable branch) and local
``$ref`` into ``$defs``/``definitions``. ``hint`` seeds string values so the echo is recognisable.
"""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "echo@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def sample(schema: Any, *, hint: str = "echo", root: Any = None, depth: int = 0) -> Any:
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 16:
        return None if schema is False else {}
    if "$ref" in schema:
        return sample(_resolve(root, str(schema["$ref"])), hint=hint, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return schema["examples"][0]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample(part, hint=hint, root=root, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        base = sample(rest, hint=hint, root=root, depth=depth + 1) if rest else {}
        return {**merged, **base} if isinstance(base, dict) else base
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample(schema[key][0], hint=hint, root=root, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        out = {}
        for name in required:
            sub = props.get(name, {})
            out[name] = sample(sub, hint=f"{hint}", root=root, depth=depth + 1)
        return out
    if kind == "array":
        count = int(schema.get("minItems", 1 if schema.get("items") else 0))
        items = schema.get("items", {})
        return [sample(items, hint=hint, root=root, depth=depth + 1) for _ in range(count)]
    if kind == "string":
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        value = hint
        lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(value) < lo:
            value = value + "x" * (lo - len(value))
        if hi is not None:
            value = value[: int(hi)]
        return value
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        number: float = 1
        if isinstance(low, (int, float)) and not isinstance(low, bool):
            number = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        if isinstance(high, (int, float)) and not isinstance(high, bool) and number > high:
            number = high
        return int(number) if kind == "integer" else float(number)
    if kind == "boolean":
        return True
    return None


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in [p for p in ref[1:].split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node
