"""Redis ``JobStore`` shared by several gateway replicas: one server (``redis://host:port/db``)
or a Redis Cluster (``redis+cluster://host:port``, see ``specgate.core.redis_url``).

Jobs are spread over ``SHARDS`` shards by their id (CRC-32); every key of a shard carries the
shard's hash tag ``{p:NN}`` (``p`` = ``prefix``, default ``specgate:jobs``), so each Lua script,
which touches one job and its shard's indexes, runs on one cluster slot, while one owner's or one
replica's jobs are spread over 16 slots (and so over the cluster's nodes).  Per shard ``T``:

    T:job:{id}              hash, one field per ``Job`` field (absent = None); Redis TTL set to
                            ``result_ttl_s`` when the job reaches a terminal status
    T:owner:{owner}         sorted set of the owner's job ids, scored by created_at (for listing)
    T:held:{kind}:{replica} sorted set of the active jobs a replica holds, scored by created_at
    T:free:{kind}           sorted set of the active jobs nobody holds (handed back at shutdown)
    T:leases                sorted set of replicas scored by lease expiry (server clock, ms); 0
                            for a released lease or a holder that never took one
    T:expiring              sorted set of "{id}|{owner}" scored by expires_at (for the sweep)
    T:kinds                 set of the kinds of jobs ever held (for pruning ``leases``)

A job records the replica holding it (queued or running there) in ``lease_owner``.  Writes are
Lua compare-and-sets on ``status`` (and on ``lease_owner`` when the writer names itself the
holder) that also move the job between the held/free indexes.  ``take_over`` reads each shard's
expired leases (``ZRANGEBYSCORE``), then the oldest jobs those replicas held and the free ones,
and claims them in one script per (shard, source), which checks the lease is still expired: the
work is proportional to the jobs taken over, not to all active jobs.  One lease per replica and
shard (rather than per job) keeps renewal at ``SHARDS`` writes however many jobs run.
Keys of the layout before shards (``p:job:{id}``, ``p:active``, ...) are moved into it by
``jobs.stores.redis_legacy`` on the first take-over.
A connection failure or timeout is ``StoreUnavailableError`` (the gateway answers 503).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import time
import zlib
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

from redis.exceptions import ClusterError, CrossSlotTransactionError, InvalidPipelineStack, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs.errors import StoreUnavailableError
from jobs.model import TERMINAL, Job
from jobs.store import JobExistsError, JobStore
from jobs.stores import redis_legacy, redis_scripts
from jobs.stores.redis_codec import decode as _decode
from jobs.stores.redis_codec import encode as _encode
from specgate.core.redis_scripts import Scripts
from specgate.core.redis_url import connect

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def _texts(reply: Any) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in reply]


def _guarded(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis unreachable or timing out is ``StoreUnavailableError``; the cause is logged here."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, ClusterError, RedisClusterException) as exc:
            if isinstance(exc, CrossSlotTransactionError | InvalidPipelineStack):  # a bug, not an outage
                raise
            log.warning("redis job store: %s: %s", type(exc).__name__, exc)  # a cluster: down, or no node reachable
            raise StoreUnavailableError("redis") from exc

    return call


class RedisJobStore(JobStore):
    kind = "redis"

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "specgate:jobs",
        lease_ttl_s: float = 10.0,
        lease_renew_interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``client``: ``redis.asyncio.Redis`` or ``RedisCluster``."""
        renew = lease_ttl_s / 3 if lease_renew_interval_s is None else lease_renew_interval_s
        if not 0 < renew < lease_ttl_s:
            raise ValueError("lease_renew_interval_s must be positive and shorter than lease_ttl_s")
        self._r = client
        self._p = prefix
        self._lease_ms = max(1, int(lease_ttl_s * 1000))
        self.lease_ttl_s = lease_ttl_s
        self.lease_renew_interval_s = renew
        self._clock = clock
        self._scripts = Scripts(client)
        self._legacy_checked = False

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 32, **kwargs: Any) -> RedisJobStore:
        """Connect lazily to ``url``.  Callers beyond ``max_connections`` wait for a free
        connection instead of failing (a burst of submits must not raise "Too many connections"),
        on a cluster too (``specgate.core.redis_cluster``)."""
        client = connect(url, max_connections=max_connections, timeout=20, decode_responses=False, socket_timeout=5)
        return cls(client, **kwargs)

    # -- keys ----------------------------------------------------------------------------------

    def _tag(self, shard: int) -> str:
        return "{" + f"{self._p}:{shard:02d}" + "}"

    def _job_key(self, job_id: str) -> str:
        return f"{self._tag(shard_of(job_id))}:job:{job_id}"

    def _index(self, shard: int, kind: str, holder: str | None) -> str:
        tag = self._tag(shard)
        return f"{tag}:free:{kind}" if holder is None else f"{tag}:held:{kind}:{holder}"

    # -- records -------------------------------------------------------------------------------

    async def _store(self, job: Job, mode: str, expect: Collection[str] | None, holder: str | None) -> bool:
        present, absent = _encode(job)
        terminal = job.status in TERMINAL
        expires_at = job.expires_at
        if terminal and expires_at is None:
            expires_at = (job.completed_at or job.created_at) + job.result_ttl_s
        pairs: list[str | bytes] = [item for kv in present.items() for item in kv]
        shard, tag = shard_of(job.id), self._tag(shard_of(job.id))
        new_index = self._index(shard, job.kind, job.lease_owner)
        # the holder the record has now: the writer's own name, else the one the caller read
        was: str | None = job.lease_owner if mode == "create" else holder or job.lease_owner
        for _ in range(5):
            keys = [
                self._job_key(job.id),
                f"{tag}:owner:{job.owner}",
                f"{tag}:expiring",
                f"{tag}:leases",
                new_index if mode == "create" else self._index(shard, job.kind, was),
                new_index,
                f"{tag}:kinds",
            ]
            args: list[str | bytes] = [
                mode,
                "" if expect is None else "," + ",".join(str(s) for s in expect) + ",",
                holder or "",
                job.id,
                repr(job.created_at),
                str(max(1, job.result_ttl_s)),
                repr(expires_at) if terminal else "",
                f"{job.id}|{job.owner}",
                was or "",
                job.lease_owner or "",
                job.kind,
                str(len(present)),
                *pairs,
                *absent,
            ]
            written = int(await self._scripts.run(redis_scripts.WRITE, keys, args))
            if written >= 0:
                return written == 1
            was = _text_or_none(await self._r.hget(self._job_key(job.id), "lease_owner"))
        return False  # the holder changed under every try: someone else is writing it

    @_guarded
    async def create(self, job: Job) -> None:
        if not await self._store(job, "create", None, None):
            raise JobExistsError(job.id)

    @_guarded
    async def update(self, job: Job, *, expect: Collection[str] | None = None, holder: str | None = None) -> bool:
        if expect is not None and not list(expect):
            return False
        return await self._store(job, "update", expect, holder)

    async def _get_many(self, job_ids: Sequence[str]) -> list[Job | None]:
        if not job_ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self._job_key(job_id))
            replies = await pipe.execute()
        return [_decode([x for kv in r.items() for x in kv]) if r else None for r in replies]

    @_guarded
    async def get(self, job_id: str) -> Job | None:
        raw: Any = await self._r.hgetall(self._job_key(job_id))
        return _decode([x for kv in raw.items() for x in kv]) if raw else None

    @_guarded
    async def delete(self, job_id: str) -> bool:
        key = self._job_key(job_id)
        shard, tag = shard_of(job_id), self._tag(shard_of(job_id))
        for _ in range(5):
            owner, kind, holder = await self._r.hmget(key, ["owner", "kind", "lease_owner"])
            if owner is None:
                return False
            owner, kind, lease_owner = owner.decode(), kind.decode(), _text_or_none(holder)
            keys = [key, f"{tag}:owner:{owner}", f"{tag}:expiring", self._index(shard, kind, lease_owner)]
            done = int(await self._scripts.run(redis_scripts.DELETE, keys, [job_id, owner, lease_owner or ""]))
            if done >= 0:
                return done == 1
        return False

    @_guarded
    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        per_shard = await asyncio.gather(
            *(self._r.zrange(f"{self._tag(s)}:owner:{owner}", 0, -1, withscores=True) for s in range(SHARDS))
        )
        ids = [_text(m) for m, _ in heapq.merge(*per_shard, key=lambda pair: float(pair[1]))]  # oldest first
        found = await self._get_many(ids)
        gone = [job_id for job_id, job in zip(ids, found, strict=True) if job is None]
        for job_id in gone:
            await self._r.zrem(f"{self._tag(shard_of(job_id))}:owner:{owner}", job_id)
        jobs = [job for job in found if job is not None]
        return [j for j in jobs if kind is None or j.kind == kind]

    @_guarded
    async def delete_expired(self, now: float) -> int:
        counts = await asyncio.gather(*(self._delete_expired(shard, now) for shard in range(SHARDS)))
        return sum(counts)

    async def _delete_expired(self, shard: int, now: float) -> int:
        expiring = f"{self._tag(shard)}:expiring"
        members = _texts(await self._r.zrangebyscore(expiring, "-inf", now))
        deleted = 0
        for start in range(0, len(members), 500):
            async with self._r.pipeline(transaction=False) as pipe:
                for member in members[start : start + 500]:
                    job_id, owner = member.split("|", 1)
                    pipe.delete(self._job_key(job_id))
                    pipe.zrem(f"{self._tag(shard)}:owner:{owner}", job_id)
                    pipe.zrem(expiring, member)
                replies = await pipe.execute()
            deleted += sum(int(r) for r in replies[0::3])
        return deleted

    # -- leases and take-over ------------------------------------------------------------------

    @_guarded
    async def take_over(self, replica_id: str, kinds: Collection[str], now: float, limit: int) -> list[Job]:
        wanted = sorted(set(kinds))
        if not wanted or limit < 1:
            return []
        if not self._legacy_checked:
            await redis_legacy.migrate(self._r, self._p, self._create_moved)
            self._legacy_checked = True
        found = await asyncio.gather(*(self._candidates(shard, wanted, limit) for shard in range(SHARDS)))
        oldest = heapq.nsmallest(limit, itertools.chain.from_iterable(found))
        groups: dict[tuple[int, str, str], list[str]] = {}
        for _, shard, kind, dead, job_id in oldest:
            groups.setdefault((shard, kind, dead), []).append(job_id)
        claimed = await asyncio.gather(
            *(self._claim_group(shard, kind, dead, ids, replica_id) for (shard, kind, dead), ids in groups.items())
        )
        return sorted(itertools.chain.from_iterable(claimed), key=lambda job: job.created_at)

    async def _create_moved(self, job: Job) -> None:
        await self._store(job, "create", None, None)  # False: moved by another process meanwhile

    async def _candidates(self, shard: int, kinds: list[str], limit: int) -> list[tuple[float, int, str, str, str]]:
        """(created_at, shard, kind, holder or "", id) of the shard's oldest jobs up for take-over."""
        leases = f"{self._tag(shard)}:leases"
        dead = _texts(await self._scripts.run(redis_scripts.DEAD, [leases], [256]))
        sources = [(kind, holder) for kind in kinds for holder in ["", *dead]]
        ranges = await asyncio.gather(
            *(self._r.zrange(self._index(shard, k, h or None), 0, limit - 1, withscores=True) for k, h in sources)
        )
        out = [
            (float(score), shard, kind, holder, _text(member))
            for (kind, holder), entries in zip(sources, ranges, strict=True)
            for member, score in entries
        ]
        empty = {h for h in dead} - {h for _, _, _, h, _ in out}
        if empty:
            await self._prune(shard, empty)
        return out

    async def _prune(self, shard: int, replicas: Collection[str]) -> None:
        """Forget dead replicas that hold nothing of any kind (a later write naming one adds it again)."""
        tag = self._tag(shard)
        kinds = _texts(await self._r.smembers(f"{tag}:kinds"))
        for replica in replicas:
            if not kinds or not await self._r.exists(*(self._index(shard, k, replica) for k in kinds)):
                await self._r.zrem(f"{tag}:leases", replica)

    async def _claim_group(self, shard: int, kind: str, dead: str, ids: list[str], taker: str) -> list[Job]:
        keys = [
            f"{self._tag(shard)}:leases",
            self._index(shard, kind, dead or None),
            self._index(shard, kind, taker),
            *(self._job_key(job_id) for job_id in ids),
        ]
        replies = await self._scripts.run(redis_scripts.CLAIM, keys, [dead, taker, kind, *ids])
        return [_decode(r) for r in replies]

    @_guarded
    async def renew_lease(self, replica_id: str) -> None:
        await asyncio.gather(
            *(
                self._scripts.run(redis_scripts.RENEW, [f"{self._tag(s)}:leases"], [replica_id, self._lease_ms])
                for s in range(SHARDS)
            )
        )

    @_guarded
    async def release_lease(self, replica_id: str) -> None:
        await asyncio.gather(*(self._r.zadd(f"{self._tag(s)}:leases", {replica_id: 0}) for s in range(SHARDS)))

    async def close(self) -> None:
        await self._r.aclose()


SHARDS = 16


def shard_of(job_id: str) -> int:
    return zlib.crc32(job_id.encode()) % SHARDS


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)
