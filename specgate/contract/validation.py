"""Request-body validation: the connexion validators of bodies and parameters.

Connexion hands each operation's dereferenced OpenAPI 3.0 schema to ``JSONBodyValidator``, which
checks the body against its compiled form (``specgate.contract.compiled``): a valid body costs one
``orjson.loads`` and one native ``is_valid``; an invalid one is refused with one Anthropic-style
message naming the field path (``specgate.contract.wording``).

The parsed body is left in the request state (``BODY_STATE_KEY``) so handlers never parse it again.
Top-level fields the spec does not declare are left to handlers marked ``@takes_unknown_fields``
(``specgate.contract.unknown_fields``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import jsonschema
import orjson
from connexion.exceptions import BadRequestProblem
from connexion.validators import AbstractRequestBodyValidator
from connexion.validators import ParameterValidator as _ConnexionParameterValidator
from starlette.types import Receive, Scope

from specgate.contract.compiled import CompiledSchema, SchemaCache, oas_to_json_schema
from specgate.contract.unknown_fields import UNKNOWN_FIELDS_STATE_KEY
from specgate.contract.wording import describe
from specgate.core import deepjson

BODY_STATE_KEY = "specgate.body"
EMPTY_BODY = "Request body is required: send a JSON object"
POLL_HEADER = b"x-bf-async-id"


class JSONBodyValidator(AbstractRequestBodyValidator):  # type: ignore[misc]
    """Connexion body validator for ``*/*json`` (see the module docstring)."""

    # Connexion creates a validator per request but passes the same schema object every time, so
    # compiled schemas are cached by identity; ``json_body_validator()`` gives each app its own cache.
    _cache: dict[int, tuple[dict[str, Any], CompiledSchema]] = {}
    _shared: SchemaCache  # set by json_body_validator()
    # operationIds whose handler takes unknown top-level fields (see specgate.contract.unknown_fields)
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
        message = describe(errors)
        return f"{name}: {message.split(': ', 1)[1]}" if message.startswith("body: ") else f"{name}.{message}"


def parameter_validator() -> type[ParameterValidator]:
    """A parameter validator class with a fresh validator cache (one per app)."""
    return type("AppParameterValidator", (ParameterValidator,), {"_cache": {}})
