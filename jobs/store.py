"""The ``JobStore`` interface: where job records live.

Stores keep records only; the registry owns execution.  Every status transition goes through
``update(job, expect=...)``, a compare-and-set on the stored status, so a late writer (a job
cancelled meanwhile, or failed by another replica after its lease ran out) cannot overwrite a
terminal record.

Implementations: ``jobs.stores.memory`` (default), ``jobs.stores.sqlite`` (durable, one process),
``jobs.stores.redis`` (shared by replicas, with leases).  Concrete stores subclass this protocol
explicitly to inherit the no-op lease methods.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from jobs.model import Job

INTERRUPTED_BY_RESTART = "job interrupted by restart"
REPLICA_STOPPED = "job's replica stopped before finishing"


class JobExistsError(Exception):
    """``create`` was given an id that is already stored."""


class JobStore(Protocol):
    #: How often the registry must call ``renew_lease``; ``None`` means the store has no leases.
    lease_renew_interval_s: float | None = None

    async def create(self, job: Job) -> None:
        """Store a new job.  Raises ``JobExistsError`` if the id is taken."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """Return the stored job, or ``None``.  Does not filter by expiry (the registry does).

        A shared store that finds an active job whose replica lease has expired marks it
        failed (500, ``REPLICA_STOPPED``) and returns the failed record.
        """
        ...

    async def update(self, job: Job, *, expect: Collection[str] | None = None) -> bool:
        """Replace the stored record with ``job``.

        With ``expect``, only if the stored status is one of ``expect``.  Returns False (and
        writes nothing) when the job is missing or its status did not match.
        """
        ...

    async def delete(self, job_id: str) -> bool:
        """Delete a job; True if it existed."""
        ...

    async def list_for_owner(self, owner: str, kind: str | None = None) -> list[Job]:
        """The owner's jobs (optionally of one kind), oldest first."""
        ...

    async def delete_expired(self, now: float) -> int:
        """Delete jobs whose ``expires_at <= now``; return how many were deleted."""
        ...

    async def mark_interrupted(self, now: float) -> int:
        """Fail (500, api_error) active jobs whose worker is gone; return how many.

        Single-process stores (memory, sqlite) cannot tell a live worker from a dead one, so
        they treat *every* pending/processing job as interrupted: call this only before any
        work is submitted (the registry does so in ``start``; sqlite also does it on open).
        Shared stores fail only jobs whose replica lease has expired; safe at any time.
        """
        ...

    async def renew_lease(self, replica_id: str) -> None:
        """Extend this replica's lease (shared stores only)."""
        return None

    async def release_lease(self, replica_id: str) -> None:
        """Drop this replica's lease on clean shutdown (shared stores only)."""
        return None

    async def close(self) -> None:
        """Release connections/threads.  The store is unusable afterwards."""
        ...
