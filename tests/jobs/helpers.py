"""Shared helpers for job tests: a controllable clock, gated work functions and a factory of
started registries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from jobs.model import Job, JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.store import JobStore

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout_s: float = 10.0) -> T:
    """Await with a deadline, so a broken registry fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, timeout_s)


_STORE_KWARGS = ("lease_ttl_s", "lease_renew_interval_s")


@asynccontextmanager
async def registries(
    new_store: Callable[..., JobStore], **defaults: Any
) -> AsyncIterator[Callable[..., Awaitable[JobRegistry]]]:
    """A factory of started registries, each on its own ``new_store(...)`` (or the ``store=``
    given; ``lease_ttl_s``/``lease_renew_interval_s`` go to the store), all closed on exit."""
    made: list[JobRegistry] = []

    async def make(replica_id: str | None = None, **kwargs: Any) -> JobRegistry:
        store_kwargs = {k: kwargs.pop(k) for k in _STORE_KWARGS if k in kwargs}
        store = kwargs.pop("store", None) or new_store(**store_kwargs)
        if replica_id is not None:
            kwargs["replica_id"] = replica_id
        registry = JobRegistry(store, **{**defaults, **kwargs})
        await registry.start()
        made.append(registry)
        return registry

    try:
        yield make
    finally:
        for registry in made:
            await registry.close(grace_s=0)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Gate:
    """Work that signals ``started``, waits for ``release``, then returns ``outcome``."""

    outcome: JobOutcome = field(default_factory=lambda: JobOutcome(200, b'{"ok":true}'))
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0

    async def __call__(self) -> JobOutcome:
        self.calls += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return self.outcome


def returning(outcome: JobOutcome) -> Callable[[], Awaitable[JobOutcome]]:
    async def work() -> JobOutcome:
        return outcome

    return work


async def eventually(get: Callable[[], Awaitable[object]], expected: object, timeout_s: float = 5.0) -> None:
    """Poll ``get`` until it returns ``expected`` (for changes made by timers or other processes)."""
    async with asyncio.timeout(timeout_s):
        while (await get()) != expected:  # noqa: ASYNC110 -- the change has no event to wait on
            await asyncio.sleep(0.01)


async def wait_for_status(get: Callable[[], Awaitable[Job | None]], status: JobStatus, timeout_s: float = 5.0) -> Job:
    """Poll ``get`` until the job has ``status`` (for transitions driven by other processes/timers)."""
    async with asyncio.timeout(timeout_s):
        while True:
            job = await get()
            if job is not None and job.status == status:
                return job
            await asyncio.sleep(0.01)


def counting(calls: list[int], i: int) -> Callable[[], Awaitable[JobOutcome]]:
    """Work for job ``i`` that counts its runs in ``calls[i]`` and answers ``{"n": i}``."""

    async def run() -> JobOutcome:
        calls[i] += 1
        await asyncio.sleep(0)
        return JobOutcome(200, f'{{"n":{i}}}'.encode())

    return run
