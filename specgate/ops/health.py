"""Readiness: a list of named async checks that components register (``GET /readyz``).

A check is an async callable that returns when its component is usable and raises (any
exception, its message explains) when it is not. Checks run concurrently, each bounded by a
timeout, so one hung store cannot hang the probe. The app registers ``config`` and
``providers``; the job and batch stores register their own (``gateway.readiness.register``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from specgate.core.config import Config

Check = Callable[[], Awaitable[None]]
DEFAULT_TIMEOUT_S = 2.0


class ReadableStore(Protocol):
    """What the store check needs of a job store (``jobs.store.JobStore`` has it)."""

    async def get(self, job_id: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, "ok": self.ok}
        if self.error is not None:
            out["error"] = self.error
        return out


class Readiness:
    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._checks: dict[str, Check] = {}
        self._timeout_s = timeout_s

    def register(self, name: str, check: Check) -> None:
        """Add (or replace) the check called ``name``."""
        self._checks[name] = check

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    async def run(self) -> list[CheckResult]:
        items = list(self._checks.items())
        return list(await asyncio.gather(*(self._run_one(name, check) for name, check in items)))

    async def _run_one(self, name: str, check: Check) -> CheckResult:
        try:
            await asyncio.wait_for(check(), timeout=self._timeout_s)
        except TimeoutError:
            return CheckResult(name, False, f"no answer within {self._timeout_s:g}s")
        except Exception as exc:
            return CheckResult(name, False, str(exc) or type(exc).__name__)
        return CheckResult(name, True)


def config_check(config: Config) -> Check:
    async def check() -> None:
        if not config.providers:
            raise RuntimeError("no providers configured")

    return check


def store_check(store: ReadableStore) -> Check:
    """The job store answers a read (SQLite file usable, Redis reachable)."""

    async def check() -> None:
        await store.get("job_readiness_probe")

    return check


def routes_check(config: Config, provider_names: Callable[[], set[str]]) -> Check:
    """At least one model route whose provider was built."""

    async def check() -> None:
        built = provider_names()
        if not any(route.provider in built for route in config.models):
            raise RuntimeError("no model route leads to a running provider")

    return check
