"""Pure translation between the Anthropic Messages API and Vertex AI's Claude endpoints.

``POST {endpoint}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
(``:streamRawPredict`` for a stream) takes the Anthropic body without ``model`` and with
``anthropic_version: vertex-2023-10-16``; ``stream`` stays in the body of a stream. Answers and
events are Anthropic's. Token counting is the ``count-tokens:rawPredict`` model, which takes
``model`` in the body. Errors come in Anthropic's shape (from the model) or Google's
(``{"error": {"code", "message", "status"}}``, sometimes inside a one-element list); both keep
their HTTP status, so ``providers.faults`` maps them as for every provider.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from providers.faults import ProviderError
from providers.relay import error_of
from specgate.core.types import Json

ANTHROPIC_VERSION = "vertex-2023-10-16"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_COUNT_TOKENS_DROPS = ("max_tokens", "stream", "metadata", "stop_sequences", "temperature", "top_p", "top_k")


def endpoint(region: str, base_url: str | None) -> str:
    """The regional service endpoint (``global`` has none of its own); ``base_url`` overrides it."""
    if base_url:
        return base_url.rstrip("/")
    if region == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{region}-aiplatform.googleapis.com"


def model_url(base: str, project: str, region: str, model: str, method: str) -> str:
    return f"{base}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:{method}"


def predict_body(request: Json, *, stream: bool) -> Json:
    body = {k: v for k, v in request.items() if k not in ("model", "stream", "betas")}
    body["anthropic_version"] = ANTHROPIC_VERSION
    if stream:
        body["stream"] = True
    return body


def count_tokens_body(request: Json, model: str) -> Json:
    body = {k: v for k, v in request.items() if k not in _COUNT_TOKENS_DROPS and k != "betas"}
    body["model"] = model
    body["anthropic_version"] = ANTHROPIC_VERSION
    return body


def beta_header(betas: Iterable[str]) -> dict[str, str]:
    names = list(betas)
    return {"anthropic-beta": ",".join(names)} if names else {}


def parse_error(raw: bytes) -> ProviderError | None:
    """An Anthropic or a Google error body, or None for anything else."""
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    anthropic = error_of(body)
    if anthropic is not None:
        return anthropic
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return ProviderError(None, error["message"])
    return None
