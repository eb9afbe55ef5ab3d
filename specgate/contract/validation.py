"""Request-body validation: jsonschema-rs on the hot path, python-jsonschema only to word errors.

Connexion hands each operation's dereferenced OpenAPI 3.0 schema to ``JSONBodyValidator``. The
schema is converted to JSON Schema once (``nullable`` becomes a type union; ``x-``/``discriminator``
keywords are dropped) and compiled by jsonschema-rs once per operation. A valid body costs one
``orjson.loads`` and one native ``is_valid``. Only an invalid body pays for python-jsonschema, whose
errors are reduced to one Anthropic-style message naming the field path:

    max_tokens: Field required
    messages.0.content.1.type: Input tag 'foo' found using 'type' does not match any of the expected tags: ...
    foo: Extra inputs are not permitted

The parsed body is left in the request state (``BODY_STATE_KEY``) so handlers never parse it again.

Top-level fields the spec does not know: an operation whose handler is marked
``@takes_unknown_fields`` does not refuse them here. When the only thing wrong with the body is
top-level keys the schema does not declare, and the body without them is valid, the body is
accepted and the names of those keys are left in ``UNKNOWN_FIELDS_STATE_KEY`` (in body order);
the handler decides, once it knows the provider, whether they are forwarded or refused with the
same 400 as here (``unknown_field_error``). Everything below the top level is validated as usual.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import jsonschema
import jsonschema_rs
import orjson
from connexion.exceptions import BadRequestProblem
from connexion.validators import AbstractRequestBodyValidator
from connexion.validators import ParameterValidator as _ConnexionParameterValidator
from starlette.types import Receive, Scope

from specgate.contract.hoisting import hoist
from specgate.core import deepjson

BODY_STATE_KEY = "specgate.body"
UNKNOWN_FIELDS_STATE_KEY = "specgate.unknown_fields"  # tuple[str, ...]: see the module docstring
UNKNOWN_FIELDS_ATTR = "__specgate_takes_unknown_fields__"
EMPTY_BODY = "Request body is required: send a JSON object"
POLL_HEADER = b"x-bf-async-id"
_DROP_KEYS = frozenset({"discriminator", "example", "examples", "externalDocs", "xml", "nullable", "deprecated"})
_MAP_KEYS = frozenset({"properties", "patternProperties", "definitions", "$defs"})
_TYPE_WORDS = {
    "object": "a valid dictionary",
    "array": "a valid list",
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "null": "null",
}


F = TypeVar("F", bound=Callable[..., Any])


def takes_unknown_fields(function: F) -> F:
    """Mark a handler that decides itself about top-level body fields the spec does not declare
    (it reads ``UNKNOWN_FIELDS_STATE_KEY`` and forwards them or raises ``unknown_field_error``)."""
    setattr(function, UNKNOWN_FIELDS_ATTR, True)
    return function


def handler_takes_unknown_fields(function: Callable[..., Any]) -> bool:
    return getattr(function, UNKNOWN_FIELDS_ATTR, False) is True


def unknown_field_error(names: Iterable[str]) -> str:
    """The 400 message for undeclared top-level fields: the one the validator gives (it names the
    first in sorted order)."""
    return f"{sorted(names)[0]}: Extra inputs are not permitted"


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
        return _describe(_pick(errors))


class _TooDeep(Exception):
    """jsonschema-rs would not report the errors of a body this deep."""


EXPLAIN_LEVELS = 64  # the depth a body is cut to for wording its error (see CompiledSchema.explain)


TAG_FIELDS = ("type", "role")  # what tells the objects of a union apart (blocks, tools; messages)
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


class JSONBodyValidator(AbstractRequestBodyValidator):  # type: ignore[misc]
    """Connexion body validator for ``*/*json`` (see the module docstring)."""

    # Connexion creates a validator per request but passes the same schema object every time, so
    # compiled schemas are cached by identity; ``json_body_validator()`` gives each app its own cache.
    _cache: dict[int, tuple[dict[str, Any], CompiledSchema]] = {}
    _shared: SchemaCache  # set by json_body_validator()
    # operationIds whose handler takes unknown top-level fields (see the module docstring)
    _lenient: frozenset[str] = frozenset()

    def __init__(self, *, schema: dict[str, Any], **kw: Any) -> None:
        super().__init__(schema=schema, **kw)
        self._empty = True

    @property
    def compiled(self) -> CompiledSchema:
        found = self._cache.get(id(self._schema))
        if found is None or found[0] is not self._schema:
            found = (self._schema, self._shared.compile(self._schema))
            self._cache[id(self._schema)] = found
        return found[1]

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        if any(key == POLL_HEADER for key, _ in scope["headers"]):
            return receive, scope  # an async poll: the body is ignored, so it is not validated
        try:
            result: tuple[Receive, Scope] = await super().wrap_receive(receive, scope=scope)
        except BadRequestProblem as exc:
            if exc.detail == "RequestBody is required":  # connexion's wording for an empty body
                raise BadRequestProblem(detail=EMPTY_BODY) from None
            raise
        return result

    async def _parse(self, stream: AsyncIterator[bytes], scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        self._empty = not raw.strip()
        if self._empty:
            return None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequestProblem(detail=invalid_json_message(exc)) from None
        state = scope.setdefault("state", {})
        state[BODY_STATE_KEY] = body
        compiled = self.compiled
        if body is not None and not compiled.is_valid(body):
            known, unknown = compiled.without_undeclared(body) if self._takes_unknown(scope) else (body, ())
            if not unknown or not compiled.is_valid(known):
                raise BadRequestProblem(detail=await explain_off_loop(compiled, known, len(raw)))
            state[UNKNOWN_FIELDS_STATE_KEY] = unknown
        return body

    def _takes_unknown(self, scope: Scope) -> bool:
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        return routing.get("operation_id") in self._lenient

    def _validate(self, body: Any) -> None:
        if body is None:  # an empty body, or JSON null (a valid body was checked in _parse)
            if self._empty:
                raise BadRequestProblem(detail=EMPTY_BODY)
            raise BadRequestProblem(detail="body: Input should be a valid dictionary")


INLINE_EXPLAIN_BYTES = 64 * 1024


def invalid_json_message(exc: orjson.JSONDecodeError) -> str:
    """The 400 message for a body ``orjson.loads`` refused; nesting deeper than
    ``deepjson.MAX_DEPTH`` is named as such (with where the limit was crossed)."""
    if deepjson.too_deep(exc):
        return f"Invalid JSON in request body: {deepjson.TOO_DEEP_MESSAGE} (line {exc.lineno} column {exc.colno})"
    return f"Invalid JSON in request body: {exc}"


async def explain_off_loop(compiled: CompiledSchema, body: Any, size: int) -> str:
    """``compiled.explain(body)``; in a worker thread when the body is large, so that wording the
    error of a big invalid body never holds up the event loop."""
    if size <= INLINE_EXPLAIN_BYTES:
        return compiled.explain(body)
    return await asyncio.to_thread(compiled.explain, body)


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


def json_body_validator(lenient: Iterable[str] = (), shared: SchemaCache | None = None) -> type[JSONBodyValidator]:
    """A validator class with a fresh compile cache (one per app); ``lenient``: the operationIds
    whose handler takes unknown top-level fields (``takes_unknown_fields``); ``shared``: the app's
    compiled schemas (compiled at start-up)."""
    attrs = {"_cache": {}, "_lenient": frozenset(lenient), "_shared": shared or SchemaCache()}
    return type("AppJSONBodyValidator", (JSONBodyValidator,), attrs)


class ParameterValidator(_ConnexionParameterValidator):  # type: ignore[misc]
    """Connexion's parameter validator with messages in the same style: ``anthropic-version: ...``.

    Connexion builds one of these per request; the schema validator of each parameter is built
    once and kept in ``_cache`` (per app: see ``parameter_validator``)."""

    _cache: dict[int, tuple[dict[str, Any], jsonschema.Draft4Validator]] = {}

    @classmethod
    def _validator_for(cls, param: dict[str, Any]) -> jsonschema.Draft4Validator:
        found = cls._cache.get(id(param))
        if found is None or found[0] is not param:
            found = (param, jsonschema.Draft4Validator(oas_to_json_schema(param.get("schema", param))))
            cls._cache[id(param)] = found
        return found[1]

    @classmethod
    def validate_parameter(
        cls, parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        name = param_name or str(param.get("name"))
        if value is None:
            return f"{name}: Field required ({parameter_type} parameter)" if param.get("required") else None
        errors = list(cls._validator_for(param).iter_errors(value))
        if not errors:
            return None
        message = _describe(_pick(errors))
        return f"{name}: {message.split(': ', 1)[1]}" if message.startswith("body: ") else f"{name}.{message}"


def parameter_validator() -> type[ParameterValidator]:
    """A parameter validator class with a fresh validator cache (one per app)."""
    return type("AppParameterValidator", (ParameterValidator,), {"_cache": {}})
