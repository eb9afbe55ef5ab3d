"""GET /v1/usage: the usage ledger (``specgate.access.ledger``) as the caller may see it: every
row for an admin key (or an open server), a virtual key's own rows for a virtual key."""

from __future__ import annotations

from typing import Any

import orjson
from connexion import request
from starlette.responses import Response

from specgate.dispatch import admission
from specgate.gateway import gateway_of


async def get_usage(user: str | None = None, window: str = "total") -> Response:
    scope: Any = request.scope
    ledger = gateway_of(scope).governance.ledger
    key = admission.virtual_key_of(scope)
    principal = key.id if key is not None else None  # None: every principal's rows
    rows = await (ledger.last_hour(principal) if window == "last_hour" else ledger.totals(principal))
    return Response(orjson.dumps({"window": window, "data": rows}), media_type="application/json")
