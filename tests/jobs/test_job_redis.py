"""Redis store with several replicas: shared records, leases, Redis TTLs, and a killed replica."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from jobs.handover import attempts_message
from jobs.model import JobOutcome, JobStatus
from jobs.stores.redis import RedisJobStore, shard_of
from tests.jobs.helpers import Gate, counting, eventually, registries, returning, wait_for_status, within

REPO = Path(__file__).resolve().parents[2]
MakeReplica = Callable[..., Any]


def job_key(job_id: str) -> str:
    return f"{{specgate:jobs:{shard_of(job_id):02d}}}:job:{job_id}"


def owner_key(job_id: str, owner: str) -> str:
    return f"{{specgate:jobs:{shard_of(job_id):02d}}}:owner:{owner}"


@pytest.fixture
async def make_replica(redis_url: str) -> AsyncIterator[MakeReplica]:
    """Factory: a started registry with its own Redis connection (one per replica), closed at teardown."""
    async with registries(lambda **kw: RedisJobStore.from_url(redis_url, **kw), max_running=8, max_queued=2000) as make:
        yield make


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_submit_on_one_replica_poll_on_another(make_replica: MakeReplica) -> None:
    a, b = await make_replica("rep_a"), await make_replica("rep_b")
    body = b'{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}]}'
    gate = Gate(outcome=JobOutcome(200, body))
    job = await a.submit("alice", gate, ttl_s=300, meta={"model": "m"})
    await within(gate.started.wait())
    seen = await b.get(job.id, "alice")
    assert seen is not None and seen.status == JobStatus.PROCESSING and seen.lease_owner == "rep_a"
    assert await b.get(job.id, "bob") is None
    gate.release.set()
    await within(a.wait_idle())
    done = await b.get(job.id, "alice")
    assert done is not None and done.status == JobStatus.COMPLETED and done.result == body
    assert done.meta == {"model": "m"} and done.expires_at == pytest.approx(done.completed_at + 300)
    assert [j.id for j in await b.list("alice")] == [job.id]


async def test_cancel_from_another_replica_discards_the_late_result(make_replica: MakeReplica) -> None:
    a, b = await make_replica("rep_a"), await make_replica("rep_b")
    gate = Gate()
    job = await a.submit("alice", gate)
    await within(gate.started.wait())
    canceled = await b.cancel(job.id, "alice")
    assert canceled is not None and canceled.status == JobStatus.CANCELED
    gate.release.set()  # replica A's work finishes afterwards; its compare-and-set must lose
    await within(a.wait_idle())
    stored = await a.get(job.id, "alice")
    assert stored is not None and stored.status == JobStatus.CANCELED and stored.result is None


async def test_job_canceled_elsewhere_while_queued_never_runs(make_replica: MakeReplica) -> None:
    a, b = await make_replica("rep_a", max_running=1), await make_replica("rep_b")
    blocker, victim = Gate(), Gate()
    await a.submit("alice", blocker)
    job = await a.submit("alice", victim)  # waits in replica A's in-process queue
    await within(blocker.started.wait())
    assert (await b.cancel(job.id, "alice")).status == JobStatus.CANCELED
    blocker.release.set()
    victim.release.set()
    await within(a.wait_idle())
    assert victim.calls == 0  # A dequeued it, saw it was no longer pending, and skipped it
    assert (await a.get(job.id, "alice")).status == JobStatus.CANCELED


async def test_renewed_lease_keeps_a_long_job_alive(make_replica: MakeReplica) -> None:
    a = await make_replica("rep_a", lease_ttl_s=0.4, lease_renew_interval_s=0.1)
    b = await make_replica("rep_b", lease_ttl_s=0.4, lease_renew_interval_s=0.1)
    gate = Gate()
    job = await a.submit("alice", gate)
    await within(gate.started.wait())
    await asyncio.sleep(1.2)  # three lease lifetimes
    assert (await b.get(job.id, "alice")).status == JobStatus.PROCESSING
    await b.sweep()
    assert (await b.get(job.id, "alice")).status == JobStatus.PROCESSING
    gate.release.set()
    await within(a.wait_idle())
    assert (await b.get(job.id, "alice")).status == JobStatus.COMPLETED


_DOOMED_REPLICA = """
import asyncio, sys
from jobs.model import JobOutcome
from jobs.registry import JobRegistry
from jobs.stores.redis import RedisJobStore

