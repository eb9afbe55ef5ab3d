"""The per-app state every request can reach: built in the lifespan, read through the scope."""

from __future__ import annotations

import secrets
import string
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from batches.service import BatchService
from jobs.registry import JobRegistry
from providers.base import Provider
from providers.router import Router
from specgate.auth import KeyRing
from specgate.config import Config

STATE_KEY = "specgate.gateway"
REQUEST_ID_KEY = "specgate.request_id"
_ALPHABET = string.ascii_letters + string.digits


def new_request_id() -> str:
    return "req_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


@dataclass
class Gateway:
    config: Config
    providers: dict[str, Provider]
    router: Router
    keys: KeyRing
    jobs: JobRegistry
    batches: BatchService
    envelope_paths: frozenset[str] = field(default_factory=frozenset)


def scope_state(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def gateway_of(scope: MutableMapping[str, Any]) -> Gateway:
    gateway: Gateway = scope_state(scope)[STATE_KEY]
    return gateway


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    state = scope_state(scope)
    rid = state.get(REQUEST_ID_KEY)
    if rid is None:
        rid = state[REQUEST_ID_KEY] = new_request_id()
    return str(rid)
