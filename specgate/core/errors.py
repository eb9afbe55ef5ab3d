"""One error hierarchy for the whole gateway, mapped to Anthropic's error body in one place.

    GatewayError                     status  error.type
    ├── InvalidRequestError             400  invalid_request_error
    │   └── UnsupportedFieldError       400  invalid_request_error  -- a provider cannot honour a field
    ├── AuthenticationError             401  authentication_error
    ├── PermissionDeniedError           403  permission_error
    ├── NotFoundError                   404  not_found_error
    ├── MethodNotAllowedError           405  invalid_request_error
    ├── RequestTimeoutError             408  timeout_error  -- the request head was too slow (specgate.wire.serving)
    ├── RequestTooLargeError            413  request_too_large
    ├── UnsupportedMediaTypeError       415  invalid_request_error
    ├── HeadersTooLargeError            431  invalid_request_error  -- specgate.wire.serving
    ├── RateLimitError                  429  rate_limit_error
    ├── ApiError                        500  api_error
    ├── ServiceUnavailableError         503  api_error   -- /readyz: a readiness check failed
    ├── OverloadedError                 529  overloaded_error
    └── UpstreamError          (upstream's)  (upstream's)  -- relayed from a provider

Providers, the job registry and handlers raise these; ``specgate.app`` turns them into
responses (``to_body`` / ``to_response_parts``) and nothing else builds an error body.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class GatewayError(Exception):
    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def type(self) -> str:
        return self.error_type

    def to_body(self, request_id: str | None) -> dict[str, Any]:
        return error_body(self.type, self.message, request_id)


class InvalidRequestError(GatewayError):
    status = 400
    error_type = "invalid_request_error"
    default_message = "Invalid request"


class UnsupportedFieldError(InvalidRequestError):
    """The request uses a field, block or tool type that the provider chosen for it cannot honour,
    and ignoring it would change what was asked. The message names the field's path. A fallback
    route that raises it is passed over (it is no fallback for this request)."""


class AuthenticationError(GatewayError):
    status = 401
    error_type = "authentication_error"
    default_message = "Authentication error"


class PermissionDeniedError(GatewayError):
    status = 403
    error_type = "permission_error"
    default_message = "Permission denied"


class NotFoundError(GatewayError):
    status = 404
    error_type = "not_found_error"
    default_message = "Not found"


class MethodNotAllowedError(GatewayError):
    status = 405
    error_type = "invalid_request_error"
    default_message = "Method not allowed"


class RequestTimeoutError(GatewayError):
    status = 408
    error_type = "timeout_error"
    default_message = "Request timeout"


class RequestTooLargeError(GatewayError):
    status = 413
    error_type = "request_too_large"
    default_message = "Request exceeds the maximum allowed number of bytes"


class UnsupportedMediaTypeError(GatewayError):
    status = 415
    error_type = "invalid_request_error"
    default_message = "Unsupported media type"


class HeadersTooLargeError(GatewayError):
    status = 431
    error_type = "invalid_request_error"
    default_message = "Request header fields too large"


class RateLimitError(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    default_message = "Rate limited"


class ApiError(GatewayError):
    status = 500
    error_type = "api_error"
    default_message = "Internal server error"


class ServiceUnavailableError(GatewayError):
    status = 503
    error_type = "api_error"
    default_message = "Service unavailable"


class OverloadedError(GatewayError):
    status = 529
    error_type = "overloaded_error"
    default_message = "Overloaded"


class UpstreamError(GatewayError):
    """An error answered by an upstream provider, relayed with its own status and type."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        upstream_request_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, headers=headers)
        self._status = status
        self._type = error_type
        self.upstream_request_id = upstream_request_id
        self.retryable = is_retryable_status(status) if retryable is None else retryable

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def type(self) -> str:
        return self._type


_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    """The Anthropic error.type for an HTTP status (other 4xx: invalid_request_error, 5xx: api_error)."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def is_retryable_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def error_body(error_type: str, message: str, request_id: str | None) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def error_json(error_type: str, message: str, request_id: str | None) -> bytes:
    return orjson.dumps(error_body(error_type, message, request_id))
