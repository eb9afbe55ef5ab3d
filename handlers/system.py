"""Health endpoints (``security: []`` in the spec)."""

from __future__ import annotations

from starlette.responses import Response


async def get_healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
