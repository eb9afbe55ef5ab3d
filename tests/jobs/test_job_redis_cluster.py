"""The Redis job store on a real three-node Redis Cluster: shared records, take-over of a killed
replica's jobs, and jobs spread over the nodes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from jobs.model import JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores import open_store
from jobs.stores.redis import SHARDS, RedisJobStore
from tests.fakes.redis_cluster import RedisCluster as Cluster
from tests.jobs.helpers import Gate, counting, registries, returning, wait_for_status, within

REPO = Path(__file__).resolve().parents[2]
MakeReplica = Callable[..., Any]


@pytest.fixture
async def make_replica(redis_cluster_url: str) -> AsyncIterator[MakeReplica]:
    async with registries(
        lambda **kw: RedisJobStore.from_url(redis_cluster_url, **kw), max_running=8, max_queued=2000
    ) as make:
        yield make


async def test_open_store_reads_a_cluster_url(redis_cluster_url: str) -> None:
    store = await open_store(redis_cluster_url)
    try:
        assert isinstance(store, RedisJobStore) and isinstance(store._r, RedisCluster)
    finally:
        await store.close()


async def test_submit_poll_complete_and_cancel_across_replicas(
    make_replica: MakeReplica, redis_cluster: Cluster
) -> None:
    a, b = await make_replica("rep_a"), await make_replica("rep_b")
    gate = Gate(outcome=JobOutcome(200, b'{"ok":true}'))
    job = await a.submit("alice", gate, ttl_s=300, meta={"model": "m"})
    await within(gate.started.wait())
    seen = await b.get(job.id, "alice")
    assert seen is not None and seen.status == JobStatus.PROCESSING and seen.lease_owner == "rep_a"
    gate.release.set()
    await within(a.wait_idle())
    done = await b.get(job.id, "alice")
    assert done is not None and done.status == JobStatus.COMPLETED and done.result == b'{"ok":true}'
    other = Gate()
    victim = await a.submit("alice", other)
    await within(other.started.wait())
    assert (await b.cancel(victim.id, "alice")).status == JobStatus.CANCELED
    other.release.set()
    await within(a.wait_idle())
    assert (await a.get(victim.id, "alice")).status == JobStatus.CANCELED  # A's late result lost the CAS
    calls = [0] * 200
    jobs = await asyncio.gather(*((a if i % 2 else b).submit("alice", counting(calls, i)) for i in range(200)))
    await within(asyncio.gather(a.wait_idle(), b.wait_idle()))
    assert calls == [1] * 200
    listed = [j.id for j in await b.list("alice")]
    assert listed == [job.id, victim.id, *(j.id for j in jobs)]  # oldest first across the shards
    # one owner's jobs are not in one slot: every node holds some of them
    per_node = []
    for port in redis_cluster.ports:
        with redis.Redis(port=port) as node:
            per_node.append(node.dbsize())
    assert all(n > 0 for n in per_node), per_node


_DOOMED_REPLICA = """
import asyncio, sys
from jobs.registry import JobRegistry
from jobs.stores.redis import RedisJobStore

async def main() -> None:
    store = RedisJobStore.from_url(sys.argv[1], lease_ttl_s=0.5, lease_renew_interval_s=0.1)
    registry = JobRegistry(store, max_running=1, max_queued=40, replica_id="rep_doomed")
    await registry.start()
    started = asyncio.Event()

    async def forever():
        started.set()
        await asyncio.Event().wait()

    running = await registry.submit("alice", forever)
    queued = [await registry.submit("alice", forever) for _ in range(int(sys.argv[2]))]
    await started.wait()
    print(running.id, *(job.id for job in queued), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_replicas_jobs_are_taken_over_once_its_lease_expires(
    redis_cluster_url: str, make_replica: MakeReplica
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DOOMED_REPLICA, redis_cluster_url, "30", stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        running_id, *queued_ids = line.decode().split()
        b = await make_replica("rep_b", lease_ttl_s=0.5, lease_renew_interval_s=0.1)
        b.resume("message", lambda job: returning(JobOutcome(200, f'{{"resumed":"{job.id}"}}'.encode())))
        await asyncio.sleep(0.8)  # the doomed replica is alive: B takes nothing
        assert (await b.get(running_id, "alice")).lease_owner == "rep_doomed"
    finally:
        proc.kill()
        await proc.wait()
    for job_id in [running_id, *queued_ids]:
        done = await wait_for_status(lambda job_id=job_id: b.get(job_id, "alice"), JobStatus.COMPLETED)
        assert done.result == f'{{"resumed":"{job_id}"}}'.encode() and done.lease_owner == "rep_b"
    assert (await b.get(running_id, "alice")).attempts == 2  # it had started once on the dead replica
    assert len(queued_ids) == 30 and len(set(queued_ids)) == 30


async def test_take_over_reads_only_expired_leases(redis_cluster_url: str) -> None:
    """A live replica's held jobs are never read by a take-over: the claim only sees the dead."""
    live = RedisJobStore.from_url(redis_cluster_url)
    taker = RedisJobStore.from_url(redis_cluster_url)
    try:
        await live.renew_lease("rep_live")
        registry = JobRegistry(live, max_running=1, max_queued=500, replica_id="rep_live")
        await registry.start()
        gate = Gate()
        for _ in range(50):
            await registry.submit("alice", gate)
        assert await taker.take_over("rep_taker", {"message"}, 0.0, 100) == []
        leases = [await taker._r.zrange(f"{taker._tag(s)}:leases", 0, -1) for s in range(SHARDS)]
        assert all(entries == [b"rep_live"] for entries in leases if entries)
        gate.release.set()
        await registry.close(grace_s=5)  # hands the queued ones back: free, taken at once
        taken = await taker.take_over("rep_taker", {"message"}, 0.0, 100)
        assert len(taken) == 49 and all(job.lease_owner == "rep_taker" for job in taken)
        assert [job.created_at for job in taken] == sorted(job.created_at for job in taken)
    finally:
        await taker.close()


async def test_a_cluster_outage_is_store_unavailable_and_the_store_recovers(redis_cluster: Cluster) -> None:
    from jobs.errors import StoreUnavailableError
    from tests.jobs.test_job_store_contract import new_job

    store = RedisJobStore.from_url(redis_cluster.url)
    try:
        job = new_job()
        await store.create(job)
        redis_cluster.stop()
        with pytest.raises(StoreUnavailableError):
            await store.get(job.id)
        with pytest.raises(StoreUnavailableError):
            await store.take_over("rep_x", {"message"}, 0.0, 10)
        redis_cluster.restart()  # the same nodes and slots, no data (nothing is saved)
        for _ in range(100):  # the client finds the nodes again on its own
            try:
                assert await store.get(job.id) is None
                break
            except StoreUnavailableError:
                await asyncio.sleep(0.1)
        await store.create(job)
        assert await store.get(job.id) == job
    finally:
        await store.close()
