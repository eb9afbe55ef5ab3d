"""Moving a Redis job store written before shards into the sharded layout (``jobs.stores.redis``).

The layout before (one server only) kept every job at ``p:job:{id}`` with indexes ``p:active``,
``p:expiring``, ``p:owner:{owner}`` and leases ``p:lease:{replica}`` (``p`` = the prefix).  On its
first take-over a process of this version moves each old job whose holder's old lease key is gone
(the old process stopped) into the new layout -- active ones with no holder, so they are taken
over at once -- and deletes the old key; jobs of an old process still running stay where they are
until it stops (a later process start moves them).  Once no old job is left, the old indexes are
deleted, and later starts see that at once (every old job was in ``p:active`` or ``p:expiring``).
On a Redis Cluster there is nothing to move: the old layout did not run on one.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from jobs.model import ACTIVE, Job
from jobs.stores.redis_codec import decode

log = logging.getLogger("jobs.stores.redis")


async def migrate(r: Any, p: str, create: Callable[[Job], Awaitable[None]]) -> int:
    """Move the old layout's jobs under prefix ``p`` into the new one with ``create``; return how
    many were moved."""
    if not hasattr(r, "connection_pool"):  # RedisCluster: the old layout never ran on a cluster
        return 0
    if not await r.exists(f"{p}:active", f"{p}:expiring"):  # every old job was in one: none left, no SCAN
        return 0
    moved = left = 0
    async for raw_key in r.scan_iter(match=f"{_glob(p)}:job:*", count=500):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        raw = await r.hgetall(key)
        if not raw:
            continue
        job = decode([x for kv in raw.items() for x in kv])
        if job.status in ACTIVE and job.lease_owner and await r.exists(f"{p}:lease:{job.lease_owner}"):
            left += 1  # its old process is alive: moved after it stops
            continue
        if job.status in ACTIVE:
            job = dataclasses.replace(job, lease_owner=None)
        ttl = await r.ttl(key)
        if job.status in ACTIVE or ttl != -2:
            await create(job)
        await r.delete(key)
        await r.zrem(f"{p}:owner:{job.owner}", job.id)
        moved += 1
    if left == 0:
        stale = [f"{p}:active", f"{p}:expiring"]
        async for raw_key in r.scan_iter(match=f"{_glob(p)}:owner:*", count=500):
            stale.append(raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key))
        await r.delete(*stale)
    if moved or left:
        log.warning(
            "redis job store: moved %d job(s) from the layout before shards; %d left to a running old process",
            moved,
            left,
        )
    return moved


def _glob(text: str) -> str:
    """``text`` with the glob characters of SCAN MATCH escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
