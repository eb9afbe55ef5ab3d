"""Where a request's shared values live in its ASGI scope: the gateway, the request id."""

from __future__ import annotations

import os
import string
from collections.abc import MutableMapping
from typing import Any

STATE_KEY = "specgate.gateway"
REQUEST_ID_KEY = "specgate.request_id"
_ALPHABET = string.ascii_letters + string.digits


_BASE62 = bytes(ord(_ALPHABET[i % 62]) for i in range(256))  # byte -> base-62 digit (about 5.93 bits)


def new_request_id() -> str:
    """``req_`` + 24 base-62 characters from the OS generator (142 bits, one call, no loop)."""
    return "req_" + os.urandom(24).translate(_BASE62).decode("ascii")


def scope_state(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    state = scope_state(scope)
    rid = state.get(REQUEST_ID_KEY)
    if rid is None:
        rid = state[REQUEST_ID_KEY] = new_request_id()
    return str(rid)
