"""The per-app state every request can reach: built in the lifespan, read through the scope."""

from __future__ import annotations

import os
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
from specgate.governance.core import Governance
from specgate.health import Readiness
from specgate.metrics import Metrics

STATE_KEY = "specgate.gateway"
REQUEST_ID_KEY = "specgate.request_id"
_ALPHABET = string.ascii_letters + string.digits


_BASE62 = bytes(ord(_ALPHABET[i % 62]) for i in range(256))  # byte -> base-62 digit (about 5.93 bits)


def new_request_id() -> str:
    """``req_`` + 24 base-62 characters from the OS generator (142 bits, one call, no loop)."""
    return "req_" + os.urandom(24).translate(_BASE62).decode("ascii")


@dataclass
class Gateway:
    config: Config
    providers: dict[str, Provider]
    router: Router
    keys: KeyRing
    jobs: JobRegistry
    batches: BatchService
    envelope_paths: frozenset[str] = field(default_factory=frozenset)
    metrics: Metrics = field(default_factory=Metrics)
    readiness: Readiness = field(default_factory=Readiness)
    governance: Governance = field(default_factory=Governance)  # virtual keys, limits, auth guard


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
