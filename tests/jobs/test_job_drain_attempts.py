"""A run the SIGTERM drain cuts short is not an attempt; only a holder that dies mid-run uses one.
And what a job holds in its process (``release``: a rate-limit reservation) is given back once,
however the job leaves that process.  SQLite and a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.model import JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores import open_store
from tests.jobs.helpers import Gate, returning, wait_for_status, within


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("redis_url")
    return url


async def _registry(url: str, gate: Gate, replica_id: str) -> JobRegistry:
    registry = JobRegistry(
        await open_store(url, lease_ttl_s=0.4), max_running=1, max_queued=5, max_attempts=2, replica_id=replica_id
    )
    registry.resume("message", lambda job: gate)
    await registry.start()
    return registry


async def test_two_drains_and_a_crash_do_not_fail_a_job_with_two_attempts(store_url: str) -> None:
    gate = Gate(outcome=JobOutcome(200, b'{"done":1}'))
    job_id = ""
    for deploy in range(2):  # two deploys while the job runs: each drains it and hands it back
        registry = await _registry(store_url, gate, f"rep_deploy{deploy}")
        if not job_id:
            job_id = (await registry.submit("alice", gate, payload=b"{}")).id
        await within(gate.started.wait())
        gate.started.clear()
        running = await registry.get(job_id, "alice")
        assert running is not None and running.status == JobStatus.PROCESSING and running.attempts == 1
        await registry.close(grace_s=0)
        check = await open_store(store_url)
        back = await check.get(job_id)
        await check.close()
        assert back is not None and back.status == JobStatus.PENDING and back.attempts == 0  # not counted
    # then the process running it dies (its lease lapses): that is the first real attempt
    doomed = await _registry(store_url, gate, "rep_doomed")
    await within(gate.started.wait())
    doomed._stop.set()  # white-box: no more renewals, as if the process were killed
    survivor = await _registry(store_url, Gate(outcome=JobOutcome(200, b'{"done":2}')), "rep_survivor")
    survivor.resume("message", lambda job: returning(JobOutcome(200, b'{"done":2}')))
    try:
        done = await wait_for_status(lambda: survivor.get(job_id, "alice"), JobStatus.COMPLETED)
        assert done.attempts == 2 and done.result == b'{"done":2}'  # run again, not failed
    finally:
        gate.release.set()
        await survivor.close(grace_s=0)
        await doomed.close(grace_s=1)


async def test_what_a_job_holds_is_given_back_once_however_it_leaves(store_url: str) -> None:
    given: list[str] = []

    def release(name: str):  # type: ignore[no-untyped-def]
        async def give_back() -> None:
            given.append(name)

        return give_back

    gate = Gate()
    a = await _registry(store_url, gate, "rep_a")
    finished = await a.submit("alice", returning(JobOutcome(200, b"{}")), release=release("finished"))
    await within(a.wait_idle())
    assert given == ["finished"] and (await a.get(finished.id, "alice")).status == JobStatus.COMPLETED
    await a.submit("alice", gate, payload=b"{}", release=release("running"))
    canceled = await a.submit("alice", gate, payload=b"{}", release=release("canceled"))
    await a.submit("alice", gate, payload=b"{}", release=release("queued"))
    await within(gate.started.wait())
    await a.cancel(canceled.id, "alice")  # while queued: it never runs here
    assert given == ["finished", "canceled"]
    await a.close(grace_s=0)  # the drain: the running one is cut, the queued one handed back
    assert sorted(given) == ["canceled", "finished", "queued", "running"]

    # taken over before it started: the holder's lease lapsed while the job waited in its queue
    b = await _registry(store_url, gate, "rep_b")
    gate.started.clear()
    await within(gate.started.wait())  # b resumed one of the handed-back jobs and runs it
    lost = await b.submit("alice", gate, payload=b"{}", release=release("lost"))
    b._stop.set()  # b hangs: its lease lapses
    c = await _registry(store_url, gate, "rep_c")
    try:
        await wait_for_status(lambda: _holder_is(c, lost.id, "rep_c"), JobStatus.PENDING, timeout_s=10)
        gate.release.set()  # b's running job ends; b dequeues "lost", sees it is not its own, skips it
        await within(b.wait_idle())
        assert given.count("lost") == 1
    finally:
        gate.release.set()
        await c.close(grace_s=1)
        await b.close(grace_s=1)


async def _holder_is(registry: JobRegistry, job_id: str, holder: str):  # type: ignore[no-untyped-def]
    job = await registry.get(job_id, "alice")
    return job if job is not None and job.lease_owner == holder else None
