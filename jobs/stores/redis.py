"""Redis ``JobStore`` shared by several gateway replicas (``redis://host:port/db``).

Layout under ``prefix`` (default ``specgate:jobs``):

    {p}:job:{id}        hash, one field per ``Job`` field (absent = None); Redis TTL set to
                        ``result_ttl_s`` when the job reaches a terminal status
    {p}:owner:{owner}   sorted set of the owner's job ids, scored by created_at (for listing)
    {p}:active          sorted set of pending/processing job ids (for orphan detection)
    {p}:expiring        sorted set of "{id}|{owner}" scored by expires_at (for the sweep)
    {p}:lease:{replica} string with a TTL of ``lease_ttl_s``; the replica renews it every
                        ``lease_renew_interval_s`` while it lives

A job records the replica holding it (queued or running there) in ``lease_owner``.  Writes are
Lua compare-and-sets on ``status`` (and on ``lease_owner`` when the writer names itself the
holder).  ``take_over`` walks the active set and, per job in one Lua script, makes the caller the
holder of a job whose holder's lease key has expired, so exactly one live replica gets it.
One lease per replica (rather than per job) keeps renewal O(1) however many jobs run, and Redis
key TTLs use the server's clock, so replicas' clocks need not agree.  The scripts touch lease
and owner keys they compute themselves, so this targets standalone Redis, not Redis Cluster.
A connection failure or timeout is ``StoreUnavailableError`` (the gateway answers 503).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs.errors import StoreUnavailableError
from jobs.model import JOB_FIELDS, TERMINAL, Job, JobStatus
from jobs.store import JobExistsError, JobStore

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

_FIELDS = JOB_FIELDS

# KEYS: job, owner index, active, expiring.
# ARGV: mode (create|update), expected statuses as ",a,b," ("" = any), holder ("" = any), id,
#       created_at, ttl, expires_at ("" while active), expiring member, n, n field/value pairs,
#       fields to delete.
_WRITE = """
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[1] == 'create' then
  if exists then return 0 end
else
  if not exists then return 0 end
  if ARGV[2] ~= '' then
    local st = redis.call('HGET', KEYS[1], 'status')
    if not st or not string.find(ARGV[2], ',' .. st .. ',', 1, true) then return 0 end
  end
  if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'lease_owner') ~= ARGV[3] then return 0 end
end
local n = tonumber(ARGV[9])
local set = {}
for i = 10, 9 + 2 * n do set[#set + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(set))
local del = {}
for i = 10 + 2 * n, #ARGV do del[#del + 1] = ARGV[i] end
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
if ARGV[1] == 'create' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
if ARGV[7] == '' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  redis.call('PERSIST', KEYS[1])
else
  redis.call('ZREM', KEYS[3], ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[8])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 1
"""

# KEYS: job, active.  ARGV: lease key prefix, taker, kinds as ",a,b,", id.
# Returns the job (HGETALL) now held by the taker, or {} when it is not up for take-over.
_CLAIM = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {}
end
if st ~= 'pending' and st ~= 'processing' then return {} end
local kind = redis.call('HGET', KEYS[1], 'kind')
if not string.find(ARGV[3], ',' .. kind .. ',', 1, true) then return {} end
local lo = redis.call('HGET', KEYS[1], 'lease_owner')
if lo and redis.call('EXISTS', ARGV[1] .. lo) == 1 then return {} end
redis.call('HSET', KEYS[1], 'lease_owner', ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: job, active, expiring.  ARGV: id, owner index prefix.
_DELETE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[2] .. owner, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1] .. '|' .. owner)
return 1
"""


def _encode(job: Job) -> tuple[dict[str, str | bytes], list[str]]:
    values: dict[str, Any] = {
        "id": job.id,
        "owner": job.owner,
        "kind": job.kind,
        "status": job.status.value,
        "created_at": repr(job.created_at),
        "result_ttl_s": str(job.result_ttl_s),
        "started_at": None if job.started_at is None else repr(job.started_at),
        "completed_at": None if job.completed_at is None else repr(job.completed_at),
        "expires_at": None if job.expires_at is None else repr(job.expires_at),
        "status_code": None if job.status_code is None else str(job.status_code),
        "result": job.result,
        "content_type": job.content_type,
        "meta": json.dumps(job.meta),
        "lease_owner": job.lease_owner,
        "attempts": str(job.attempts),
        "payload": job.payload,
    }
    present = {k: v for k, v in values.items() if v is not None}
    return present, [k for k in _FIELDS if k not in present]


def _decode(flat: Sequence[bytes]) -> Job:
    raw = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    def text(name: str) -> str | None:
        value = raw.get(name)
        return None if value is None else value.decode()

    def num(name: str) -> float | None:
        value = text(name)
        return None if value is None else float(value)

    status_code = text("status_code")
    return Job(
        id=raw["id"].decode(),
        owner=raw["owner"].decode(),
        kind=raw["kind"].decode(),
        status=JobStatus(raw["status"].decode()),
        created_at=float(raw["created_at"]),
        result_ttl_s=int(raw["result_ttl_s"]),
        started_at=num("started_at"),
        completed_at=num("completed_at"),
        expires_at=num("expires_at"),
        status_code=None if status_code is None else int(status_code),
        result=raw.get("result"),
        content_type=text("content_type") or "application/json",
        meta=json.loads(raw.get("meta", b"{}")),
        lease_owner=text("lease_owner"),
        attempts=int(text("attempts") or 0),
        payload=raw.get("payload"),
    )


def _texts(reply: Any) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in reply]


