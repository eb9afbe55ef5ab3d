"""Authentication: the four security schemes of the spec, resolved to a principal.

A key is accepted as ``x-api-key``, ``Authorization: Bearer``, HTTP Basic (password = key) or
``x-bf-vk``. When ``x-api-key`` is present it wins, as with the real API: the other schemes then
act as if their credential were absent. Two kinds of key: admin keys (``auth.api_keys``, no
limits; the principal is an opaque id) and virtual keys (``auth.virtual_keys``; the principal is
the key's ``id``).

The ring keeps only HMAC-SHA-256 digests of the keys, under ``auth.secret`` (or a random
per-process secret: the digests are derived from the config at each start, so they need not
survive a restart). A presented key is hashed the same way and compared with every digest in
constant time (``hmac.compare_digest``, no early exit), so neither content nor length leaks.
Keys are never logged or echoed. Failed attempts are counted per client address
(``governance.guard``): past the threshold the address gets 429 until the window ends.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
from collections.abc import Sequence
from typing import Any

from connexion.security import NO_VALUE
from starlette.requests import HTTPConnection

from specgate.governance.settings import VirtualKeySpec


def principal_id(key: str) -> str:
    return "key_" + hashlib.sha256(b"specgate-principal\x00" + key.encode()).hexdigest()[:16]


class KeyRing:
    def __init__(
        self,
        api_keys: Sequence[str],
        virtual_keys: Sequence[VirtualKeySpec] = (),
        *,
        secret: str | bytes | None = None,
    ) -> None:
        if secret is None:
            self._secret = secrets.token_bytes(32)
        else:
            self._secret = secret.encode() if isinstance(secret, str) else secret
        pairs = [(k, principal_id(k)) for k in api_keys] + [(v.key, v.id) for v in virtual_keys]
        self._entries = [(self.digest(k), principal) for k, principal in pairs]

    def digest(self, key: str) -> bytes:
        return hmac.new(self._secret, key.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def lookup(self, presented: str) -> str | None:
        digest = self.digest(presented)
        found: str | None = None
        for known, principal in self._entries:  # no early exit: same work whichever key matches
            if hmac.compare_digest(known, digest):
                found = principal
        return found


def client_address(request: Any) -> str:
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


async def _info(request: Any, key: str, scheme: str) -> dict[str, str] | None:
    from specgate.state import gateway_of

    conn: HTTPConnection = request
    gateway = gateway_of(conn.scope)
    guard = gateway.governance.guard
    client = client_address(request)
    await guard.check(client)  # 429 while this address is locked out, before the key is looked at
    principal = gateway.keys.lookup(key)
    if principal is None:
        await guard.failed(client)
        return None
    return {"sub": principal, "scheme": scheme}


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


# Connexion inspects the signature of these functions on every request (to see which keyword
# arguments they accept); a precomputed ``__signature__`` makes that a lookup.
for _info_function in (api_key_info, bearer_info, basic_info, virtual_key_info):
    setattr(_info_function, "__signature__", inspect.signature(_info_function))  # noqa: B010
