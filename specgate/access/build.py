"""Building the governance state from the config, in the app lifespan."""

from __future__ import annotations

import logging

from specgate.access.counters import CounterStore, MemoryCounterStore
from specgate.access.governance import Governance
from specgate.access.limiter import Limiter
from specgate.access.windows import Clock
from specgate.core.config import Config

log = logging.getLogger("specgate.limits")


def open_store(url: str, *, prefix: str, clock: Clock) -> CounterStore:
    """``memory`` or a ``redis://`` URL (the Redis client connects lazily, on first use)."""
    if url == "memory":
        return MemoryCounterStore(clock)
    from specgate.access.redis_counters import RedisCounterStore  # imports redis: only when used

    return RedisCounterStore.from_url(url, prefix=prefix)


def store_url(config: Config) -> str:
    """``limits.store``; when it is left at ``memory`` and the job store is Redis, that Redis."""
    url = config.limits.store
    if url == "memory" and config.jobs.store.startswith(("redis://", "rediss://", "unix://")):
        return config.jobs.store
    return url


def build_governance(config: Config, clock: Clock) -> Governance:
    url = store_url(config)
    if any(k.limited for k in config.auth.virtual_keys):
        where = "memory (this process only)" if url == "memory" else "redis"
        log.info("limits: counters in %s", where)
    limiter = Limiter(open_store(url, prefix=config.limits.prefix, clock=clock), clock)
    return Governance.build(
        config.auth.virtual_keys,
        limiter,
        clock=clock,
        max_failures=config.auth.max_failures,
        window_s=config.auth.failure_window_s,
    )
