"""The fast path: the hottest operations served without connexion's per-request stack.

Connexion walks about a dozen ASGI layers per request (two routers, security, parameter and body
validation, context, parameter injection with a signature inspection); on a gateway whose own
work is a few hundred microseconds, that stack is most of the cost (see README, Performance).
For the operations whose handler declares a connexion-free entry (``@fast_entry``), this layer
runs the same checks, compiled from the same spec at start-up:

- the operation's security requirements, through the info functions the spec names
  (``specgate.wire.security.RULES`` says how each one reads its credential);
- every declared header parameter, against its schema;
- every declared (optional, string) query parameter, such as the SDKs' ``?beta=true``, read as
  connexion reads it (``parse_qsl`` with blank values kept, the last of repeated names) and
  checked against its schema; a query string naming anything else is handed over;
- the JSON body, parsed once with orjson and checked by the same jsonschema-rs validator (for a
  handler marked ``takes_unknown_fields``, a body whose only fault is undeclared top-level keys
  is accepted as connexion's validator accepts it: see ``specgate.contract.validation``).

Credentials are read as connexion's security handlers read them: ``x-api-key`` and ``x-bf-vk``
headers, ``Authorization: Bearer`` and ``Authorization: Basic`` (base64 of ``user:key``, decoded
the way connexion decodes it).

It only ever *accepts*. A request it is not sure of (an undeclared query parameter, another
content type, an async poll, a missing or rejected credential, an invalid header, query or body,
a malformed ``Authorization``) goes to connexion untouched, the body replayed, so every error is produced by
the one place that produces errors, and no counter is touched twice. The checks here record
nothing (``security.identify``), so handing over is free of side effects. A handler's exception is
rendered by the same error mapper connexion's error handlers use.

Switched off by ``server.fast_path: false``, and whenever responses are validated (tests), since
response validation is connexion's.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import jsonschema_rs
import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specgate.contract import spec
from specgate.contract.compiled import CompiledSchema, SchemaCache, oas_to_json_schema
from specgate.contract.unknown_fields import UNKNOWN_FIELDS_STATE_KEY, handler_takes_unknown_fields
from specgate.contract.validation import BODY_STATE_KEY, POLL_HEADER
from specgate.core.errors import GatewayError
from specgate.core.scope import headers_of
from specgate.gateway import gateway_of
from specgate.wire import security

FastEntry = Callable[[Scope, Receive, "str | None"], Awaitable[Response]]
Render = Callable[[Any, Exception], tuple[int, bytes, dict[str, str]]]
F = TypeVar("F", bound=Callable[..., Any])
ENTRY_ATTR = "__specgate_fast_entry__"
JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8", b"application/json;charset=utf-8"})
_INFO_KEYS = {"apiKey": "x-apikeyInfoFunc", "basic": "x-basicInfoFunc", "bearer": "x-bearerInfoFunc"}
# The verdicts on query strings seen (``?beta=true`` on every SDK beta call and Claude Code request),
# so that each is parsed and checked once: the first QUERY_CACHE_SIZE distinct ones, each at most
# QUERY_CACHE_BYTES long, kept for good (a bound on memory whatever clients send; the rest are
# checked on every request, as all were before).
QUERY_CACHE_SIZE = 256
QUERY_CACHE_BYTES = 256


def fast_entry(entry: FastEntry) -> Callable[[F], F]:
    """Declare the connexion-free form of a handler: ``entry(scope, receive, user)`` does what the
    decorated connexion-bound function does with connexion's request context."""

    def mark(function: F) -> F:
        setattr(function, ENTRY_ATTR, entry)
        return function

    return mark


class NotEligible(Exception):
    """An operation the fast path cannot serve exactly as connexion would (it stays on connexion)."""


@dataclass(frozen=True, slots=True)
class HeaderParam:
    name: bytes  # lower case, as ASGI servers give header names
    required: bool
    schema: jsonschema_rs.Draft4Validator  # of the value decoded as latin-1 (checked in FastPath._admit)


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    schema: jsonschema_rs.Draft4Validator

    def accepts(self, value: str) -> bool:
        return bool(self.schema.is_valid(value))


@dataclass(frozen=True, slots=True)
class Scheme:
    kind: str  # "header" (apiKey in a header), "bearer" or "basic"
    header: bytes  # where the credential is read from
    rule: security.SchemeRule


