"""The one place that turns a ``GatewayError`` into an HTTP response: Anthropic's error body, or
the platform envelope on envelope routes."""

from __future__ import annotations

from typing import Any

import orjson

from specgate.errors import GatewayError

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
    return exc.status_code, orjson.dumps(body), headers


def envelope_success(message: dict[str, Any]) -> bytes:
    return orjson.dumps({"success": True, "code": "200", "message": "successful", "data": message})
