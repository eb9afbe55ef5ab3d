"""GET .../models and .../models/{model_id}: the configured model routes with exact names."""

from __future__ import annotations

from typing import Any

import orjson
from connexion import request
from starlette.responses import Response

from specgate.config import ModelRoute
from specgate.errors import NotFoundError
from specgate.governance import gate
from specgate.pagination import page
from specgate.state import gateway_of


def _info(route: ModelRoute) -> dict[str, Any]:
    return {
        "type": "model",
        "id": route.match,
        "display_name": route.display_name or route.match,
        "created_at": route.created_at,
    }


def _listed() -> list[ModelRoute]:
    scope = request.scope
    routes = [r for r in gateway_of(scope).router.exact_routes() if gate.may_use(scope, r.match)]
    return sorted(routes, key=lambda r: r.created_at, reverse=True)  # newest first; stable for equal dates


async def list_models(limit: int = 20, before_id: str | None = None, after_id: str | None = None) -> Response:
    body = page(_listed(), id_of=lambda r: r.match, render=_info, limit=limit, before_id=before_id, after_id=after_id)
    return Response(orjson.dumps(body), media_type="application/json")


async def get_model(model_id: str) -> Response:
    gate.check_model(request.scope, model_id)
    for route in _listed():
        if route.match == model_id:
            return Response(orjson.dumps(_info(route)), media_type="application/json")
    raise NotFoundError(f"model: {model_id}")


# The same operations under the integration prefixes (each path has its own operationId).
anthropic_list_models = platform_anthropic_list_models = list_models
anthropic_get_model = platform_anthropic_get_model = get_model
