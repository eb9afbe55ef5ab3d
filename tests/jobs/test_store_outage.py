"""A job store that goes away answers 503 naming the store (with retry-after), /readyz says so,
and the gateway recovers when the store comes back, without a restart."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from jobs import timers
from jobs.errors import StoreUnavailableError
from jobs.ids import new_job_id
from jobs.model import Job, JobOutcome, JobStatus
from jobs.registry import JobRegistry
from jobs.stores.memory import MemoryJobStore
from jobs.stores.sqlite import SqliteJobStore
from tests.fakes.redis_server import find_redis_server
from tests.jobs.helpers import Gate, returning, within
from tests.jobs.serving import H, body, config, poll, submit, wait_status
from tests.support.http import Reply, request
from tests.support.process import spawn


def assert_store_down(reply: Reply, store: str) -> None:
    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "5"
    payload = reply.json()
    assert payload["type"] == "error" and payload["request_id"].startswith("req_")
    assert payload["error"] == {"type": "api_error", "message": f"the job store ({store}) is unavailable; retry later"}


def test_redis_outage_is_503_and_the_gateway_recovers(tmp_path: Path, redis_server_factory: Any) -> None:
    server = redis_server_factory()
    gw = spawn(config(f"redis://127.0.0.1:{server.port}/0"), tmp_path)
    try:
        job_id = submit(gw.url)
        wait_status(gw.url, job_id, "completed")
        assert request(gw.url + "/readyz", "GET").status == 200
        server.stop()

        submitted = request(gw.url + "/v1/messages", body=body("x"), headers={**H, "x-bf-async": "true"})
        assert_store_down(submitted, "redis")
        assert_store_down(poll(gw.url, job_id), "redis")
        assert_store_down(request(gw.url + "/v1/messages/batches", "GET", headers=H), "redis")
        down = request(gw.url + "/readyz", "GET", timeout=10)
        assert down.status == 503 and "jobs_store" in down.json()["error"]["message"]
        # a request that needs no job store is still served
        assert request(gw.url + "/v1/messages", body=body("sync"), headers=H).status == 200

        executable = find_redis_server()
        assert executable is not None
        server.restart(executable)  # an empty Redis on the same port
        deadline = time.monotonic() + 15
        while request(gw.url + "/readyz", "GET", timeout=10).status != 200:
            assert time.monotonic() < deadline, "readyz did not recover when Redis came back"
            time.sleep(0.2)
        again = submit(gw.url, "after the outage")
        assert wait_status(gw.url, again, "completed").json()["content"][0]["text"] == "after the outage"
        code, log = gw.stop(signal.SIGTERM)
        assert code == 0 and "Traceback" not in log
    finally:
        gw.stop(signal.SIGKILL)


async def test_a_locked_sqlite_file_is_store_unavailable_until_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = await SqliteJobStore.open(path)
    store._conn.execute("PRAGMA busy_timeout=50")  # white-box: do not wait 5 s for the lock
    job = Job(id=new_job_id(), owner="a", kind="message", status=JobStatus.PENDING, created_at=1.0, result_ttl_s=60)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        with pytest.raises(StoreUnavailableError) as caught:
            await store.create(job)
        assert caught.value.store == "sqlite"
        other.execute("ROLLBACK")
        await asyncio.wait_for(store.create(job), 5)
        assert await store.get(job.id) == job
    finally:
        other.close()
        await store.close()


class OutageStore(MemoryJobStore):
    """A memory store whose writes fail as an unreachable store's do while ``down``."""

    down = False

    async def update(self, job: Job, *, expect: Collection[str] | None = None, holder: str | None = None) -> bool:
        if self.down:
            raise StoreUnavailableError("test")
        return await super().update(job, expect=expect, holder=holder)


async def test_a_result_finished_during_an_outage_is_stored_once_the_store_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(timers, "OUTAGE_RETRY_S", 0.02)
    store = OutageStore()
    registry = JobRegistry(store, max_running=2, max_queued=2)
    await registry.start()
    try:
        gate = Gate(outcome=JobOutcome(200, b'{"kept":true}'))
        running = await registry.submit("alice", gate)
        await within(gate.started.wait())
        store.down = True
        waiting = await registry.submit("alice", returning(JobOutcome(200, b"{}")))  # cannot even start
        gate.release.set()
        await asyncio.sleep(0.2)  # both are held in memory, retried
        assert (await store.get(running.id)).status == JobStatus.PROCESSING  # type: ignore[union-attr]
        assert (await store.get(waiting.id)).status == JobStatus.PENDING  # type: ignore[union-attr]
        store.down = False
        await within(registry.wait_idle())
        done = await registry.get(running.id, "alice")
        assert done is not None and done.status == JobStatus.COMPLETED and done.result == b'{"kept":true}'
        assert (await registry.get(waiting.id, "alice")).status == JobStatus.COMPLETED  # type: ignore[union-attr]
    finally:
        await registry.close(grace_s=0)
