"""In-memory ``JobStore``: a dict in the current process (the default; nothing survives a restart).

Every method runs without awaiting, so each one is atomic with respect to other coroutines.
``Job`` records are immutable, so handing out the stored object is safe.
"""

from __future__ import annotations

from collections.abc import Collection

from jobs.model import Job
from jobs.store import JobExistsError, JobStore


class MemoryJobStore(JobStore):
    lease_renew_interval_s: float | None = None
    kind = "memory"

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        # owner -> job ids in insertion order (dicts keep order; values unused)
        self._by_owner: dict[str, dict[str, None]] = {}

    async def create(self, job: Job) -> None:
        if job.id in self._jobs:
            raise JobExistsError(job.id)
        self._jobs[job.id] = job
        self._by_owner.setdefault(job.owner, {})[job.id] = None

    async def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def update(self, job: Job, *, expect: Collection[str] | None = None, holder: str | None = None) -> bool:
        current = self._jobs.get(job.id)
        if current is None or (expect is not None and current.status not in expect):
            return False
        if holder is not None and current.lease_owner != holder:
            return False
        self._jobs[job.id] = job
        return True

    async def delete(self, job_id: str) -> bool:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return False
        ids = self._by_owner.get(job.owner)
        if ids is not None:
            ids.pop(job_id, None)
            if not ids:
                del self._by_owner[job.owner]
        return True

    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        jobs = [self._jobs[i] for i in self._by_owner.get(owner, {})]
        return [j for j in jobs if kind is None or j.kind == kind]

    async def delete_expired(self, now: float) -> int:
        expired = [j.id for j in self._jobs.values() if j.is_expired(now)]
        for job_id in expired:
            await self.delete(job_id)
        return len(expired)

    async def close(self) -> None:
        self._jobs.clear()
        self._by_owner.clear()
