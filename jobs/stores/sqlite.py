"""SQLite ``JobStore``: durable across restarts of a single process.

All sqlite3 calls run on one dedicated worker thread (``ThreadPoolExecutor(max_workers=1)``),
so the event loop never blocks on disk and the connection is only ever used from one thread.
The database runs in WAL mode.  Every statement autocommits; a status transition is a single
``UPDATE ... WHERE id = ? AND status IN (...)``, which makes it a compare-and-set.

On open, jobs left pending/processing by a process that died are marked failed (500,
"job interrupted by restart"), so nothing stays pending forever.  One file serves one process:
opening it from a second live process would fail that process's running jobs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from jobs.model import ACTIVE, JOB_FIELDS, JSON_CONTENT_TYPE, Job, JobStatus, api_error_body
from jobs.store import INTERRUPTED_BY_RESTART, JobExistsError, JobStore

T = TypeVar("T")

_COLUMNS = JOB_FIELDS
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    result_ttl_s INTEGER NOT NULL,
    started_at REAL,
    completed_at REAL,
    expires_at REAL,
    status_code INTEGER,
    result BLOB,
    content_type TEXT NOT NULL,
    meta TEXT NOT NULL,
    lease_owner TEXT
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_expires ON jobs (expires_at) WHERE expires_at IS NOT NULL;
"""
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
_ACTIVE_SQL = ", ".join(f"'{s.value}'" for s in sorted(ACTIVE))


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.owner,
        job.kind,
        job.status.value,
        job.created_at,
        job.result_ttl_s,
        job.started_at,
        job.completed_at,
        job.expires_at,
        job.status_code,
        job.result,
        job.content_type,
        json.dumps(job.meta),
        job.lease_owner,
    )


def _job(row: tuple[Any, ...]) -> Job:
    d = dict(zip(_COLUMNS, row, strict=True))
    return Job(
        id=d["id"],
        owner=d["owner"],
        kind=d["kind"],
        status=JobStatus(d["status"]),
        created_at=d["created_at"],
        result_ttl_s=d["result_ttl_s"],
        started_at=d["started_at"],
        completed_at=d["completed_at"],
        expires_at=d["expires_at"],
        status_code=d["status_code"],
        result=None if d["result"] is None else bytes(d["result"]),
        content_type=d["content_type"],
        meta=json.loads(d["meta"]),
        lease_owner=d["lease_owner"],
    )


class SqliteJobStore(JobStore):
    lease_renew_interval_s: float | None = None

    def __init__(self, executor: ThreadPoolExecutor, conn: sqlite3.Connection) -> None:
        """Use ``SqliteJobStore.open``."""
        self._executor = executor
        self._conn = conn

    @classmethod
    async def open(cls, path: str | Path, *, clock: Callable[[], float] = time.time) -> SqliteJobStore:
        """Open (creating if needed) the database at ``path`` and fail jobs a dead process left."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs-sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(_SCHEMA)
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        store = cls(executor, conn)
        await store.mark_interrupted(clock())
        return store

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)

    async def create(self, job: Job) -> None:
        placeholders = ", ".join("?" * len(_COLUMNS))
        sql = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
        try:
            await self._run(lambda c: c.execute(sql, _row(job)))
        except sqlite3.IntegrityError as exc:
            raise JobExistsError(job.id) from exc

    async def get(self, job_id: str) -> Job | None:
        row = await self._run(lambda c: c.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone())
        return None if row is None else _job(row)

    async def update(self, job: Job, *, expect: Collection[str] | None = None) -> bool:
        assignments = ", ".join(f"{c} = ?" for c in _COLUMNS[1:])
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
        params: list[Any] = [*_row(job)[1:], job.id]
        if expect is not None:
            statuses = list(expect)
            if not statuses:
                return False
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params.extend(str(s) for s in statuses)
        cursor = await self._run(lambda c: c.execute(sql, params))
        return cursor.rowcount == 1

    async def delete(self, job_id: str) -> bool:
        cursor = await self._run(lambda c: c.execute("DELETE FROM jobs WHERE id = ?", (job_id,)))
        return cursor.rowcount == 1

    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        sql, params = f"{_SELECT} WHERE owner = ?", [owner]
        if kind is not None:
            sql, params = sql + " AND kind = ?", [owner, kind]
        rows = await self._run(lambda c: c.execute(sql + " ORDER BY created_at, rowid", params).fetchall())
        return [_job(r) for r in rows]

    async def delete_expired(self, now: float) -> int:
        sql = "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?"
        cursor = await self._run(lambda c: c.execute(sql, (now,)))
        return cursor.rowcount

    async def mark_interrupted(self, now: float) -> int:
        sql = (
            "UPDATE jobs SET status = ?, status_code = 500, result = ?, content_type = ?,"
            f" completed_at = ?, expires_at = ? + result_ttl_s WHERE status IN ({_ACTIVE_SQL})"
        )
        body = api_error_body(INTERRUPTED_BY_RESTART)
        params = (JobStatus.FAILED.value, body, JSON_CONTENT_TYPE, now, now)
        cursor = await self._run(lambda c: c.execute(sql, params))
        return cursor.rowcount

    async def close(self) -> None:
        await self._run(lambda c: c.close())
        self._executor.shutdown(wait=True)
