"""Admission: the principal's virtual key -> model access (403) and limits (429), or a ticket.

The ticket holds the reservation and the rate-limit headers; ``specgate.dispatch.exchange``
settles it with the real usage on the way back, and writes the call to the usage ledger under
its ``Account`` (``account_of``). A call refused here is written to the ledger here, when the
caller passes its ``account`` (a request, an error and a ``refused``; no tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from providers.tokens import estimate_input_tokens
from specgate.access.governance import Governance, model_allowed
from specgate.access.ledger import Account
from specgate.access.limiter import UNLIMITED, Ticket, WindowFull
from specgate.core.config import VirtualKeySpec
from specgate.core.errors import GatewayError, PermissionDeniedError
from specgate.core.types import Json
from specgate.gateway import Gateway, gateway_of
from specgate.ops.metrics import ANONYMOUS
from specgate.wire.observe import model_label

Scope = MutableMapping[str, Any]


def principal_of(scope: Scope) -> str | None:
    """The authenticated principal (a virtual key's id, or an admin key's opaque id); None when open."""
    user = (scope.get("extensions") or {}).get("connexion_context", {}).get("user")
    return str(user) if user is not None else None


def virtual_key_of(scope: Scope) -> VirtualKeySpec | None:
    return gateway_of(scope).governance.key_for(principal_of(scope))


def may_use(scope: Scope, model: str) -> bool:
    key = virtual_key_of(scope)
    return key is None or model_allowed(key, model)


def check_model(scope: Scope, model: str, *, field: str = "model") -> None:
    """403 ``permission_error`` naming the model when the caller's key may not use it."""
    _check_model(virtual_key_of(scope), model, field)


def _check_model(key: VirtualKeySpec | None, model: str, field: str) -> None:
    if key is not None and not model_allowed(key, model):
        raise PermissionDeniedError(f"{field}: key '{key.id}' is not allowed to use model '{model}'")


def estimate_tokens(body: Json) -> int:
    return estimate_input_tokens(body) + int(body.get("max_tokens") or 0)


async def admit(scope: Scope, body: Json, *, count_tokens: bool = True, account: Account | None = None) -> Ticket:
    """Model access, then limits, for the request's own principal; the ticket's headers go on the
    response. A refusal (403, 429, the limits store down) is counted in ``account``'s ledger."""
    try:
        return await admit_key(gateway_of(scope).governance, virtual_key_of(scope), body, count_tokens=count_tokens)
    except GatewayError:
        if account is not None:
            await account.refused()
        raise


async def admit_key(
    governance: Governance, key: VirtualKeySpec | None, body: Json, *, count_tokens: bool = True
) -> Ticket:
    """The same for a principal known already (a batch item runs long after its request)."""
    _check_model(key, str(body.get("model", "")), "model")
    if key is None or not key.limited:
        return UNLIMITED
    tokens = estimate_tokens(body) if count_tokens else 0
    return await governance.limiter.admit(key, tokens, count_tokens=count_tokens)


async def admit_paced(governance: Governance, key: VirtualKeySpec | None, body: Json, account: Account) -> Ticket:
    """Admission under a known key for work no client waits on (a batch item, a resumed job): a
    per-minute limit holds it back until the window turns; a used-up budget still raises (and is
    counted in ``account``'s ledger as a refused call)."""
    while True:
        try:
            return await admit_key(governance, key, body)
        except WindowFull as full:
            await asyncio.sleep(full.retry_after_s)
        except GatewayError:
            await account.refused()
            raise


def account_for(gateway: Gateway, principal: str | None, model: str) -> Account:
    """The usage ledger's account of a call: the principal (``anonymous`` on an open server) and
    the bounded model label of ``/metrics``."""
    return Account(gateway.governance.ledger, principal or ANONYMOUS, model_label(gateway.router, model))


def account_of(scope: Scope, body: Json) -> Account:
    return account_for(gateway_of(scope), principal_of(scope), str(body.get("model", "")))
