"""Per-request observation: the request log line and the request metrics.

The outermost layer (``specgate.wire.middleware``, through ``Observation``) observes the whole
app (a 413 is counted too). It puts a ``RequestRecord`` (``specgate.wire.record``; with tracing
on, a ``specgate.wire.traced.TracedRecord``) in the request state; handlers pass it to providers as
``CallContext.observer``, so retries, fallbacks, upstream latency, usage and the first streamed
token land in it. When the response is done (a stream's last byte included) it counts the
request and writes one log line. Keys never reach the record: the key id is the opaque
principal id that authentication put in connexion's context. Bodies are logged only with
``logging.log_bodies: true``.

A refused request (status >= 400) says why: ``error_type`` and a short ``error_message`` read
from the error body the client got (at most 200 characters; quoted values longer than 64
characters, i.e. client text rather than a field or tag name, and anything shaped like a key are
replaced by a placeholder), and every line with a query string carries it as ``query`` (values
of parameters named like a credential replaced).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Scope

from providers.router import Router
from specgate.contract.validation import BODY_STATE_KEY
from specgate.core.errors import error_type_for_status
from specgate.core.scope import REQUEST_ID_KEY, STATE_KEY, scope_state
from specgate.gateway import Gateway
from specgate.ops.metrics import ANONYMOUS, NONE, OTHER, Metrics
from specgate.wire.record import RECORD_KEY, RequestRecord, record_of

if TYPE_CHECKING:  # imported only when tracing is configured (it imports OpenTelemetry)
    from specgate.ops.tracing import Tracing

log = logging.getLogger("specgate.access")

BODY_LOG_LIMIT = 64 * 1024
DOCS_ROUTE = "/docs"
UI_ASSETS = "/ui/assets/"  # the operator page's files: one route label, apart from the traffic
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/ui/data"})  # polled every few seconds: debug level


ERROR_BODY_LIMIT = 16 * 1024  # of an error body, read for its type and message
ERROR_MESSAGE_LIMIT = 200
QUERY_LIMIT = 200
_QUOTED_KEEP = 64
_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_KEYLIKE_RE = re.compile(r"(?i)\b(?:sk|pk|rk|ak|key|api|token|bearer)[-_][A-Za-z0-9._*~+/=-]{6,}|[A-Za-z0-9_+/=-]{40,}")
_CREDENTIAL_PARAM_RE = re.compile(r"(?i)key|token|secret|passw|auth|sig|cred")


def _quoted(found: re.Match[str]) -> str:
    text = found.group(0)
    return text if len(text) <= _QUOTED_KEEP + 2 else f"{text[0]}<{len(text) - 2} characters>{text[0]}"


def short_message(message: str) -> str:
    """An error message fit for the log: client text in long quoted values and key-shaped words
    replaced, one line, at most ``ERROR_MESSAGE_LIMIT`` characters."""
    text = " ".join(_KEYLIKE_RE.sub("<redacted>", _QUOTED_RE.sub(_quoted, message)).split())
    return text if len(text) <= ERROR_MESSAGE_LIMIT else text[: ERROR_MESSAGE_LIMIT - 1] + "…"


def error_summary(status: int, body: bytes) -> tuple[str, str | None]:
    """``(error_type, error_message)`` of an error response: Anthropic's body, or the platform
    envelope's (which has no type: the status's)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    error_type: Any = None
    message: Any = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            error_type, message = error.get("type"), error.get("message")
        elif parsed.get("success") is False:
            message = parsed.get("message")
    if not isinstance(error_type, str) or not re.fullmatch(r"[a-z_]{1,64}", error_type):
        error_type = error_type_for_status(status)
    return error_type, short_message(message) if isinstance(message, str) else None


def log_query(query_string: bytes) -> str | None:
    """The query string for the log (credential-like parameters' values replaced), or None."""
    if not query_string:
        return None
    parts = []
    for part in query_string.decode("latin-1").split("&"):
        name, eq, _ = part.partition("=")
        parts.append(f"{name}=<redacted>" if eq and _CREDENTIAL_PARAM_RE.search(name) else part)
    text = "&".join(parts)
    return text if len(text) <= QUERY_LIMIT else text[: QUERY_LIMIT - 1] + "…"


def model_label(router: Router, model: str) -> str:
    """A configured exact model keeps its name; any other is named by the route pattern that
    matched it, or ``other``: client input never becomes a label value of its own."""
    target = router.resolve(model)
    if target is None:
        return OTHER
    return model if target.route.match == model else target.route.match


