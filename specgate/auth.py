"""Authentication: the four security schemes of the spec, resolved to a principal.

A key is accepted as ``x-api-key``, ``Authorization: Bearer``, HTTP Basic (password = key) or
``x-bf-vk``. When ``x-api-key`` is present it wins, as with the real API: the other schemes then
defer to it. Keys are compared in constant time (``hmac.compare_digest`` on SHA-256 digests of
every configured key, so neither content nor length leaks) and are never logged or echoed: the
principal is an opaque id derived from the key's digest.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import Sequence
from typing import Any

from starlette.requests import HTTPConnection


def principal_id(key: str) -> str:
    return "key_" + hashlib.sha256(b"specgate-principal\x00" + key.encode()).hexdigest()[:16]


class KeyRing:
    def __init__(self, api_keys: Sequence[str]) -> None:
        self._entries = [(hashlib.sha256(k.encode()).digest(), principal_id(k)) for k in api_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def lookup(self, presented: str) -> str | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: str | None = None
        for known, principal in self._entries:  # no early exit: same work whichever key matches
            if hmac.compare_digest(known, digest):
                found = principal
        return found


def _ring(request: Any) -> KeyRing:
    from specgate.state import gateway_of

    conn: HTTPConnection = request
    return gateway_of(conn.scope).keys


def _info(request: Any, key: str, scheme: str) -> dict[str, str] | None:
    principal = _ring(request).lookup(key)
    return {"sub": principal, "scheme": scheme} if principal else None


def _defer_to_api_key(request: Any) -> bool:
    return bool(request.headers.get("x-api-key"))


async def api_key_info(apikey: str, required_scopes: Any = None, request: Any = None) -> dict[str, str] | None:
    return _info(request, apikey, "x-api-key")


async def bearer_info(token: str, required_scopes: Any = None, request: Any = None) -> dict[str, str] | None:
    if _defer_to_api_key(request):
        return None
    return _info(request, token, "bearer")


async def basic_info(
    username: str, password: str, required_scopes: Any = None, request: Any = None
) -> dict[str, str] | None:
    if _defer_to_api_key(request):
        return None
    return _info(request, password, "basic")


async def virtual_key_info(apikey: str, required_scopes: Any = None, request: Any = None) -> dict[str, str] | None:
    if _defer_to_api_key(request):
        return None
    return _info(request, apikey, "x-bf-vk")


# Connexion inspects the signature of these functions on every request (to see which keyword
# arguments they accept); a precomputed ``__signature__`` makes that a lookup.
for _info_function in (api_key_info, bearer_info, basic_info, virtual_key_info):
    setattr(_info_function, "__signature__", inspect.signature(_info_function))  # noqa: B010
