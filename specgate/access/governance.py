"""The per-gateway governance state: virtual keys by principal id, the limiter, the auth guard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from specgate.access.counters import MemoryCounterStore
from specgate.access.guard import AuthGuard
from specgate.access.ledger import Ledger, MemoryUsageStore
from specgate.access.limiter import Limiter
from specgate.access.windows import Clock, system_clock
from specgate.core.config import VirtualKeySpec


def model_allowed(key: VirtualKeySpec, model: str) -> bool:
    return any(fnmatchcase(model, pattern) for pattern in key.models)


@dataclass
class Governance:
    keys: dict[str, VirtualKeySpec] = field(default_factory=dict)  # principal id -> virtual key
    limiter: Limiter = field(default_factory=lambda: Limiter(MemoryCounterStore(system_clock), system_clock))
    guard: AuthGuard = field(default_factory=lambda: AuthGuard(system_clock, max_failures=0, window_s=60.0))
    ledger: Ledger = field(default_factory=lambda: Ledger(MemoryUsageStore(system_clock), system_clock))  # usage

    @classmethod
    def build(
        cls, keys: Iterable[VirtualKeySpec], limiter: Limiter, *, clock: Clock, max_failures: int, window_s: float
    ) -> Governance:
        return cls({k.id: k for k in keys}, limiter, AuthGuard(clock, max_failures=max_failures, window_s=window_s))

    def key_for(self, principal: str | None) -> VirtualKeySpec | None:
        """The virtual key a principal authenticated with; None for admin keys and open servers."""
        return self.keys.get(principal) if principal is not None else None

    async def close(self) -> None:
        await self.ledger.close()
        await self.limiter.close()
