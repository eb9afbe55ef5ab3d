"""Building the governance state from the config, in the app lifespan."""

from __future__ import annotations

import logging

from specgate.access.counters import CounterStore, MemoryCounterStore
from specgate.access.governance import Governance
from specgate.access.ledger import Ledger, MemoryUsageStore, UsageStore
from specgate.access.limiter import Limiter
from specgate.access.windows import Clock
from specgate.core.config import Config
from specgate.core.redis_url import is_redis_url

log = logging.getLogger("specgate.limits")


def open_store(url: str, *, prefix: str, clock: Clock) -> CounterStore:
    """``memory``, a ``redis://`` or a ``redis+cluster://`` URL (the client connects lazily, on first use)."""
    if url == "memory":
        return MemoryCounterStore(clock)
    from specgate.access.redis_counters import RedisCounterStore  # imports redis: only when used

    return RedisCounterStore.from_url(url, prefix=prefix)


def store_url(config: Config) -> str:
    """``limits.store``; when it is left at ``memory`` and the job store is Redis, that Redis."""
    url = config.limits.store
    if url == "memory" and is_redis_url(config.jobs.store):
        return config.jobs.store
    return url


def usage_store(counters: CounterStore, clock: Clock) -> UsageStore:
    """The usage ledger's store: in the same place as the limit counters (Redis: the same connection)."""
    if isinstance(counters, MemoryCounterStore):
        return MemoryUsageStore(clock)
    from specgate.access.redis_counters import RedisCounterStore
    from specgate.access.redis_ledger import RedisUsageStore

    assert isinstance(counters, RedisCounterStore)
    return RedisUsageStore(counters.client, prefix=counters.prefix)


def build_governance(config: Config, clock: Clock) -> Governance:
    url = store_url(config)
    if any(k.limited for k in config.auth.virtual_keys):
        where = "memory (this process only)" if url == "memory" else "redis"
        log.info("limits: counters in %s", where)
    counters = open_store(url, prefix=config.limits.prefix, clock=clock)
    limiter = Limiter(counters, clock)
    governance = Governance.build(
        config.auth.virtual_keys,
        limiter,
        clock=clock,
        max_failures=config.auth.max_failures,
        window_s=config.auth.failure_window_s,
    )
    governance.ledger = Ledger(usage_store(counters, clock), clock)
    return governance
