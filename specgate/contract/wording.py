"""The wording of schema errors: python-jsonschema's errors reduced to one Anthropic-style message.

``describe`` picks the most relevant of a body's (or a parameter's) errors and names its field path:

    max_tokens: Field required
    messages.0.content.1.type: Input tag 'foo' found using 'type' does not match any of the expected tags: ...
    foo: Extra inputs are not permitted
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema
import orjson

_TYPE_WORDS = {
    "object": "a valid dictionary",
    "array": "a valid list",
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "null": "null",
}

TAG_FIELDS = ("type", "role")  # what tells the objects of a union apart (blocks, tools; messages)


def describe(errors: list[jsonschema.ValidationError]) -> str:
    """One message for the most relevant of ``errors`` (not empty)."""
    return _describe(_pick(errors))


def _branch_disqualified(errors: Iterable[jsonschema.ValidationError], depth: int) -> bool:
    """A oneOf branch is ruled out when the instance is of another JSON type or has another tag
    (its ``type``, or a message's ``role``)."""
    for err in errors:
        rel = list(err.relative_path)
        if err.validator == "type" and not rel:
            return True
        if len(rel) == 1 and rel[0] in TAG_FIELDS and err.validator in ("enum", "pattern", "type"):
            return True
        if err.validator == "required" and not rel and any(f"'{t}'" in err.message for t in TAG_FIELDS):
            return True
    return False


def _pick(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    # Prefer errors that are not about unions; among those, the shallowest path (top-level first).
    err = min(errors, key=lambda e: (e.validator in ("oneOf", "anyOf"), len(e.absolute_path)))
    while err.validator in ("oneOf", "anyOf") and err.context:
        branches: dict[int, list[jsonschema.ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        live = {i: errs for i, errs in branches.items() if not _branch_disqualified(errs, 0)}
        if not live:
            return err  # no branch fits the instance's type or tag: report the union itself
        best = min(live.values(), key=len)
        err = min(best, key=lambda e: (e.validator in ("oneOf", "anyOf"), len(e.absolute_path)))
    return err


def _path(err: jsonschema.ValidationError, extra: str | None = None) -> str:
    parts = [str(p) for p in err.absolute_path]
    if extra is not None:
        parts.append(extra)
    return ".".join(parts) or "body"


def _quote_list(values: list[Any]) -> str:
    words = [repr(v) if isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _tags(union: jsonschema.ValidationError) -> tuple[str, list[str]]:
    """The tag field (``type`` or ``role``) of a union's object branches, and their values."""
    for field in TAG_FIELDS:
        tags: list[str] = []
        for branch in union.validator_value:
            enum = branch.get("properties", {}).get(field, {}).get("enum") if isinstance(branch, dict) else None
            if enum:
                tags.extend(str(t) for t in enum if t is not None)
        if tags:
            return field, tags
    return "type", []


def _describe(err: jsonschema.ValidationError) -> str:
    v, value, inst = err.validator, err.validator_value, err.instance
    if v == "required":
        missing = [name for name in value if isinstance(inst, dict) and name not in inst]
        return f"{_path(err, missing[0] if missing else None)}: Field required"
    if v == "additionalProperties":
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in inst if k not in allowed) if isinstance(inst, dict) else []
        return f"{_path(err, extra[0] if extra else None)}: Extra inputs are not permitted"
    if v in ("oneOf", "anyOf"):
        field, tags = _tags(err)
        if tags and isinstance(inst, dict) and field in inst:
            return (
                f"{_path(err, field)}: Input tag {inst[field]!r} found using {field!r} does not match "
                f"any of the expected tags: {', '.join(repr(t) for t in tags)}"
            )
        if tags and isinstance(inst, dict):
            return f"{_path(err, field)}: Field required"
        return f"{_path(err)}: Input does not match any of the accepted forms"
    if v == "type":
        types = value if isinstance(value, list) else [value]
        words = [_TYPE_WORDS.get(str(t), str(t)) for t in types]
        return f"{_path(err)}: Input should be {' or '.join(words)}"
    if v == "enum":
        return f"{_path(err)}: Input should be {_quote_list(list(value))}"
    if v == "minLength":
        return f"{_path(err)}: String should have at least {value} character{'s' if value != 1 else ''}"
    if v == "maxLength":
        return f"{_path(err)}: String should have at most {value} characters"
    if v == "pattern":
        return f"{_path(err)}: String should match pattern '{value}'"
    if v == "minimum":
        return f"{_path(err)}: Input should be greater than or equal to {value}"
    if v == "maximum":
        return f"{_path(err)}: Input should be less than or equal to {value}"
    if v == "minItems":
        return f"{_path(err)}: List should have at least {value} item{'s' if value != 1 else ''}"
    if v == "maxItems":
        return f"{_path(err)}: List should have at most {value} items"
    return f"{_path(err)}: {err.message}"
