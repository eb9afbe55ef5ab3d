"""The app factory: spec/ (bundled) + handlers + providers + error mapping -> one ASGI app.

``create_app(config)`` never touches the network or global state: providers are built in the
lifespan (inside the event loop) and reached by handlers through the request state.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import connexion
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.validators import VALIDATOR_MAP
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from handlers.batches import resumed_executor
from handlers.messages import resumed_job
from jobs.batches.service import BatchService
from jobs.errors import StoreUnavailableError
from jobs.registry import JobRegistry
from jobs.stores import open_store
from providers.registry import ProviderFactory, build_providers, close_providers
from providers.router import Router
from specgate.access.build import build_governance
from specgate.access.keyid import resolve_secret
from specgate.access.keys import KeyRing
from specgate.access.windows import Clock, system_clock
from specgate.contract import spec
from specgate.contract.compiled import SchemaCache
from specgate.contract.resolver import HandlerResolver
from specgate.contract.unknown_fields import handler_takes_unknown_fields
from specgate.contract.validation import json_body_validator, parameter_validator
from specgate.core.config import Config, default_config
from specgate.core.errors import (
    ApiError,
    GatewayError,
    MethodNotAllowedError,
    NotFoundError,
    ServiceUnavailableError,
    UpstreamError,
    error_type_for_status,
)
from specgate.core.responses import JSON, error_parts
from specgate.core.scope import STATE_KEY, request_id_of
from specgate.gateway import Gateway
from specgate.ops.health import Readiness, config_check, routes_check, store_check
from specgate.ops.metrics import Metrics
from specgate.wire import fastpath
from specgate.wire.middleware import RequestContextMiddleware

# The young generation's collection threshold while serving (CPython's default: 700). A request
# leaves no cyclic garbage (a stream one object; tests/specgate/test_gc.py), so a collection of
# the young generation finds almost only what the requests in flight still hold: at the default,
# 16 concurrent JSON requests passed 700 live objects every ~14 requests, and each collection
# walked them and moved them to an older generation to be walked again (~9 us a request).
YOUNG_GC_THRESHOLD = 10_000

log = logging.getLogger("specgate")


def _as_gateway_error(
    exc: Exception, method: str, path: str, allow: Callable[[str], str | None] | None = None
) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, StoreUnavailableError):  # the cause is in the log; retry once it is back
        message = f"the job store ({exc.store}) is unavailable; retry later"
        return ServiceUnavailableError(message, headers={"retry-after": "5"})
    if isinstance(exc, ProblemException):
        status = int(exc.status or 500)
        message = str(exc.detail or exc.title or "Invalid request")
        if status >= 500:
            return ApiError()
        return UpstreamError(status, error_type_for_status(status), message, headers=dict(exc.headers or {}))
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NotFoundError(f"Not found: {method} {path}")
        if exc.status_code == 405:
            headers = dict(exc.headers or {})
            allowed = allow(path) if allow is not None else None
            if allowed:  # the router names one route's methods; the spec knows all of the path's
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": allowed}
            return MethodNotAllowedError(f"Method {method} not allowed for {path}", headers=headers)
        status = exc.status_code
        return UpstreamError(status, error_type_for_status(status), str(exc.detail), headers=dict(exc.headers or {}))
    return ApiError()


class _ErrorMapper:
    """Connexion error handlers: every exception becomes Anthropic's (or the envelope's) body."""

    def __init__(self, envelope_paths: frozenset[str], allow: Callable[[str], str | None]) -> None:
        self.envelope_paths = envelope_paths
        self.allow = allow

    def render(self, scope: Any, exc: Exception) -> tuple[int, bytes, dict[str, str]]:
        path = str(scope.get("path", ""))
        error = _as_gateway_error(exc, str(scope.get("method", "")), path, self.allow)
        if isinstance(error, ApiError) and not isinstance(exc, GatewayError):
            log.error("unhandled error in request %s", request_id_of(scope), exc_info=exc)
        status, body, headers = error_parts(error, request_id_of(scope), envelope=path in self.envelope_paths)
        if status == 401 and path == "/ui":  # a browser asks for the key (HTTP Basic: the password)
            headers = {**headers, "www-authenticate": 'Basic realm="specgate operator page"'}
        return status, body, headers

    async def connexion_handler(self, request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        status, body, headers = self.render(request.scope, exc)
        return ConnexionResponse(status_code=status, body=body, content_type=JSON, headers=headers)

    async def last_resort(self, request: Request, exc: Exception) -> Response:
        status, body, headers = self.render(request.scope, exc)
        return Response(body, status_code=status, media_type=JSON, headers=headers)


def served_document(config: Config, spec_dir: Path | None = None) -> dict[str, Any]:
    """The bundled spec as an app with ``config`` serves it (and contract runs must read it):
    no metrics token requirement without ``server.metrics_token``, no security without keys."""
    document = spec.bundle(spec_dir)
    if config.server.metrics_token is None:
        document = spec.without_scheme(document, spec.METRICS_SCHEME)
    if not config.auth.enabled:
        document = spec.without_security(document, keep=(spec.METRICS_SCHEME,))
    return document


def compiled_bodies(document: dict[str, Any], operations: list[spec.Operation]) -> SchemaCache:
    """Every JSON request body schema of the spec, compiled once (operations sharing a schema,
    such as the message routes, share the compiled form)."""
    schemas = SchemaCache()
    for operation in operations:
        try:
            op = spec.operation_object(document, operation.method, operation.path)
        except spec.RecursiveRefError:
            continue
        content = (op.get("requestBody") or {}).get("content") or {}
        for media_type, entry in content.items():
            if media_type.endswith("json") and isinstance(entry.get("schema"), dict):
                schemas.compile(entry["schema"])
    return schemas


def create_app(
    config: Config | None = None,
    *,
    spec_dir: Path | None = None,
    handler_packages: Sequence[str] = ("handlers",),
    provider_types: Mapping[str, ProviderFactory] | None = None,
    validate_responses: bool = False,
    clock: Clock = system_clock,
) -> ASGIApp:
    config = config or default_config()
    document = served_document(config, spec_dir)
    operations = spec.operations(document)
    resolver = HandlerResolver(handler_packages)
    for operation in operations:  # fail at start-up, naming the operationId, not at first request
        resolver.resolve(operation.operation_id)
    envelope_paths = frozenset(o.path for o in operations if o.extensions.get("x-specgate-format") == "envelope")
    # Operations whose body may exceed server.max_body_bytes (message batches: batches.max_body_bytes).
    body_limits = {
        o.path: config.batches.max_body_bytes
        for o in operations
        if o.extensions.get("x-specgate-body-limit") == "batches"
    }
    mapper = _ErrorMapper(envelope_paths, spec.allow_header(operations))

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        jobs_config = config.jobs
        store = await open_store(jobs_config.store, lease_ttl_s=jobs_config.lease_ttl_s)
        registry = JobRegistry(
            store,
            max_running=jobs_config.max_running,
            max_queued=jobs_config.max_queued,
            default_ttl_s=jobs_config.default_ttl_s,
            max_ttl_s=jobs_config.max_ttl_s,
            max_attempts=jobs_config.max_attempts,
        )
        batches = BatchService(registry.store, config.batches, clock=registry.clock, replica_id=registry.replica_id)
        providers = build_providers(config.providers, provider_types)
        readiness = Readiness()
        readiness.register("config", config_check(config))
        readiness.register("providers", routes_check(config, lambda: set(providers)))
        readiness.register("jobs_store", store_check(store))
        metrics = Metrics()
        tracing = None
        if config.tracing is not None:  # OpenTelemetry is imported only then
            from specgate.ops.tracing import Tracing

            tracing = Tracing(config.tracing, log_bodies=config.log_bodies)
        gateway = Gateway(
            config=config,
            providers=providers,
            router=Router(config.models, providers),
            keys=KeyRing(
                config.auth.api_keys,
                config.auth.virtual_keys,
                secret=config.auth.secret,
                key_id_secret=await resolve_secret(config),
            ),
            jobs=registry,
            batches=batches,
            envelope_paths=envelope_paths,
            metrics=metrics,
            readiness=readiness,
            governance=build_governance(config, clock),
            tracing=tracing,
        )
        # work left by stopped processes (durable stores) runs here, rebuilt from what was stored
        registry.resume("message", resumed_job(gateway))
        batches.resume_with(resumed_executor(gateway))
        await registry.start()
        await batches.start()
        # What start-up built (the spec, its compiled schemas, connexion's operations: tens of MB of
        # objects that live as long as the app) is moved out of the cyclic collector's reach, so a
        # request that allocates much (a 2 MB body) does not pay full collections scanning all of it.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], YOUNG_GC_THRESHOLD), *thresholds[1:])
        try:
            yield {STATE_KEY: gateway}
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            await batches.close(jobs_config.shutdown_grace_s)  # before the store closes
            await registry.close(jobs_config.shutdown_grace_s)  # jobs may still need the providers
            await gateway.governance.close()
            await close_providers(providers)
            metrics.close()
            if tracing is not None:
                await asyncio.to_thread(tracing.close)  # the last spans are exported

    middlewares = [
        functools.partial(ServerErrorMiddleware, handler=mapper.last_resort) if m is ServerErrorMiddleware else m
        for m in ConnexionMiddleware.default_middlewares
    ]
    body_validators = {k: v for k, v in VALIDATOR_MAP["body"].items() if k != "*/*json"}
    lenient = [o.operation_id for o in operations if handler_takes_unknown_fields(resolver.resolve(o.operation_id))]
    schemas = compiled_bodies(document, operations)  # at start-up, not on a first request
    app = connexion.AsyncApp(
        __name__,
        lifespan=lifespan,
        middlewares=middlewares,
        resolver=Resolver(function_resolver=resolver.resolve),
        validator_map={
            "body": MediaTypeDict({"*/*json": json_body_validator(lenient, schemas), **body_validators}),
            "parameter": parameter_validator(),
        },
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs", spec_path="/openapi.json"),
    )
    app.add_api(document, validate_responses=validate_responses)
    for exc_type in (ProblemException, HTTPException, GatewayError, Exception):
        app.add_error_handler(exc_type, mapper.connexion_handler)
    served: ASGIApp = app
    if config.server.fast_path and not validate_responses:  # response validation is connexion's
        fast = fastpath.compile_operations(document, operations, resolver.resolve, schemas)
        if fast:
            served = fastpath.FastPath(app, fast, mapper.render)
    return RequestContextMiddleware(  # request id, body limit, observation, timing: one layer
        served,
        max_body_bytes=config.server.max_body_bytes,
        envelope_paths=lambda: envelope_paths,
        body_limits=body_limits,
        routes=frozenset(o.path for o in operations),
    )