@dataclass(frozen=True, slots=True)
class FastOperation:
    operation_id: str
    entry: FastEntry
    params: tuple[HeaderParam, ...]
    schemes: tuple[Scheme, ...] | None  # None: the operation is open
    body: CompiledSchema
    takes_unknown_fields: bool = False  # the handler decides about undeclared top-level keys
    query: tuple[QueryParam, ...] = ()  # optional string query parameters (``beta``)
    query_verdicts: dict[bytes, bool] = field(default_factory=dict, compare=False, repr=False)

    def accepts_query(self, raw: bytes) -> bool:
        """Whether connexion would accept this query string without a word: only declared names,
        each (its last value, as starlette's ``QueryParams.get`` reads it) valid. A pure function
        of the string, remembered for the strings seen first (``QUERY_CACHE_SIZE``)."""
        verdict = self.query_verdicts.get(raw)
        if verdict is None:
            verdict = self._accepts_query(raw)
            if len(raw) <= QUERY_CACHE_BYTES and len(self.query_verdicts) < QUERY_CACHE_SIZE:
                self.query_verdicts[raw] = verdict
        return verdict

    def _accepts_query(self, raw: bytes) -> bool:
        values = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        declared = {param.name: param for param in self.query}
        for name, value in values.items():
            param = declared.get(name)
            if param is None or not param.accepts(value):
                return False
        return True

    def accepts(self, body: dict[str, Any]) -> tuple[str, ...] | None:
        """None when the body is invalid; else the undeclared top-level keys the handler decides about."""
        if self.body.is_valid(body):
            return ()
        if not self.takes_unknown_fields:
            return None
        known, unknown = self.body.without_undeclared(body)
        return unknown if unknown and self.body.is_valid(known) else None


def _info_function(scheme: dict[str, Any], name: str) -> Callable[..., Any]:
    kind = scheme.get("scheme") if scheme.get("type") == "http" else scheme.get("type")
    key = _INFO_KEYS.get(str(kind))
    dotted = scheme.get(key) if key else None
    if not isinstance(dotted, str) or "." not in dotted:
        raise NotEligible(f"security scheme {name}: no info function the fast path knows")
    module, _, attr = dotted.rpartition(".")
    function: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return function


def _schemes(document: dict[str, Any], op: dict[str, Any]) -> tuple[Scheme, ...] | None:
    requirements = op["security"] if "security" in op else document.get("security", [])
    if not requirements:
        return None
    defined = document.get("components", {}).get("securitySchemes", {})
    schemes: list[Scheme] = []
    for requirement in requirements:
        if len(requirement) != 1:  # an AND of schemes (or an empty "anonymous" alternative)
            raise NotEligible("only requirements of one scheme each")
        (name,) = requirement
        scheme = spec.dereference(document, defined[name])
        rule = security.RULES.get(_info_function(scheme, name))
        if rule is None:
            raise NotEligible(f"security scheme {name}: its info function is not in specgate.wire.security.RULES")
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            schemes.append(Scheme("header", str(scheme["name"]).lower().encode("latin-1"), rule))
        elif scheme.get("type") == "http" and scheme.get("scheme") in ("bearer", "basic"):
            schemes.append(Scheme(str(scheme["scheme"]), b"authorization", rule))
        else:
            raise NotEligible(f"security scheme {name}: only header keys, bearer and basic")
    return tuple(schemes)


def _query(op: dict[str, Any]) -> tuple[QueryParam, ...]:
    """The optional string query parameters; a request naming any other query parameter is
    handed over (connexion coerces non-string values before checking them)."""
    params: list[QueryParam] = []
    for param in op.get("parameters", []):
        if param.get("in") != "query":
            continue
        if param.get("required"):  # its absence must be refused: connexion's word
            raise NotEligible(f"required query parameter {param.get('name')!r}")
        schema = oas_to_json_schema(param.get("schema", {}))
        if schema.get("type") == "string":
            params.append(QueryParam(str(param["name"]), jsonschema_rs.Draft4Validator(schema)))
    return tuple(params)


def _params(op: dict[str, Any]) -> tuple[HeaderParam, ...]:
    params: list[HeaderParam] = []
    for param in op.get("parameters", []):
        where = param.get("in")
        if where == "query":
            continue  # see _query
        if where != "header":
            raise NotEligible(f"{where} parameter {param.get('name')!r}")
        schema = oas_to_json_schema(param.get("schema", {}))
        name = str(param["name"]).lower().encode("latin-1")
        params.append(HeaderParam(name, bool(param.get("required")), jsonschema_rs.Draft4Validator(schema)))
    return tuple(params)


def compile_operation(
    document: dict[str, Any],
    operation: spec.Operation,
    handler: Callable[..., Any],
    schemas: SchemaCache | None = None,
) -> FastOperation:
    """The fast form of one operation, or ``NotEligible``."""
    entry = getattr(handler, ENTRY_ATTR, None)
    if entry is None:
        raise NotEligible("the handler declares no fast entry")
    if "{" in operation.path:
        raise NotEligible("path parameters")
    op = spec.operation_object(document, operation.method, operation.path)
    content = (op.get("requestBody") or {}).get("content") or {}
    if list(content) != ["application/json"] or not op["requestBody"].get("required"):
        raise NotEligible("only a required application/json body")
    return FastOperation(
        operation_id=operation.operation_id,
        entry=entry,
        params=_params(op),
        query=_query(op),
        schemes=_schemes(document, op),
        body=(schemas or SchemaCache()).compile(content["application/json"]["schema"]),
        takes_unknown_fields=handler_takes_unknown_fields(handler),
    )


