"""GET /v1/version: the gateway's name and version, and the anthropic-version values it accepts."""

from __future__ import annotations

import orjson
from starlette.responses import Response

from specgate import __version__
from specgate.contract.rules import API_VERSIONS, DEFAULT_VERSION


async def get_version(user: str | None = None) -> Response:
    body = {
        "name": "specgate",
        "version": __version__,
        "api_versions": list(API_VERSIONS),
        "default_api_version": DEFAULT_VERSION,
    }
    return Response(orjson.dumps(body), media_type="application/json")
