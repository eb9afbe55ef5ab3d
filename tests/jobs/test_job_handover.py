"""Take-over between two registries on one SQLite file (in-process): a stalled holder loses its
jobs once its lease lapses, the taker runs them, and the stalled one's late result is discarded."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from jobs.model import JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores.sqlite import SqliteJobStore
from tests.jobs.helpers import Gate, returning, wait_for_status, within


async def test_a_stalled_holder_loses_its_jobs_and_its_late_result(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.db"
    a = JobRegistry(await SqliteJobStore.open(path, lease_ttl_s=0.3), max_running=1, max_queued=5, replica_id="rep_a")
    await a.start()
    gate = Gate(outcome=JobOutcome(200, b'{"from":"a"}'))
    running = await a.submit("alice", gate, payload=b"{}")
    queued = await a.submit("alice", gate, payload=b"{}")
    await within(gate.started.wait())
    a._stop.set()  # white-box: A's lease renewal stops, as if the process hung

    b = JobRegistry(await SqliteJobStore.open(path, lease_ttl_s=0.3), max_running=4, max_queued=5, replica_id="rep_b")
    b.resume("message", lambda job: returning(JobOutcome(200, b'{"from":"b"}')))
    await b.start()
    try:
        rerun = await wait_for_status(lambda: b.get(running.id, "alice"), JobStatus.COMPLETED)
        assert rerun.result == b'{"from":"b"}' and rerun.attempts == 2 and rerun.lease_owner == "rep_b"
        moved = await wait_for_status(lambda: b.get(queued.id, "alice"), JobStatus.COMPLETED)
        assert moved.result == b'{"from":"b"}' and moved.attempts == 1

        with caplog.at_level(logging.WARNING, logger="jobs.registry"):
            gate.release.set()  # A wakes up and finishes: its compare-and-set on the holder loses
            await within(a.wait_idle())
        assert (await b.get(running.id, "alice")) == rerun  # B's result stands
        assert any("result discarded" in r.getMessage() for r in caplog.records)
    finally:
        await b.close(grace_s=0)
        await a.close(grace_s=0)


async def test_a_live_holder_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    a = JobRegistry(await SqliteJobStore.open(path, lease_ttl_s=0.3), max_running=1, max_queued=5)
    await a.start()
    gate = Gate()
    running = await a.submit("alice", gate)
    queued = await a.submit("alice", gate)
    await within(gate.started.wait())
    b = JobRegistry(await SqliteJobStore.open(path, lease_ttl_s=0.3), max_running=4, max_queued=5)
    b.resume("message", lambda job: returning(JobOutcome(500, b"{}")))
    await b.start()  # a second worker starting on the same file: it must not touch A's jobs
    try:
        for _ in range(5):  # several of B's take-over rounds
            assert await b.take_over() == 0
            await asyncio.sleep(0.1)
        gate.release.set()
        await within(a.wait_idle())
        for job_id in (running.id, queued.id):
            done = await a.get(job_id, "alice")
            assert done is not None and done.status == JobStatus.COMPLETED and done.lease_owner == a.replica_id
    finally:
        await b.close(grace_s=0)
        await a.close(grace_s=0)