def compile_operations(
    document: dict[str, Any],
    operations: Iterable[spec.Operation],
    resolve: Callable[[str], Callable[..., Any]],
    schemas: SchemaCache | None = None,
) -> dict[tuple[str, str], FastOperation]:
    """(method, path) -> fast operation, for every eligible operation of the spec."""
    fast: dict[tuple[str, str], FastOperation] = {}
    for operation in operations:
        try:
            fast[(operation.method, operation.path)] = compile_operation(
                document, operation, resolve(operation.operation_id), schemas
            )
        except (NotEligible, spec.RecursiveRefError):
            continue
    return fast


class _HandOver(Exception):
    """Connexion will serve this request (and word its error, if any)."""


def _credential(scheme: Scheme, headers: dict[bytes, bytes]) -> str | None:
    """The credential this scheme would read, None when it would answer NO_VALUE; _HandOver
    where connexion's reading errs (a malformed Authorization, undecodable Basic)."""
    if scheme.rule.defers_to_api_key and b"x-api-key" in headers:
        return None
    raw = headers.get(scheme.header)
    if scheme.kind == "header":
        return None if raw is None else raw.decode("latin-1")
    if not raw:
        return None
    parts = raw.decode("latin-1").split(maxsplit=1)
    if len(parts) != 2:
        raise _HandOver
    auth_type, value = parts
    if auth_type.lower() != scheme.kind:
        return None
    if scheme.kind == "bearer":
        return value
    try:  # exactly connexion's HTTPBasicSecurityHandler: the password is the key
        _user, password = base64.b64decode(value).decode("latin1").split(":", 1)
    except Exception:
        raise _HandOver from None  # connexion: 401 "Invalid authorization header"
    return password


async def _authenticate(scope: Scope, schemes: tuple[Scheme, ...], headers: dict[bytes, bytes]) -> dict[str, str]:
    # Connexion tries the schemes in order and takes the first that answers; a failure before a
    # success would be counted by the failed-auth guard, so only a first answer that succeeds is
    # taken here.
    for scheme in schemes:
        key = _credential(scheme, headers)
        if key is None:
            continue
        try:
            info = await security.identify(scope, key, scheme.rule.label)
        except GatewayError:
            raise _HandOver from None  # locked out: connexion says 429
        if info is None:
            raise _HandOver
        return info
    raise _HandOver  # no credential: connexion says 401


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """Every message of the upload, and the body (None if the client left first)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class FastPath:
    def __init__(self, app: ASGIApp, operations: dict[tuple[str, str], FastOperation], render: Render) -> None:
        self.app = app
        self.operations = operations
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        op = self.operations.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if op is None:
            await self.app(scope, receive, send)
            return
        metrics = gateway_of(scope).metrics
        headers = headers_of(scope)  # the first of repeated headers, as connexion reads them
        try:
            query = scope.get("query_string")
            if POLL_HEADER in headers or (query and not op.accepts_query(query)):
                raise _HandOver
            if headers.get(b"content-type", b"").lower() not in JSON_TYPES:
                raise _HandOver
            info = await self._admit(op, scope, headers)
        except _HandOver:
            metrics.connexion_lane.inc()
            await self.app(scope, receive, send)
            return
        messages, raw = await _read_body(receive)
        body = _parse(raw)
        unknown = None if body is None else op.accepts(body)
        if body is None or unknown is None:
            metrics.connexion_lane.inc()
            await self.app(scope, _replaying(messages, receive), send)
            return
        metrics.fast_lane.inc()
        state = scope.setdefault("state", {})
        state[BODY_STATE_KEY] = body
        if unknown:
            state[UNKNOWN_FIELDS_STATE_KEY] = unknown
        user = None
        if info is not None:  # what connexion's security layer leaves for the handler and the log
            context: dict[str, Any] = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
            context["user"] = user = info["sub"]
            context["token_info"] = info
        try:
            response = await op.entry(scope, receive, user)
        except Exception as exc:
            status, content, extra = self.render(scope, exc)
            response = Response(content, status_code=status, media_type="application/json", headers=extra)
        await response(scope, receive, send)

    @staticmethod
    async def _admit(op: FastOperation, scope: Scope, headers: dict[bytes, bytes]) -> dict[str, str] | None:
        """The token info (None for an open operation), or _HandOver."""
        for param in op.params:  # most declared headers are absent: no call per header
            value = headers.get(param.name)
            if value is None:
                if param.required:
                    raise _HandOver
            elif not param.schema.is_valid(value.decode("latin-1")):
                raise _HandOver
        if op.schemes is None:
            return None
        return await _authenticate(scope, op.schemes, headers)


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None
