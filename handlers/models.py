"""GET .../models and .../models/{model_id}: the configured model routes with exact names.

Each item is a complete ``ModelInfo`` (every key the official SDK declares): ``created_at``,
``lifecycle``, ``deprecated_at``, ``retires_at``, ``max_input_tokens`` and ``max_tokens`` come
from the route's config; ``capabilities`` from the provider when it can say
(``providers.base.DescribesCapabilities``: echo), else ``null``; ``line`` is ``null`` (a model
line is not inferred from a name).
"""

from __future__ import annotations

from typing import Any

import orjson
from connexion import request
from starlette.responses import Response

from providers.base import DescribesCapabilities, Provider
from specgate.core.config import ModelRoute
from specgate.core.errors import NotFoundError
from specgate.dispatch import admission
from specgate.gateway import gateway_of
from specgate.wire.pagination import page


def model_info(route: ModelRoute, provider: Provider | None) -> dict[str, Any]:
    """The ``ModelInfo`` of an exact model route served by ``provider``."""
    capabilities = provider.model_capabilities() if isinstance(provider, DescribesCapabilities) else None
    return {
        "type": "model",
        "id": route.match,
        "display_name": route.display_name or route.match,
        "created_at": route.created_at,
        "lifecycle": route.lifecycle,
        "deprecated_at": route.deprecated_at,
        "retires_at": route.retires_at,
        "line": None,
        "capabilities": capabilities,
        "max_input_tokens": route.max_input_tokens,
        "max_tokens": route.max_tokens,
    }


def _render() -> Any:
    providers = gateway_of(request.scope).providers
    return lambda route: model_info(route, providers.get(route.provider))


def _listed() -> list[ModelRoute]:
    scope = request.scope
    routes = [r for r in gateway_of(scope).router.exact_routes() if admission.may_use(scope, r.match)]
    return sorted(routes, key=lambda r: r.created_at, reverse=True)  # newest first; stable for equal dates


async def list_models(limit: int = 20, before_id: str | None = None, after_id: str | None = None) -> Response:
    body = page(
        _listed(), id_of=lambda r: r.match, render=_render(), limit=limit, before_id=before_id, after_id=after_id
    )
    return Response(orjson.dumps(body), media_type="application/json")


async def get_model(model_id: str) -> Response:
    admission.check_model(request.scope, model_id)
    for route in _listed():
        if route.match == model_id:
            return Response(orjson.dumps(_render()(route)), media_type="application/json")
    raise NotFoundError(f"model: {model_id}")


# The same operations under the integration prefixes (each path has its own operationId).
anthropic_list_models = platform_anthropic_list_models = list_models
anthropic_get_model = platform_anthropic_get_model = get_model