def _guarded(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis unreachable or timing out is ``StoreUnavailableError``; the cause is logged here."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("redis job store: %s: %s", type(exc).__name__, exc)
            raise StoreUnavailableError("redis") from exc

    return call


class RedisJobStore(JobStore):
    kind = "redis"

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "specgate:jobs",
        lease_ttl_s: float = 10.0,
        lease_renew_interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        renew = lease_ttl_s / 3 if lease_renew_interval_s is None else lease_renew_interval_s
        if not 0 < renew < lease_ttl_s:
            raise ValueError("lease_renew_interval_s must be positive and shorter than lease_ttl_s")
        self._r = client
        self._p = prefix
        self._lease_ms = max(1, int(lease_ttl_s * 1000))
        self.lease_ttl_s = lease_ttl_s
        self.lease_renew_interval_s = renew
        self._clock = clock
        self._write = client.register_script(_WRITE)
        self._claim = client.register_script(_CLAIM)
        self._delete = client.register_script(_DELETE)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 32, **kwargs: Any) -> RedisJobStore:
        """Connect lazily to ``url``.  Callers beyond ``max_connections`` wait for a free
        connection instead of failing (a burst of submits must not raise "Too many connections")."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=20, decode_responses=False, socket_timeout=5
        )
        return cls(aioredis.Redis.from_pool(pool), **kwargs)

    def _job_key(self, job_id: str) -> str:
        return f"{self._p}:job:{job_id}"

    def _owner_key(self, owner: str) -> str:
        return f"{self._p}:owner:{owner}"

    async def _store(self, job: Job, mode: str, expect: Collection[str] | None, holder: str | None) -> bool:
        present, absent = _encode(job)
        terminal = job.status in TERMINAL
        expires_at = job.expires_at
        if terminal and expires_at is None:
            expires_at = (job.completed_at or job.created_at) + job.result_ttl_s
        pairs: list[str | bytes] = [item for kv in present.items() for item in kv]
        args: list[str | bytes] = [
            mode,
            "" if expect is None else "," + ",".join(str(s) for s in expect) + ",",
            holder or "",
            job.id,
            repr(job.created_at),
            str(max(1, job.result_ttl_s)),
            repr(expires_at) if terminal else "",
            f"{job.id}|{job.owner}",
            str(len(present)),
            *pairs,
            *absent,
        ]
        keys = [self._job_key(job.id), self._owner_key(job.owner), f"{self._p}:active", f"{self._p}:expiring"]
        return bool(await self._write(keys=keys, args=args))

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
        keys = [self._job_key(job_id), f"{self._p}:active", f"{self._p}:expiring"]
        return bool(await self._delete(keys=keys, args=[job_id, f"{self._p}:owner:"]))

    @_guarded
    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        index = self._owner_key(owner)
        ids = _texts(await self._r.zrange(index, 0, -1))
        found = await self._get_many(ids)
        gone = [job_id for job_id, job in zip(ids, found, strict=True) if job is None]
        if gone:
            await self._r.zrem(index, *gone)
        jobs = [job for job in found if job is not None]
        return [j for j in jobs if kind is None or j.kind == kind]

    @_guarded
    async def delete_expired(self, now: float) -> int:
        members = _texts(await self._r.zrangebyscore(f"{self._p}:expiring", "-inf", now))
        deleted = 0
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            async with self._r.pipeline(transaction=False) as pipe:
                for member in chunk:
                    job_id, owner = member.split("|", 1)
                    pipe.delete(self._job_key(job_id))
                    pipe.zrem(self._owner_key(owner), job_id)
                    pipe.zrem(f"{self._p}:expiring", member)
                replies = await pipe.execute()
            deleted += sum(int(r) for r in replies[0::3])
        return deleted

    @_guarded
    async def take_over(self, replica_id: str, kinds: Collection[str], now: float, limit: int) -> list[Job]:
        wanted = "," + ",".join(kinds) + ","
        if wanted == ",," or limit < 1:
            return []
        ids = _texts(await self._r.zrange(f"{self._p}:active", 0, -1))  # oldest first
        taken: list[Job] = []
        for start in range(0, len(ids), 200):
            async with self._r.pipeline(transaction=False) as pipe:
                for job_id in ids[start : start + 200]:
                    keys = [self._job_key(job_id), f"{self._p}:active"]
                    args = [f"{self._p}:lease:", replica_id, wanted, job_id]
                    await self._claim(keys=keys, args=args, client=pipe)
                replies = await pipe.execute()
            taken.extend(_decode(r) for r in replies if r)
            if len(taken) >= limit:
                break
        extra = taken[limit:]
        for job in extra:  # claimed past the limit: let them go again at once
            await self._store(dataclasses.replace(job, lease_owner=None), "update", None, replica_id)
        return taken[:limit]

    @_guarded
    async def renew_lease(self, replica_id: str) -> None:
        await self._r.set(f"{self._p}:lease:{replica_id}", replica_id, px=self._lease_ms)

    @_guarded
    async def release_lease(self, replica_id: str) -> None:
        await self._r.delete(f"{self._p}:lease:{replica_id}")

    async def close(self) -> None:
        await self._r.aclose()
