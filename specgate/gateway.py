"""What one running gateway holds: built in the app's lifespan, reached from each request's scope.

It sits above the parts it composes (jobs, providers, access, operations) and below the request
path that reads it (``specgate.wire``, ``specgate.dispatch``, ``handlers``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobs.batches.service import BatchService
from jobs.registry import JobRegistry
from providers.base import Provider
from providers.router import Router
from specgate.access.governance import Governance
from specgate.access.keys import KeyRing
from specgate.core.config import Config
from specgate.core.scope import STATE_KEY
from specgate.ops.drain import Drain
from specgate.ops.health import Readiness
from specgate.ops.metrics import Metrics

if TYPE_CHECKING:  # imported only when tracing is configured (it imports OpenTelemetry)
    from specgate.ops.tracing import Tracing


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
    governance: Governance = field(default_factory=Governance)  # virtual keys, limits, auth guard, usage
    tracing: Tracing | None = None  # None: tracing off
    drain: Drain = field(default_factory=Drain)  # ends the streams still open when the shutdown grace ends


def gateway_of(scope: MutableMapping[str, Any]) -> Gateway:
    """The app's gateway, which its lifespan put in every request's state (a ``KeyError`` without it)."""
    gateway: Gateway = scope["state"][STATE_KEY]
    return gateway
