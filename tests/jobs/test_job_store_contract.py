"""The JobStore contract, run against every store: memory, sqlite (tmp_path) and a real Redis."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from jobs.ids import new_job_id
from jobs.model import ACTIVE, Job, JobOutcome, JobStatus
from jobs.store import JobExistsError, JobStore
from jobs.stores import open_store

MakeStore = Callable[[], Awaitable[JobStore]]
_counter = itertools.count()
LIVE_REPLICA = "rep_live"


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Factory: stores of the parametrised kind (sharing one database), closed at teardown."""
    if request.param == "memory":
        url = "memory"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("redis_url")
    opened: list[JobStore] = []

    async def make() -> JobStore:
        store = await open_store(url)
        opened.append(store)
        await store.renew_lease(LIVE_REPLICA)  # redis: jobs of a live replica are not orphans
        return store

    yield make
    for store in opened:
        await store.close()


def new_job(owner: str = "alice", *, kind: str = "message", lease_owner: str = LIVE_REPLICA) -> Job:
    return Job(
        id=new_job_id(),
        owner=owner,
        kind=kind,
        status=JobStatus.PENDING,
        created_at=1_700_000_000.0 + next(_counter),
        result_ttl_s=60,
        meta={"model": "claude-x", "custom_id": "c|1"},
        lease_owner=lease_owner,
    )


def done(job: Job, at: float, status: JobStatus = JobStatus.COMPLETED, body: bytes = b'{"ok":1}') -> Job:
    return job.finished(status, JobOutcome(200 if status == JobStatus.COMPLETED else 503, body), at)


async def test_create_get_round_trip(make_store: MakeStore) -> None:
    store = await make_store()
    job = new_job()
    await store.create(job)
    assert await store.get(job.id) == job
    assert await store.get(new_job_id()) is None
    full = dataclasses.replace(done(job, 1_700_000_100.5, body=b"\x00\xff raw"), started_at=1_700_000_050.25)
    assert await store.update(full)
    assert await store.get(job.id) == full


async def test_create_duplicate_raises(make_store: MakeStore) -> None:
    store = await make_store()
    job = new_job()
    await store.create(job)
    with pytest.raises(JobExistsError):
        await store.create(dataclasses.replace(job, owner="mallory"))
    assert (await store.get(job.id)) == job


async def test_update_is_compare_and_set_on_status(make_store: MakeStore) -> None:
    store = await make_store()
    job = new_job()
    await store.create(job)
    processing = dataclasses.replace(job, status=JobStatus.PROCESSING, started_at=5.0)
    assert await store.update(processing, expect={JobStatus.PENDING})
    assert not await store.update(processing, expect={JobStatus.PENDING})  # no longer pending
    canceled = processing.finished(JobStatus.CANCELED, None, 6.0)
    assert await store.update(canceled, expect=ACTIVE)
    late = done(processing, 7.0)
    assert not await store.update(late, expect={JobStatus.PROCESSING})  # the late result loses
    assert await store.get(job.id) == canceled
    assert not await store.update(new_job(), expect=ACTIVE)  # missing
    assert not await store.update(new_job())
    assert not await store.update(late, expect=set())


async def test_update_clears_fields_set_to_none(make_store: MakeStore) -> None:
    store = await make_store()
    job = dataclasses.replace(new_job(), started_at=3.0, meta={"a": "b"})
    await store.create(job)
    cleared = dataclasses.replace(job, started_at=None, meta={}, lease_owner=None)
    assert await store.update(cleared)
    assert await store.get(job.id) == cleared


async def test_delete(make_store: MakeStore) -> None:
    store = await make_store()
    job, other = new_job(), new_job()
    await store.create(job)
    await store.create(other)
    assert await store.delete(job.id)
    assert not await store.delete(job.id)
    assert await store.get(job.id) is None
    assert [j.id for j in await store.list_for_owner("alice")] == [other.id]


