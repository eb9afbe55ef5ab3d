"""SQLite ``JobStore``: durable across restarts, shared by the processes of one host.

All sqlite3 calls of a process run on one dedicated worker thread (``ThreadPoolExecutor(max_workers=1)``),
so the event loop never blocks on disk and the connection is only ever used from one thread.
The database runs in WAL mode, so several processes (``specgate serve --workers N``, or a new
process starting while the old one drains) share the file safely.

A status transition is a single ``UPDATE ... WHERE id = ? AND status IN (...) [AND lease_owner = ?]``,
a compare-and-set.  Leases live in their own table (one row per process, renewed on a timer);
``take_over`` runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a time), so a job is
handed to exactly one process, and only when its holder's row has expired.  Wall-clock times are
compared, which is sound because every process sharing the file runs on the same host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from jobs.errors import StoreUnavailableError
from jobs.model import ACTIVE, JOB_FIELDS, Job, JobStatus
from jobs.store import JobExistsError, JobStore

T = TypeVar("T")
log = logging.getLogger(__name__)

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
    lease_owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    payload BLOB
);
CREATE TABLE IF NOT EXISTS leases (replica TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_expires ON jobs (expires_at) WHERE expires_at IS NOT NULL;
"""
_ACTIVE_SQL = ", ".join(f"'{s.value}'" for s in sorted(ACTIVE))
_ACTIVE_INDEX = f"CREATE INDEX IF NOT EXISTS jobs_active ON jobs (created_at) WHERE status IN ({_ACTIVE_SQL})"
# Columns later versions added: a file written by an earlier version gains them on open.
_ADDED = {"attempts": "INTEGER NOT NULL DEFAULT 0", "payload": "BLOB"}
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
_STALE_LEASE_S = 3600.0  # lease rows of processes gone this long are deleted


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
        job.attempts,
        job.payload,
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
        attempts=int(d["attempts"] or 0),
        payload=None if d["payload"] is None else bytes(d["payload"]),
    )


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    have = {str(r[1]) for r in conn.execute("PRAGMA table_info(jobs)")}
    for column, decl in _ADDED.items():
        if column not in have:
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
    conn.execute(_ACTIVE_INDEX)
    return conn


class SqliteJobStore(JobStore):
    kind = "sqlite"

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        *,
        lease_ttl_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Use ``SqliteJobStore.open``."""
        if lease_ttl_s <= 0:
            raise ValueError("lease_ttl_s must be positive")
        self._executor = executor
        self._conn = conn
        self._clock = clock
        self.lease_ttl_s = lease_ttl_s
        self.lease_renew_interval_s = lease_ttl_s / 3

    @classmethod
    async def open(
        cls, path: str | Path, *, lease_ttl_s: float = 10.0, clock: Callable[[], float] = time.time
    ) -> SqliteJobStore:
        """Open (creating or upgrading if needed) the database at ``path``.  Nothing is failed:
        jobs a dead process left behind are taken over once its lease has expired."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobs-sqlite")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, _connect, str(path))
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(executor, conn, lease_ttl_s=lease_ttl_s, clock=clock)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)
        except sqlite3.IntegrityError:
            raise
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:  # locked, I/O error, unreadable file
            log.warning("sqlite job store: %s", exc)
            raise StoreUnavailableError(self.kind) from exc

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

    async def update(self, job: Job, *, expect: Collection[str] | None = None, holder: str | None = None) -> bool:
        assignments = ", ".join(f"{c} = ?" for c in _COLUMNS[1:])
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
        params: list[Any] = [*_row(job)[1:], job.id]
        if expect is not None:
            statuses = list(expect)
            if not statuses:
                return False
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params.extend(str(s) for s in statuses)
        if holder is not None:
            sql += " AND lease_owner = ?"
            params.append(holder)
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

    async def take_over(self, replica_id: str, kinds: Collection[str], now: float, limit: int) -> list[Job]:
        wanted = list(kinds)
        if not wanted or limit < 1:
            return []
        select = (
            f"SELECT id FROM jobs WHERE status IN ({_ACTIVE_SQL}) AND kind IN ({', '.join('?' * len(wanted))})"
            " AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT replica FROM leases WHERE expires_at > ?))"
            " ORDER BY created_at LIMIT ?"
        )

        def claim(c: sqlite3.Connection) -> list[Job]:
            c.execute("BEGIN IMMEDIATE")  # one writer: no other process claims between select and update
            try:
                ids = [str(r[0]) for r in c.execute(select, [*wanted, now, limit])]
                taken: list[Job] = []
                for job_id in ids:
                    c.execute("UPDATE jobs SET lease_owner = ? WHERE id = ?", (replica_id, job_id))
                    row = c.execute(f"{_SELECT} WHERE id = ?", (job_id,)).fetchone()
                    taken.append(_job(row))
                c.execute("COMMIT")
                return taken
            except BaseException:
                c.execute("ROLLBACK")
                raise

        return await self._run(claim)

    async def renew_lease(self, replica_id: str) -> None:
        now = self._clock()

        def renew(c: sqlite3.Connection) -> None:
            sql = "INSERT OR REPLACE INTO leases (replica, expires_at) VALUES (?, ?)"
            c.execute(sql, (replica_id, now + self.lease_ttl_s))
            c.execute("DELETE FROM leases WHERE expires_at < ?", (now - _STALE_LEASE_S,))

        await self._run(renew)

    async def release_lease(self, replica_id: str) -> None:
        await self._run(lambda c: c.execute("DELETE FROM leases WHERE replica = ?", (replica_id,)))

    async def close(self) -> None:
        await self._run(lambda c: c.close())
        self._executor.shutdown(wait=True)