class Observation:
    """What the outermost layer (``specgate.wire.middleware``) needs to observe requests: the
    spec's routes (label values) and ``finish``, called once the response is done."""

    def __init__(self, routes: frozenset[str]) -> None:
        self.routes = routes
        self._server_record: Callable[[Tracing, Metrics, Scope], RequestRecord] | None = None

    def route_of(self, path: str) -> str:
        if path in self.routes:
            return path
        if path == "/openapi.json" or path == DOCS_ROUTE or path.startswith(DOCS_ROUTE + "/"):
            return DOCS_ROUTE
        if path.startswith(UI_ASSETS):
            return UI_ASSETS + "{name}"
        return OTHER

    def begin(self, scope: Scope) -> tuple[Gateway, RequestRecord, dict[str, Any]] | None:
        """The gateway, a fresh record in the request state, and connexion's context dict (shared
        with the inner layers, whatever they copy of the scope); None without a gateway."""
        gateway = scope_state(scope).get(STATE_KEY)
        if not isinstance(gateway, Gateway):
            return None
        if gateway.tracing is None:
            record = RequestRecord(gateway.metrics)
        else:
            make = self._server_record
            if make is None:  # imported once, and only with tracing on: it imports OpenTelemetry
                from specgate.wire.traced import server_record

                make = self._server_record = server_record
            record = make(gateway.tracing, gateway.metrics, scope)
        scope_state(scope)[RECORD_KEY] = record
        context: dict[str, Any] = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        return gateway, record, context

    def finish(
        self,
        scope: Scope,
        gateway: Gateway,
        record: RequestRecord,
        context: dict[str, Any],
        status: int,
        response_body: bytes | None,
        head: bytes,
    ) -> None:
        elapsed = time.perf_counter() - record.started
        state = scope_state(scope)
        body = state.get(BODY_STATE_KEY)
        raw_model = body.get("model") if isinstance(body, dict) else None
        model = model_label(gateway.router, raw_model) if isinstance(raw_model, str) else NONE
        route = self.route_of(str(scope.get("path", "")))
        provider = record.provider or NONE
        user = context.get("user")
        key_id = user if isinstance(user, str) and user else ANONYMOUS
        metrics = record.metrics
        metrics.count_request(route, model, provider, status, elapsed)
        if record.first_token_s is not None:
            metrics.first_token(model, provider, record.first_token_s)
        if record.tokens:
            metrics.count_tokens(model, key_id, record.tokens)
        level = logging.DEBUG if route in PROBE_ROUTES and status < 400 else logging.INFO
        logged = log.isEnabledFor(level)
        traced = gateway.tracing is not None
        if not (logged or traced):
            return
        request_id = state.get(REQUEST_ID_KEY)
        method = str(scope.get("method"))
        asked = raw_model[:200] if isinstance(raw_model, str) else None
        bodies = (body, response_body.decode("utf-8", "replace")) if response_body is not None else None
        if traced:
            record.ended(status, method, route, request_id, key_id, asked, bodies)
        if not logged:
            return
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "key_id": key_id,
            "model": asked,
            "model_label": model,
            "provider": record.provider,
            "upstream_model": record.upstream_model,
            "status": status,
            "latency_ms": round(elapsed * 1000, 3),
            "stream": bool(body.get("stream")) if isinstance(body, dict) else False,
            "ttft_ms": round(record.first_token_s * 1000, 3) if record.first_token_s is not None else None,
            "input_tokens": record.tokens.get("input"),
            "output_tokens": record.tokens.get("output"),
            "cache_read_tokens": record.tokens.get("cache_read"),
            "cache_creation_tokens": record.tokens.get("cache_creation"),
            "retries": record.retries,
            "fallbacks": record.fallbacks,
        }
        if route == OTHER:
            fields["path"] = str(scope.get("path", ""))[:200]
        query = log_query(bytes(scope.get("query_string") or b""))
        if query is not None:
            fields["query"] = query
        if status >= 400:
            fields["error_type"], fields["error_message"] = error_summary(status, head)
        if bodies is not None:  # logging.log_bodies
            fields["request_body"], fields["response_body"] = bodies
        log.log(level, "request", extra={"fields": fields})


__all__ = ["RECORD_KEY", "Observation", "RequestRecord", "model_label", "record_of"]