async def main() -> None:
    store = RedisJobStore.from_url(sys.argv[1], lease_ttl_s=0.5, lease_renew_interval_s=0.1)
    registry = JobRegistry(store, max_running=1, max_queued=5, replica_id="rep_doomed")
    await registry.start()
    started = asyncio.Event()

    async def forever() -> JobOutcome:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    running = await registry.submit("alice", forever)
    queued = await registry.submit("alice", forever)
    await started.wait()
    print(running.id, queued.id, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.parametrize("max_attempts", [2, 1])
async def test_killed_replica_jobs_are_taken_over_by_another(
    redis_url: str, make_replica: MakeReplica, raw_redis: aioredis.Redis, max_attempts: int
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DOOMED_REPLICA, redis_url, stdout=asyncio.subprocess.PIPE, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        running_id, queued_id = line.decode().split()
        b = await make_replica("rep_b", lease_ttl_s=0.5, lease_renew_interval_s=0.1, max_attempts=max_attempts)
        b.resume("message", lambda job: returning(JobOutcome(200, f'{{"resumed":"{job.id}"}}'.encode())))
        await asyncio.sleep(0.8)  # B renews and looks for orphans meanwhile: the doomed replica is alive
        alive = await b.get(running_id, "alice")
        assert alive is not None and alive.status == JobStatus.PROCESSING and alive.lease_owner == "rep_doomed"
        queued = await b.get(queued_id, "alice")
        assert queued is not None and queued.status == JobStatus.PENDING and queued.lease_owner == "rep_doomed"
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs in the replica
        await proc.wait()

    # nobody polls: replica B takes both over once the dead replica's lease has expired
    done = await wait_for_status(lambda: b.get(queued_id, "alice"), JobStatus.COMPLETED)
    assert done.result == f'{{"resumed":"{queued_id}"}}'.encode() and done.attempts == 1
    assert done.lease_owner == "rep_b"
    if max_attempts == 2:  # it had run once: run again
        rerun = await wait_for_status(lambda: b.get(running_id, "alice"), JobStatus.COMPLETED)
        assert rerun.attempts == 2 and rerun.result == f'{{"resumed":"{running_id}"}}'.encode()
    else:  # it had used its one attempt: failed, naming the attempts
        failed = await wait_for_status(lambda: b.get(running_id, "alice"), JobStatus.FAILED)
        assert failed.status_code == 500 and failed.result is not None
        assert json.loads(failed.result)["error"] == {"type": "api_error", "message": attempts_message(1)}
    assert 0 < await raw_redis.ttl(job_key(queued_id)) <= 3600


async def test_result_expiry_uses_redis_ttl_from_completion(
    make_replica: MakeReplica, raw_redis: aioredis.Redis
) -> None:
    a = await make_replica("rep_a")
    gate = Gate()
    job = await a.submit("alice", gate, ttl_s=1)
    key = job_key(job.id)
    await within(gate.started.wait())
    assert await raw_redis.ttl(key) == -1  # no expiry while running
    gate.release.set()
    await within(a.wait_idle())
    assert 0 < await raw_redis.pttl(key) <= 1000
    await eventually(lambda: raw_redis.exists(key), 0, timeout_s=5)
    assert await a.get(job.id, "alice") is None
    assert await a.list("alice") == []
    assert await raw_redis.zcard(owner_key(job.id, "alice")) == 0  # listing pruned the index


async def test_thousand_jobs_across_two_replicas(make_replica: MakeReplica) -> None:
    a = await make_replica("rep_a", max_running=50)
    b = await make_replica("rep_b", max_running=50)
    calls = [0] * 1000

    jobs = await asyncio.gather(*((a if i % 2 else b).submit("alice", counting(calls, i)) for i in range(1000)))
    await within(asyncio.gather(a.wait_idle(), b.wait_idle()))
    assert calls == [1] * 1000 and len({j.id for j in jobs}) == 1000
    for i, job in enumerate(jobs):
        done = await (b if i % 2 else a).get(job.id, "alice")  # read on the other replica
        assert done is not None and done.status == JobStatus.COMPLETED
        assert done.result == f'{{"n":{i}}}'.encode()
    assert sorted(j.id for j in await a.list("alice")) == sorted(j.id for j in jobs)


async def test_unknown_job_and_expired_index_entries(make_replica: MakeReplica) -> None:
    a = await make_replica("rep_a")
    assert await a.get("job_aaaaaaaaaaaaaaaaaaaaaaaaaa", "alice") is None
    assert await a.cancel("job_aaaaaaaaaaaaaaaaaaaaaaaaaa", "alice") is None
    job = await a.submit("alice", returning(JobOutcome(200, b"{}")))
    await within(a.wait_idle())
    assert (await a.get(job.id, "alice")).status == JobStatus.COMPLETED


async def test_jobs_of_the_layout_before_shards_are_moved_on_the_first_take_over(
    redis_url: str, raw_redis: aioredis.Redis, make_replica: MakeReplica
) -> None:
    """An upgrade: old keys (``specgate:jobs:job:<id>``) of a stopped process are moved and run;
    those of an old process still alive (its old lease key exists) are left where they are."""
    from jobs.model import Job
    from jobs.stores.redis_codec import encode as _encode

    def old(job_id: str, status: JobStatus, holder: str) -> Job:
        result = b'{"old":1}' if status == JobStatus.COMPLETED else None
        return Job(
            id=job_id,
            owner="alice",
            kind="message",
            status=status,
            created_at=1.0,
            result_ttl_s=600,
            lease_owner=holder,
            payload=b"{}",
            result=result,
        )

    ids = {"pending": "job_" + "a" * 26, "done": "job_" + "b" * 26, "alive": "job_" + "c" * 26}
    for name, status, holder in (
        ("pending", JobStatus.PENDING, "rep_old"),
        ("done", JobStatus.COMPLETED, "rep_old"),
        ("alive", JobStatus.PROCESSING, "rep_old_alive"),
    ):
        fields, _ = _encode(old(ids[name], status, holder))
        await raw_redis.hset(f"specgate:jobs:job:{ids[name]}", mapping=fields)
        await raw_redis.zadd("specgate:jobs:owner:alice", {ids[name]: 1.0})
    await raw_redis.zadd("specgate:jobs:active", {ids["pending"]: 1.0, ids["alive"]: 1.0})
    await raw_redis.set("specgate:jobs:lease:rep_old_alive", "rep_old_alive", px=60_000)

    b = await make_replica("rep_new")
    b.resume("message", lambda job: returning(JobOutcome(200, b'{"new":1}')))
    await b.take_over()
    done = await wait_for_status(lambda: b.get(ids["pending"], "alice"), JobStatus.COMPLETED)
    assert done.result == b'{"new":1}' and done.lease_owner == "rep_new"
    kept = await b.get(ids["done"], "alice")
    assert kept is not None and kept.status == JobStatus.COMPLETED and kept.result == b'{"old":1}'
    assert not await raw_redis.exists(f"specgate:jobs:job:{ids['pending']}", f"specgate:jobs:job:{ids['done']}")
    assert await raw_redis.exists(f"specgate:jobs:job:{ids['alive']}")  # its old process still runs it
    assert await b.get(ids["alive"], "alice") is None
