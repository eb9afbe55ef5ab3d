"""The spec's four security schemes (and the metrics token), as connexion calls them.

A key is accepted as ``x-api-key``, ``Authorization: Bearer``, HTTP Basic (password = key) or
``x-bf-vk``. When ``x-api-key`` is present it wins, as with the real API: the other schemes then
act as if their credential were absent. ``spec/`` names these functions in ``x-*InfoFunc``; each
looks the key up in the gateway's key ring (``specgate.access.keys``). ``GET /metrics`` may
require ``server.metrics_token`` (``metrics_token_info``). Failed attempts are counted per client
address (``specgate.access.guard``): past the threshold the address gets 429 until the window ends.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connexion.security import NO_VALUE
from starlette.requests import HTTPConnection

from specgate.gateway import gateway_of


def client_address_of(scope: Any) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def identify(scope: Any, key: str, scheme: str) -> dict[str, str] | None:
    """The token info for ``key``, or None; 429 while the client's address is locked out. Records
    nothing: the fast path (``specgate.wire.fastpath``) asks this before it commits to a request."""
    gateway = gateway_of(scope)
    await gateway.governance.guard.check(client_address_of(scope))  # before the key is looked at
    principal = gateway.keys.lookup(key)
    if principal is None:
        return None
    return {"sub": principal, "scheme": scheme}


async def _info(request: Any, key: str, scheme: str) -> dict[str, str] | None:
    conn: HTTPConnection = request
    info = await identify(conn.scope, key, scheme)
    if info is None:
        await gateway_of(conn.scope).governance.guard.failed(client_address_of(conn.scope))
    return info


def _defer_to_api_key(request: Any) -> bool:
    return request.headers.get("x-api-key") is not None


async def api_key_info(apikey: str, required_scopes: Any = None, request: Any = None) -> Any:
    return await _info(request, apikey, "x-api-key")


async def bearer_info(token: str, required_scopes: Any = None, request: Any = None) -> Any:
    if _defer_to_api_key(request):
        return NO_VALUE
    return await _info(request, token, "bearer")


async def basic_info(username: str, password: str, required_scopes: Any = None, request: Any = None) -> Any:
    if _defer_to_api_key(request):
        return NO_VALUE
    return await _info(request, password, "basic")


async def virtual_key_info(apikey: str, required_scopes: Any = None, request: Any = None) -> Any:
    if _defer_to_api_key(request):
        return NO_VALUE
    return await _info(request, apikey, "x-bf-vk")


async def metrics_token_info(token: str, required_scopes: Any = None, request: Any = None) -> Any:
    """``server.metrics_token`` for ``GET /metrics`` (the spec drops the requirement when unset).
    Both sides are hashed first so the constant-time compare does not reveal the length either."""
    scope = request.scope
    gateway = gateway_of(scope)
    await gateway.governance.guard.check(client_address_of(scope))
    expected = gateway.config.server.metrics_token
    presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
    if expected is not None and hmac.compare_digest(presented, hashlib.sha256(expected.encode()).digest()):
        return {"sub": "metrics", "scheme": "metrics-token"}
    await gateway.governance.guard.failed(client_address_of(scope))
    return None


@dataclass(frozen=True, slots=True)
class SchemeRule:
    """What the fast path must know of an info function to authenticate as it would."""

    label: str  # the token info's "scheme"
    defers_to_api_key: bool  # answers NO_VALUE when x-api-key is present


RULES: dict[Callable[..., Any], SchemeRule] = {
    api_key_info: SchemeRule("x-api-key", defers_to_api_key=False),
    bearer_info: SchemeRule("bearer", defers_to_api_key=True),
    basic_info: SchemeRule("basic", defers_to_api_key=True),
    virtual_key_info: SchemeRule("x-bf-vk", defers_to_api_key=True),
}

# Connexion inspects the signature of these functions on every request (to see which keyword
# arguments they accept); a precomputed ``__signature__`` makes that a lookup.
for _info_function in (api_key_info, bearer_info, basic_info, virtual_key_info, metrics_token_info):
    setattr(_info_function, "__signature__", inspect.signature(_info_function))  # noqa: B010
