"""Health, readiness and metrics endpoints (``security: []`` in the spec)."""

from __future__ import annotations

from typing import Any

import orjson
from connexion import request
from starlette.responses import Response

from specgate.core.errors import ServiceUnavailableError
from specgate.gateway import gateway_of
from specgate.ops.metrics import CONTENT_TYPE


async def get_healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def get_readyz() -> Response:
    """200 when every registered readiness check passes; else 503 naming the failed checks."""
    scope: Any = request.scope
    results = await gateway_of(scope).readiness.run()
    failed = [r for r in results if not r.ok]
    if failed:
        raise ServiceUnavailableError("not ready: " + "; ".join(f"{r.name}: {r.error}" for r in failed))
    body = {"status": "ready", "checks": [r.as_json() for r in results]}
    return Response(orjson.dumps(body), media_type="application/json")


async def get_metrics() -> Response:
    scope: Any = request.scope
    return Response(gateway_of(scope).metrics.render(), media_type=CONTENT_TYPE)
