"""JobRegistry on the memory store: lifecycle, limits, cancel, TTL, ownership, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jobs.errors import QueueFullError, ShuttingDownError
from jobs.model import JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores.memory import MemoryJobStore
from tests.jobs.helpers import FakeClock, Gate, counting, eventually, registries, returning, within

MakeRegistry = Callable[..., Any]


@pytest.fixture
async def make_registry() -> AsyncIterator[MakeRegistry]:
    """Factory: started registries on fresh memory stores, closed at teardown."""
    async with registries(MemoryJobStore, max_running=4, max_queued=100) as make:
        yield make


def error_message(body: bytes | None) -> str:
    assert body is not None
    parsed = json.loads(body)
    assert parsed["type"] == "error" and parsed["error"]["type"] == "api_error"
    message: str = parsed["error"]["message"]
    return message


async def test_lifecycle_pending_processing_completed_with_exact_bytes(make_registry: MakeRegistry) -> None:
    clock = FakeClock()
    registry = await make_registry(max_running=1, clock=clock)
    body = b'{"id":"msg_1","content":[{"type":"text","text":"h\xc3\xa9"}]}'
    first, second = Gate(outcome=JobOutcome(200, body)), Gate()
    job = await registry.submit("alice", first, ttl_s=120, meta={"model": "m"})
    behind = await registry.submit("alice", second)
    assert job.status == JobStatus.PENDING and job.owner == "alice" and job.kind == "message"

    await within(first.started.wait())
    assert (await registry.get(behind.id, "alice")).status == JobStatus.PENDING
    processing = await registry.get(job.id, "alice")
    assert processing is not None and processing.status == JobStatus.PROCESSING
    assert processing.started_at == clock.now and processing.completed_at is None

    clock.advance(5)
    first.release.set()
    second.release.set()
    await within(registry.wait_idle())
    done = await registry.get(job.id, "alice")
    assert done is not None and done.status == JobStatus.COMPLETED
    assert done.status_code == 200 and done.result == body and done.content_type == "application/json"
    assert done.completed_at == clock.now and done.expires_at == clock.now + 120
    assert done.meta == {"model": "m"}
    assert first.calls == 1


async def test_non_2xx_outcome_is_failed_and_replayed(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"r"}'
    job = await registry.submit("alice", returning(JobOutcome(429, body)))
    await within(registry.wait_idle())
    failed = await registry.get(job.id, "alice")
    assert failed is not None and failed.status == JobStatus.FAILED
    assert failed.status_code == 429 and failed.result == body


async def test_work_raising_fails_with_500_api_error(make_registry: MakeRegistry) -> None:
    registry = await make_registry()

    async def broken() -> JobOutcome:
        raise KeyError("bug")

    async def wrong_type() -> JobOutcome:
        return b"not an outcome"  # type: ignore[return-value]

    jobs = [await registry.submit("alice", broken), await registry.submit("alice", wrong_type)]
    await within(registry.wait_idle())
    for job in jobs:
        failed = await registry.get(job.id, "alice")
        assert failed is not None and failed.status == JobStatus.FAILED and failed.status_code == 500
        assert "internal error" in error_message(failed.result)


async def test_fifo_and_max_running(make_registry: MakeRegistry) -> None:
    registry = await make_registry(max_running=2)
    gates = [Gate() for _ in range(6)]
    order: list[int] = []
    active = 0
    peak = 0

    def work(i: int) -> Callable[[], Any]:
        async def run() -> JobOutcome:
            nonlocal active, peak
            order.append(i)
            active += 1
            peak = max(peak, active)
            try:
                return await gates[i]()
            finally:
                active -= 1

        return run

    for i in range(6):
        await registry.submit("alice", work(i))
    await within(gates[1].started.wait())
    assert registry.running == 2 and registry.queued == 4 and order == [0, 1]
    for i in range(6):  # finish them one by one; each frees a slot for the next in line
        gates[i].release.set()
        if i + 2 < 6:
            await within(gates[i + 2].started.wait())
            assert registry.running == 2
    await within(registry.wait_idle())
    assert order == [0, 1, 2, 3, 4, 5] and peak == 2
    assert registry.running == 0 and registry.queued == 0


async def test_queue_full(make_registry: MakeRegistry) -> None:
    registry = await make_registry(max_running=1, max_queued=2)
    gate = Gate()
    for _ in range(3):
        await registry.submit("alice", gate)
    with pytest.raises(QueueFullError):
        await registry.submit("alice", gate)
    gate.release.set()
    await within(registry.wait_idle())
    await registry.submit("alice", returning(JobOutcome(200, b"{}")))  # capacity is back


async def test_cancel_pending_never_runs(make_registry: MakeRegistry) -> None:
    registry = await make_registry(max_running=1)
    blocker, victim = Gate(), Gate()
    await registry.submit("alice", blocker)
    job = await registry.submit("alice", victim)
    await within(blocker.started.wait())
    assert await registry.cancel(job.id, "bob") is None
    canceled = await registry.cancel(job.id, "alice")
    assert canceled is not None and canceled.status == JobStatus.CANCELED
    assert canceled.completed_at is not None
    assert registry.queued == 0
    blocker.release.set()
    victim.release.set()
    await within(registry.wait_idle())
    assert victim.calls == 0
    assert (await registry.get(job.id, "alice")).status == JobStatus.CANCELED


async def test_cancel_processing_cancels_the_task(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    gate = Gate()
    job = await registry.submit("alice", gate)
    await within(gate.started.wait())
    canceled = await registry.cancel(job.id, "alice")
    assert canceled is not None and canceled.status == JobStatus.CANCELED
    await within(gate.cancelled.wait())
    await within(registry.wait_idle())
    stored = await registry.get(job.id, "alice")
    assert stored is not None and stored.status == JobStatus.CANCELED and stored.result is None
    assert registry.running == 0


async def test_cancel_finished_job_is_unchanged(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    job = await registry.submit("alice", returning(JobOutcome(200, b"{}")))
    await within(registry.wait_idle())
    same = await registry.cancel(job.id, "alice")
    assert same is not None and same.status == JobStatus.COMPLETED and same.result == b"{}"


async def test_ttl_expiry_with_clock_and_sweeper(make_registry: MakeRegistry) -> None:
    clock = FakeClock()
    store = MemoryJobStore()
    registry = await make_registry(store=store, clock=clock, sweep_interval_s=0.01)
    job = await registry.submit("alice", returning(JobOutcome(200, b"{}")), ttl_s=10)
    await within(registry.wait_idle())
    clock.advance(9.9)
    assert await registry.get(job.id, "alice") is not None
    assert await store.get(job.id) is not None
    clock.advance(0.1)
    assert await registry.get(job.id, "alice") is None  # expired even before the sweep
    assert await registry.list("alice") == []
    await eventually(lambda: store.get(job.id), None)  # the background sweeper deleted it


async def test_ttl_default_and_cap(make_registry: MakeRegistry) -> None:
    registry = await make_registry(default_ttl_s=3600, max_ttl_s=7200)
    ok = returning(JobOutcome(200, b"{}"))
    assert (await registry.submit("a", ok)).result_ttl_s == 3600
    assert (await registry.submit("a", ok, ttl_s=0)).result_ttl_s == 3600
    assert (await registry.submit("a", ok, ttl_s=-5)).result_ttl_s == 3600
    assert (await registry.submit("a", ok, ttl_s=60)).result_ttl_s == 60
    assert (await registry.submit("a", ok, ttl_s=10**9)).result_ttl_s == 7200


async def test_sweep_deletes_only_expired(make_registry: MakeRegistry) -> None:
    clock = FakeClock()
    registry = await make_registry(clock=clock)
    short = await registry.submit("alice", returning(JobOutcome(200, b"1")), ttl_s=5)
    long = await registry.submit("alice", returning(JobOutcome(200, b"2")), ttl_s=50)
    await within(registry.wait_idle())
    clock.advance(6)
    assert await registry.sweep() == 1
    assert [j.id for j in await registry.list("alice")] == [long.id]
    assert await registry.get(short.id, "alice") is None


async def test_other_owner_sees_nothing(make_registry: MakeRegistry) -> None:
    registry = await make_registry()
    job = await registry.submit("alice", returning(JobOutcome(200, b"{}")), kind="batch_item")
    await within(registry.wait_idle())
    assert await registry.get(job.id, "bob") is None
    assert await registry.get("job_doesnotexist", "alice") is None
    assert await registry.list("bob") == []
    assert [j.id for j in await registry.list("alice", kind="batch_item")] == [job.id]
    assert await registry.list("alice", kind="message") == []
    assert await registry.cancel(job.id, "bob") is None


async def test_submit_requires_start_and_rejects_after_close() -> None:
    registry = JobRegistry(MemoryJobStore(), max_running=1, max_queued=1)
    with pytest.raises(RuntimeError):
        await registry.submit("alice", returning(JobOutcome(200, b"{}")))
    await registry.start()
    await registry.close(grace_s=0)
    with pytest.raises(ShuttingDownError):
        await registry.submit("alice", returning(JobOutcome(200, b"{}")))


class KeepingStore(MemoryJobStore):
    """A memory store whose records stay readable after close(), to inspect what close() left."""

    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_close_lets_running_finish_within_grace_and_hands_back_leftovers() -> None:
    store = KeepingStore()
    registry = JobRegistry(store, max_running=2, max_queued=10)
    await registry.start()
    quick, stuck, queued = Gate(), Gate(), Gate()
    quick_job = await registry.submit("alice", quick)
    stuck_job = await registry.submit("alice", stuck)
    queued_job = await registry.submit("alice", queued)
    await within(quick.started.wait())
    await within(stuck.started.wait())

    closing = asyncio.create_task(registry.close(grace_s=0.3))
    await asyncio.sleep(0)  # close() has begun: new work is refused
    with pytest.raises(ShuttingDownError):
        await registry.submit("alice", returning(JobOutcome(200, b"{}")))
    quick.release.set()  # finishes inside the grace period
    await closing
    assert stuck.cancelled.is_set() and queued.calls == 0

    assert store.closed and registry.running == 0 and registry.queued == 0
    results = {j.id: j for j in await store.list_for_owner("alice")}
    assert results[quick_job.id].status == JobStatus.COMPLETED
    for job_id in (stuck_job.id, queued_job.id):  # pending, held by nobody, for the next process
        left = results[job_id]
        assert left.status == JobStatus.PENDING and left.lease_owner is None and left.result is None
        assert left.started_at is None and left.attempts == 0  # a run the drain cut short is no attempt
    assert len(results) == 3  # the refused submit left no record behind


async def test_thousand_concurrent_jobs_complete_exactly_once(make_registry: MakeRegistry) -> None:
    registry = await make_registry(max_running=50, max_queued=1000)
    calls = [0] * 1000

    jobs = await asyncio.gather(*(registry.submit(f"owner{i % 7}", counting(calls, i)) for i in range(1000)))
    await within(registry.wait_idle())
    assert calls == [1] * 1000
    assert len({j.id for j in jobs}) == 1000
    for i, job in enumerate(jobs):
        done = await registry.get(job.id, f"owner{i % 7}")
        assert done is not None and done.status == JobStatus.COMPLETED
        assert done.result == f'{{"n":{i}}}'.encode()
    listed = [j.id for k in range(7) for j in await registry.list(f"owner{k}")]
    assert sorted(listed) == sorted(j.id for j in jobs)


async def test_cancel_right_after_submit_frees_the_slot(make_registry: MakeRegistry) -> None:
    registry = await make_registry(max_running=1)
    gate = Gate()
    job = await registry.submit("alice", gate)  # dispatched, its task not yet stepped
    canceled = await registry.cancel(job.id, "alice")
    assert canceled is not None and canceled.status == JobStatus.CANCELED
    await within(registry.wait_idle())
    assert registry.running == 0
    assert gate.calls == 0 or gate.cancelled.is_set()  # its work may or may not have begun
    follow_up = await registry.submit("alice", returning(JobOutcome(200, b"{}")))
    await within(registry.wait_idle())
    assert (await registry.get(follow_up.id, "alice")).status == JobStatus.COMPLETED
