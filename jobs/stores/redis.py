"""Redis ``JobStore`` shared by several gateway replicas (``redis://host:port/db``).

Layout under ``prefix`` (default ``specgate:jobs``):

    {p}:job:{id}        hash, one field per ``Job`` field (absent = None); Redis TTL set to
                        ``result_ttl_s`` when the job reaches a terminal status
    {p}:owner:{owner}   sorted set of the owner's job ids, scored by created_at (for listing)
    {p}:active          sorted set of pending/processing job ids (for orphan detection)
    {p}:expiring        sorted set of "{id}|{owner}" scored by expires_at (for the sweep)
    {p}:lease:{replica} string with a TTL of ``lease_ttl_s``; the replica renews it every
                        ``lease_renew_interval_s`` while it lives

A job records the replica running it in ``lease_owner``.  Every read goes through a Lua script
that, atomically, fails an active job whose replica's lease key has expired
("job's replica stopped before finishing").  Writes are Lua compare-and-sets on ``status``.
One lease per replica (rather than per job) keeps renewal O(1) however many jobs run, and Redis
key TTLs use the server's clock, so replicas' clocks need not agree.  The scripts touch lease
and owner keys they compute themselves, so this targets standalone Redis, not Redis Cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import redis.asyncio as aioredis

from jobs.model import ACTIVE, JOB_FIELDS, TERMINAL, Job, JobStatus, api_error_body
from jobs.store import REPLICA_STOPPED, JobExistsError, JobStore

_FIELDS = JOB_FIELDS

# KEYS: job, owner index, active, expiring.
# ARGV: mode (create|update), expected statuses as ",a,b," ("" = any), id, created_at, ttl,
#       expires_at ("" while active), expiring member, n, n field/value pairs, fields to delete.
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
end
local n = tonumber(ARGV[8])
local set = {}
for i = 9, 8 + 2 * n do set[#set + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(set))
local del = {}
for i = 9 + 2 * n, #ARGV do del[#del + 1] = ARGV[i] end
if #del > 0 then redis.call('HDEL', KEYS[1], unpack(del)) end
if ARGV[1] == 'create' then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3]) end
if ARGV[6] == '' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  redis.call('PERSIST', KEYS[1])
else
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
return 1
"""

# KEYS: job, active, expiring.  ARGV: lease key prefix, now, failure body, id.
# Returns {marked (0|1), HGETALL} or {0} when the job is gone.
_READ = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return {0}
end
local marked = 0
if st == 'pending' or st == 'processing' then
  local lo = redis.call('HGET', KEYS[1], 'lease_owner')
  if lo and redis.call('EXISTS', ARGV[1] .. lo) == 0 then
    local ttl = tonumber(redis.call('HGET', KEYS[1], 'result_ttl_s'))
    local exp = string.format('%.6f', tonumber(ARGV[2]) + ttl)
    redis.call('HSET', KEYS[1], 'status', 'failed', 'status_code', '500', 'result', ARGV[3],
      'content_type', 'application/json', 'completed_at', ARGV[2], 'expires_at', exp)
    redis.call('ZREM', KEYS[2], ARGV[4])
    redis.call('ZADD', KEYS[3], exp, ARGV[4] .. '|' .. redis.call('HGET', KEYS[1], 'owner'))
    redis.call('EXPIRE', KEYS[1], ttl)
    marked = 1
  end
end
return {marked, redis.call('HGETALL', KEYS[1])}
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
    )


def _texts(reply: Any) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else str(m) for m in reply]


class RedisJobStore(JobStore):
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "specgate:jobs",
        lease_ttl_s: float = 10.0,
        lease_renew_interval_s: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lease_renew_interval_s < lease_ttl_s:
            raise ValueError("lease_renew_interval_s must be positive and shorter than lease_ttl_s")
        self._r = client
        self._p = prefix
        self._lease_ms = max(1, int(lease_ttl_s * 1000))
        self.lease_renew_interval_s = lease_renew_interval_s
        self._clock = clock
        self._write = client.register_script(_WRITE)
        self._read = client.register_script(_READ)
        self._delete = client.register_script(_DELETE)
        self._failure_body = api_error_body(REPLICA_STOPPED)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 32, **kwargs: Any) -> RedisJobStore:
        """Connect lazily to ``url``.  Callers beyond ``max_connections`` wait for a free
        connection instead of failing (a burst of submits must not raise "Too many connections")."""
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=20, decode_responses=False
        )
        return cls(aioredis.Redis.from_pool(pool), **kwargs)

    def _job_key(self, job_id: str) -> str:
        return f"{self._p}:job:{job_id}"

    def _owner_key(self, owner: str) -> str:
        return f"{self._p}:owner:{owner}"

    async def _store(self, job: Job, mode: str, expect: Collection[str] | None) -> bool:
        present, absent = _encode(job)
        terminal = job.status in TERMINAL
        expires_at = job.expires_at
        if terminal and expires_at is None:
            expires_at = (job.completed_at or job.created_at) + job.result_ttl_s
        pairs: list[str | bytes] = [item for kv in present.items() for item in kv]
        args: list[str | bytes] = [
            mode,
            "" if expect is None else "," + ",".join(str(s) for s in expect) + ",",
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

    async def create(self, job: Job) -> None:
        if not await self._store(job, "create", None):
            raise JobExistsError(job.id)

    async def update(self, job: Job, *, expect: Collection[str] | None = None) -> bool:
        if expect is not None and not list(expect):
            return False
        return await self._store(job, "update", expect)

    def _read_call(self, job_id: str, client: Any, now: float) -> Any:
        keys = [self._job_key(job_id), f"{self._p}:active", f"{self._p}:expiring"]
        args: list[str | bytes] = [f"{self._p}:lease:", repr(now), self._failure_body, job_id]
        return self._read(keys=keys, args=args, client=client)

    async def _read_many(self, job_ids: Sequence[str], now: float) -> list[tuple[bool, Job | None]]:
        if not job_ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                await self._read_call(job_id, pipe, now)
            replies = await pipe.execute()
        return [(bool(r[0]), _decode(r[1]) if len(r) > 1 else None) for r in replies]

    async def get(self, job_id: str) -> Job | None:
        reply = await self._read_call(job_id, None, self._clock())
        return _decode(reply[1]) if len(reply) > 1 else None

    async def delete(self, job_id: str) -> bool:
        keys = [self._job_key(job_id), f"{self._p}:active", f"{self._p}:expiring"]
        return bool(await self._delete(keys=keys, args=[job_id, f"{self._p}:owner:"]))

    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        index = self._owner_key(owner)
        ids = _texts(await self._r.zrange(index, 0, -1))
        results = await self._read_many(ids, self._clock())
        gone = [job_id for job_id, (_, job) in zip(ids, results, strict=True) if job is None]
        if gone:
            await self._r.zrem(index, *gone)
        jobs = [job for _, job in results if job is not None]
        return [j for j in jobs if kind is None or j.kind == kind]

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

    async def mark_interrupted(self, now: float) -> int:
        """Fail active jobs whose replica's lease has expired (safe while other replicas run)."""
        ids = _texts(await self._r.zrange(f"{self._p}:active", 0, -1))
        results = await self._read_many(ids, now)
        return sum(1 for marked, job in results if marked and job is not None and job.status not in ACTIVE)

    async def renew_lease(self, replica_id: str) -> None:
        await self._r.set(f"{self._p}:lease:{replica_id}", replica_id, px=self._lease_ms)

    async def release_lease(self, replica_id: str) -> None:
        await self._r.delete(f"{self._p}:lease:{replica_id}")

    async def close(self) -> None:
        await self._r.aclose()
