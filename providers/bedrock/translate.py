"""Pure translation between the Anthropic Messages API and Bedrock's ``InvokeModel`` wire format.

The request body is the Anthropic body without ``model`` and ``stream`` (the model is in the URL,
streaming is the operation) and with ``anthropic_version: bedrock-2023-05-31``; betas travel as
the body's ``anthropic_beta`` list. The answer is an Anthropic Message; a stream is an AWS event
stream whose ``chunk`` events carry one Anthropic event each, base64-encoded in ``{"bytes": …}``,
and whose ``exception`` messages name a Bedrock exception (mapped by ``stream_exception``).

Bedrock's HTTP errors (``x-amzn-ErrorType`` and a ``{"message": …}`` body) keep their status:
ValidationException 400, AccessDeniedException 403, ResourceNotFoundException 404,
ModelTimeoutException 408, ModelErrorException 424, ThrottlingException and
ModelNotReadyException 429, InternalServerException 500, ServiceUnavailableException 503, so
``providers.faults`` maps them as for every provider.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import orjson

from providers.faults import ProviderError, capped
from specgate.core.errors import UpstreamError
from specgate.core.types import Json

ANTHROPIC_VERSION = "bedrock-2023-05-31"
SIGNING_SERVICE = "bedrock"
STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

# a Bedrock exception inside a stream -> the Anthropic status and error type the client's stream ends with
_STREAM_EXCEPTIONS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (429, "rate_limit_error"),
    "ServiceQuotaExceededException": (429, "rate_limit_error"),
    "ModelNotReadyException": (529, "overloaded_error"),
    "ServiceUnavailableException": (529, "overloaded_error"),
    "ValidationException": (400, "invalid_request_error"),
    "AccessDeniedException": (403, "permission_error"),
    "ResourceNotFoundException": (404, "not_found_error"),
    "ModelTimeoutException": (504, "timeout_error"),
    "ModelStreamErrorException": (500, "api_error"),
    "ModelErrorException": (500, "api_error"),
    "InternalServerException": (500, "api_error"),
}


def endpoint(region: str, base_url: str | None) -> str:
    """The bedrock-runtime endpoint of a region (``base_url`` overrides it: a VPC endpoint, a fake)."""
    return (base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")


def model_id(upstream_model: str, model_ids: dict[str, str]) -> str:
    """The Bedrock model id (or inference-profile ARN) for a model name: ``model_ids`` or as is."""
    return model_ids.get(upstream_model, upstream_model)


def invoke_url(base: str, model: str, *, stream: bool) -> str:
    """``/model/{modelId}/invoke`` or ``/invoke-with-response-stream``; the id percent-encoded as
    the AWS SDKs do (an ARN's ``/`` becomes ``%2F``; ``:`` stays)."""
    operation = "invoke-with-response-stream" if stream else "invoke"
    return f"{base}/model/{quote(model, safe=':')}/{operation}"


def invoke_body(request: Json, betas: Iterable[str]) -> Json:
    body = {k: v for k, v in request.items() if k not in ("model", "stream", "betas")}
    body["anthropic_version"] = ANTHROPIC_VERSION
    names = list(betas)
    if names:
        body["anthropic_beta"] = names
    return body


def parse_error(raw: bytes) -> ProviderError | None:
    """A Bedrock error body (``{"message": …}``, or ``Message``), or None for anything else."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    message = body.get("message", body.get("Message"))
    return ProviderError(None, message) if isinstance(message, str) else None


def chunk_payload(payload: bytes) -> bytes | None:
    """The Anthropic event inside a ``chunk`` event's payload (``{"bytes": base64}``), or None
    when the payload is not that shape."""
    try:
        wrapper: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    encoded = wrapper.get("bytes") if isinstance(wrapper, dict) else None
    if not isinstance(encoded, str):
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def stream_exception(name: str, payload: bytes, provider: str, request_id: str | None) -> UpstreamError:
    """A Bedrock ``exception`` message of an event stream, as the client's error."""
    status, error_type = _STREAM_EXCEPTIONS.get(name, (500, "api_error"))
    parsed = parse_error(payload)
    message = capped(parsed.message) if parsed else f"upstream {provider!r} reported {name or 'an exception'}"
    return UpstreamError(status, error_type, message, upstream_request_id=request_id, retryable=False)
