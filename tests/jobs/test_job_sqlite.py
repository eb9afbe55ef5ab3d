"""SQLite store specifics: recovery after a restart, durability, WAL, and ``open_store`` URLs."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
from pathlib import Path

import pytest

from jobs.ids import new_job_id
from jobs.model import Job, JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores import open_store
from jobs.stores.memory import MemoryJobStore
from jobs.stores.redis import RedisJobStore
from jobs.stores.sqlite import SqliteJobStore
from tests.jobs.helpers import Gate, returning, within


def job() -> Job:
    st = JobStatus.PENDING
    return Job(id=new_job_id(), owner="alice", kind="message", status=st, created_at=100, result_ttl_s=30)


async def test_jobs_left_active_are_kept_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = await SqliteJobStore.open(path)
    pending, processing, finished = job(), job(), job()
    for j in (pending, processing, finished):
        await store.create(j)
    running = dataclasses.replace(processing, status=JobStatus.PROCESSING, started_at=101.0, attempts=1)
    await store.update(running)
    completed = finished.finished(JobStatus.COMPLETED, JobOutcome(200, b'{"id":"msg_1"}'), 102.0)
    await store.update(completed)
    await store.close()  # as if the process died here

    reopened = await SqliteJobStore.open(path, clock=lambda: 500.0)
    try:  # nothing is failed on open: the jobs wait for a process to take them over
        assert await reopened.get(pending.id) == pending
        assert await reopened.get(processing.id) == running
        assert await reopened.get(finished.id) == completed
    finally:
        await reopened.close()


async def test_a_file_from_an_earlier_version_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the jobs table as the previous version wrote it
        conn.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,"
            " created_at REAL NOT NULL, result_ttl_s INTEGER NOT NULL, started_at REAL, completed_at REAL,"
            " expires_at REAL, status_code INTEGER, result BLOB, content_type TEXT NOT NULL, meta TEXT NOT NULL,"
            " lease_owner TEXT)"
        )
        conn.execute(
            "INSERT INTO jobs VALUES ('job_old', 'alice', 'message', 'pending', 1.0, 60, NULL, NULL, NULL, NULL,"
            " NULL, 'application/json', '{}', 'rep_gone')"
        )
    store = await SqliteJobStore.open(path)
    try:
        old = await store.get("job_old")
        assert old is not None and old.attempts == 0 and old.payload is None
        taken = await store.take_over("rep_new", {"message"}, 1_000.0, 10)
        assert [j.id for j in taken] == ["job_old"]
    finally:
        await store.close()


async def test_registry_result_survives_reopening_and_unfinished_work_runs_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    registry = JobRegistry(await open_store(url), max_running=1, max_queued=10)
    await registry.start()
    body = b'{"id":"msg_1","type":"message","content":[]}'
    submitted = await registry.submit("alice", returning(JobOutcome(200, body)), ttl_s=600)
    await within(registry.wait_idle())
    stuck = Gate()
    interrupted = await registry.submit("alice", stuck)
    queued = await registry.submit("alice", stuck)
    await within(stuck.started.wait())
    await registry.close(grace_s=0)  # drains: both are handed back pending

    again = JobRegistry(await open_store(url), max_running=2, max_queued=10)
    again.resume("message", lambda job: returning(JobOutcome(200, job.id.encode())))
    await again.start()
    try:
        done = await again.get(submitted.id, "alice")
        assert done is not None and done.status == JobStatus.COMPLETED and done.result == body
        await within(again.wait_idle())
        for job_id, attempts in ((interrupted.id, 1), (queued.id, 1)):  # the drained run was not counted
            rerun = await again.get(job_id, "alice")
            assert rerun is not None and rerun.status == JobStatus.COMPLETED and rerun.result == job_id.encode()
            assert rerun.attempts == attempts
    finally:
        await again.close(grace_s=0)


async def test_wal_mode_and_work_off_the_event_loop_thread(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = await SqliteJobStore.open(path)
    threads: set[str] = set()
    # white-box: record which thread runs each SQL statement
    store._conn.set_trace_callback(lambda _sql: threads.add(threading.current_thread().name))
    try:
        await store.create(job())
        await store.list_for_owner("alice")
        assert threads and threading.current_thread().name not in threads
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()


async def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = await open_store("memory")
    assert isinstance(memory, MemoryJobStore)
    await memory.close()

    absolute = await open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(absolute, SqliteJobStore) and (tmp_path / "abs.db").exists()
    await absolute.close()

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    relative = await open_store("sqlite:///sub/rel.db")
    assert isinstance(relative, SqliteJobStore) and (tmp_path / "sub" / "rel.db").exists()
    await relative.close()

    remote = await open_store("redis://127.0.0.1:1/0")  # connects lazily
    assert isinstance(remote, RedisJobStore)
    await remote.close()

    for bad in ("postgres://db/jobs", "sqlite:///", "", "mem"):
        with pytest.raises(ValueError, match="job store URL"):
            await open_store(bad)


async def test_thousand_concurrent_jobs_on_sqlite(tmp_path: Path) -> None:
    registry = JobRegistry(await open_store(f"sqlite:///{tmp_path / 'jobs.db'}"), max_running=50, max_queued=1000)
    await registry.start()
    try:
        jobs = await asyncio.gather(
            *(registry.submit("alice", returning(JobOutcome(200, f"{i}".encode()))) for i in range(1000))
        )
        await within(registry.wait_idle(), 60)
        for i, submitted in enumerate(jobs):
            done = await registry.get(submitted.id, "alice")
            assert done is not None and done.status == JobStatus.COMPLETED and done.result == f"{i}".encode()
        assert len(await registry.list("alice")) == 1000
    finally:
        await registry.close(grace_s=0)
