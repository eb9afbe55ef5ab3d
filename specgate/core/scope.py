"""Where a request's shared values live in its ASGI scope: the gateway, the request id, and its
headers by name (``headers_of``: read once per request, not searched for each lookup)."""

from __future__ import annotations

import os
import string
from collections.abc import MutableMapping
from typing import Any

STATE_KEY = "specgate.gateway"
REQUEST_ID_KEY = "specgate.request_id"
HEADERS_KEY = "specgate.headers"
_ALPHABET = string.ascii_letters + string.digits


_BASE62 = bytes(ord(_ALPHABET[i % 62]) for i in range(256))  # byte -> base-62 digit (about 5.93 bits)


def new_request_id() -> str:
    """``req_`` + 24 base-62 characters from the OS generator (142 bits, one call, no loop)."""
    return "req_" + os.urandom(24).translate(_BASE62).decode("ascii")


def scope_state(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] | None = scope.get("state")
    if state is None:  # not setdefault: that builds a dict on every call
        state = scope["state"] = {}
    return state


def headers_of(scope: MutableMapping[str, Any]) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name, the first of repeated ones, as starlette's
    ``Headers.get`` and connexion read them. Built once per header list: a layer that replaces
    ``scope["headers"]`` (a default content type, a chunked body given a length) gets a new map."""
    raw = scope["headers"]
    state = scope_state(scope)
    cached = state.get(HEADERS_KEY)
    if cached is not None and cached[0] is raw:
        found: dict[bytes, bytes] = cached[1]
        return found
    headers = dict(reversed(raw))  # the first of repeated names wins
    state[HEADERS_KEY] = (raw, headers)
    return headers


class RequestHeaders:
    """``headers_of`` as ``get(name)`` with ``str`` names and values (latin-1, as starlette
    decodes them): what the handlers ask of a request's headers, without a search or a
    ``KeyError`` per absent header."""

    __slots__ = ("_raw",)

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self._raw = headers_of(scope)

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._raw.get(name.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    state = scope_state(scope)
    rid = state.get(REQUEST_ID_KEY)
    if rid is None:
        rid = state[REQUEST_ID_KEY] = new_request_id()
    return str(rid)
