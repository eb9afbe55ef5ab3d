"""Job stores and ``open_store``, which picks one from a URL.

memory                        in-process dict (default; lost on restart)
sqlite:///relative/path.db    SQLite file relative to the working directory (one host, any processes)
sqlite:////abs/path.db        SQLite file at an absolute path
redis://host:port/db          Redis shared by replicas (also rediss://, redis-py URL options)
redis+cluster://host:port     a Redis Cluster, by one or more nodes (also rediss+cluster://)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from jobs.store import JobStore
from specgate.core.redis_url import is_redis_url


async def open_store(url: str, *, lease_ttl_s: float = 10.0, clock: Callable[[], float] = time.time) -> JobStore:
    """Open the store named by ``url``.  Raises ``ValueError`` for an unknown or malformed URL.

    ``lease_ttl_s``: how long a process's lease lasts unrenewed (durable stores): a dead
    process's jobs are taken over that long after its last renewal.  ``clock`` is the registry's.
    """
    if url == "memory" or url == "memory://":
        from jobs.stores.memory import MemoryJobStore

        return MemoryJobStore()
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not path:
            raise ValueError(f"job store URL {url!r} has no file path (expected sqlite:///path/to/jobs.db)")
        from jobs.stores.sqlite import SqliteJobStore

        return await SqliteJobStore.open(path, lease_ttl_s=lease_ttl_s, clock=clock)
    if is_redis_url(url):
        from jobs.stores.redis import RedisJobStore

        return RedisJobStore.from_url(url, lease_ttl_s=lease_ttl_s, clock=clock)
    raise ValueError(
        f"unknown job store URL {url!r}: expected 'memory', 'sqlite:///path', 'redis://host:port/db' or 'redis+cluster://host:port'"
    )