async def test_list_for_owner_is_scoped_ordered_and_filtered(make_store: MakeStore) -> None:
    store = await make_store()
    a1, b1, a2, a3 = new_job("alice"), new_job("bob"), new_job("alice", kind="batch_item"), new_job("alice")
    for job in (a1, b1, a2, a3):
        await store.create(job)
    assert [j.id for j in await store.list_for_owner("alice")] == [a1.id, a2.id, a3.id]
    assert [j.id for j in await store.list_for_owner("alice", "batch_item")] == [a2.id]
    assert [j.id for j in await store.list_for_owner("bob")] == [b1.id]
    assert await store.list_for_owner("carol") == []


async def test_delete_expired(make_store: MakeStore) -> None:
    store = await make_store()
    old, young, running = new_job(), new_job(), new_job()
    for job in (old, young, running):
        await store.create(job)
    assert await store.update(done(old, 1000.0))  # expires at 1060
    assert await store.update(done(young, 1030.0, JobStatus.FAILED))  # expires at 1090
    assert await store.delete_expired(1059.0) == 0
    assert await store.delete_expired(1060.0) == 1
    assert await store.get(old.id) is None
    assert await store.delete_expired(1089.0) == 0
    assert {j.id for j in await store.list_for_owner("alice")} == {young.id, running.id}
    assert await store.delete_expired(10**12) == 1  # active jobs never expire
    assert [j.id for j in await store.list_for_owner("alice")] == [running.id]


async def test_take_over_claims_only_active_jobs_without_a_live_holder(make_store: MakeStore) -> None:
    store = await make_store()
    if store.lease_renew_interval_s is None:  # memory: one process, nobody to take over from
        await store.create(new_job(lease_owner="rep_gone"))
        assert await store.take_over("rep_new", {"message"}, 2_000_000_000.0, 10) == []
        return
    # "rep_gone" holds no lease anywhere: its active jobs are up for take-over; LIVE_REPLICA's are not
    pending, processing, finished = (new_job(lease_owner="rep_gone") for _ in range(3))
    unheld, live, other_kind = new_job(), new_job(lease_owner=LIVE_REPLICA), new_job(kind="message_batch")
    unheld = dataclasses.replace(unheld, lease_owner=None)
    other_kind = dataclasses.replace(other_kind, lease_owner="rep_gone")
    for job in (pending, processing, finished, unheld, live, other_kind):
        await store.create(job)
    await store.update(dataclasses.replace(processing, status=JobStatus.PROCESSING, started_at=2.0, attempts=1))
    await store.update(done(finished, 3.0))
    now = 1_700_000_100.0  # sqlite compares lease times to this; redis uses its own clock
    first = await store.take_over("rep_new", {"message"}, now, 2)
    assert [j.id for j in first] == [pending.id, processing.id]  # oldest first, at most the limit
    assert all(j.lease_owner == "rep_new" for j in first)
    assert first[1].status == JobStatus.PROCESSING and first[1].attempts == 1  # only the holder changes
    await store.renew_lease("rep_new")
    rest = await store.take_over("rep_other", {"message"}, now, 10)
    assert [j.id for j in rest] == [unheld.id]  # rep_new is alive now; finished, live, other kinds stay
    assert await store.get(finished.id) == done(finished, 3.0)
    assert (await store.get(live.id)) == live
    # the holder's compare-and-set: only the process holding a job may write it
    assert not await store.update(dataclasses.replace(pending, meta={}), expect=ACTIVE, holder="rep_gone")
    assert await store.update(dataclasses.replace(first[0], meta={}), expect=ACTIVE, holder="rep_new")
    # a released lease makes its jobs available at once (rep_other never took a lease: its job too)
    await store.release_lease("rep_new")
    again = await store.take_over("rep_third", {"message"}, now, 10)
    assert {j.id for j in again} == {pending.id, processing.id, unheld.id}


async def test_two_handles_on_one_store_see_the_same_jobs(make_store: MakeStore) -> None:
    """sqlite and redis are shared by every handle on the same URL; memory is per handle."""
    first, second = await make_store(), await make_store()
    job = new_job()
    await first.create(job)
    if type(first).__name__ == "MemoryJobStore":
        assert await second.get(job.id) is None
    else:
        assert await second.get(job.id) == job
