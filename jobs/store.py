"""The ``JobStore`` interface: where job records live, and who holds each one.

Stores keep records only; the registry owns execution.  Every status transition goes through
``update(job, expect=..., holder=...)``, a compare-and-set on the stored status (and, with
``holder``, on the process holding the job), so a late writer -- a job cancelled meanwhile, or
taken over by another process after its holder's lease ran out -- cannot overwrite the record,
and a terminal record (a completed result) is never overwritten.

Leases (durable stores): each process holds one lease, renewed every ``lease_renew_interval_s``
and lasting ``lease_ttl_s``; a job names its holder in ``lease_owner``.  ``take_over`` hands the
active jobs of processes whose lease has expired (or of none) to the caller, atomically, so two
live processes never hold the same job and a job held by a live process is never touched.

Implementations: ``jobs.stores.memory`` (default, one process, lost on restart),
``jobs.stores.sqlite`` (a file shared by the processes of one host), ``jobs.stores.redis``
(shared by replicas).  Concrete stores subclass this protocol explicitly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from jobs.model import Job


class JobExistsError(Exception):
    """``create`` was given an id that is already stored."""


class JobStore(Protocol):
    #: How often the registry must call ``renew_lease``; ``None`` means the store has no leases
    #: (one process, nothing to take over).
    lease_renew_interval_s: float | None = None
    #: What the store is, for error messages and logs ("memory", "sqlite", "redis").
    kind: str = "memory"

    async def create(self, job: Job) -> None:
        """Store a new job.  Raises ``JobExistsError`` if the id is taken."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """Return the stored job, or ``None``.  Does not filter by expiry (the registry does)."""
        ...

    async def update(self, job: Job, *, expect: Collection[str] | None = None, holder: str | None = None) -> bool:
        """Replace the stored record with ``job``.

        With ``expect``, only if the stored status is one of ``expect``; with ``holder``, only if
        the stored ``lease_owner`` is ``holder``.  Returns False (and writes nothing) when the
        job is missing or a condition did not hold.
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

    async def take_over(self, replica_id: str, kinds: Collection[str], now: float, limit: int) -> list[Job]:
        """Make ``replica_id`` the holder of up to ``limit`` active jobs of ``kinds`` (oldest first)
        whose holder has no live lease (or that have no holder), atomically per job; return them.

        Only ``lease_owner`` changes: the caller decides what a taken-over job becomes (queued
        again, or failed after too many attempts) with ``update(..., holder=replica_id)``.
        """
        return []

    async def renew_lease(self, replica_id: str) -> None:
        """Extend this process's lease (stores with leases only)."""
        return None

    async def release_lease(self, replica_id: str) -> None:
        """Drop this process's lease on clean shutdown: its jobs can be taken over at once."""
        return None

    async def close(self) -> None:
        """Release connections/threads.  The store is unusable afterwards."""
        ...
