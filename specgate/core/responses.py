"""The one place that turns a ``GatewayError`` into an HTTP response: Anthropic's error body, or
the platform envelope on envelope routes."""

from __future__ import annotations

from typing import Any

from specgate.core import deepjson
from specgate.core.errors import GatewayError, UpstreamError

UPSTREAM_REQUEST_ID_HEADER = "x-specgate-upstream-request-id"


def header_safe(value: str) -> bool:
    """A value from an upstream that may be repeated in a response header as is."""
    return 0 < len(value) <= 200 and value.isascii() and value.isprintable()


JSON = "application/json"


def error_parts(exc: GatewayError, request_id: str, *, envelope: bool = False) -> tuple[int, bytes, dict[str, str]]:
    if envelope:
        body: dict[str, Any] = {
            "success": False,
            "code": str(exc.status_code),
            "message": exc.message,
            "data": None,
        }
    else:
        body = exc.to_body(request_id)
    headers = {**exc.headers, "request-id": request_id}
    if isinstance(exc, UpstreamError) and exc.upstream_request_id and header_safe(exc.upstream_request_id):
        headers[UPSTREAM_REQUEST_ID_HEADER] = exc.upstream_request_id
    return exc.status_code, deepjson.dumps(body), headers


def envelope_success(message: dict[str, Any]) -> bytes:
    return deepjson.dumps({"success": True, "code": "200", "message": "successful", "data": message})
