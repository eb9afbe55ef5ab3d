"""Jobs passing between processes on a durable store: taken over from a dead one, handed back at shutdown.

A process whose lease expired left jobs behind.  Pending ones are simply queued by whoever takes
them.  One that was running had started an attempt that nobody will finish: it is queued again
(the upstream may see the request twice), until it has been started ``max_attempts`` times; then
it fails with an error naming the attempts.  At shutdown a process hands its unfinished jobs back
as pending with no holder, so the next process claims them at once instead of after a lease; a
run the drain cut short is not counted as an attempt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection

from jobs.model import ACTIVE, Job, JobStatus, api_error_outcome
from jobs.store import JobStore

logger = logging.getLogger("jobs.registry")


def attempts_message(attempts: int) -> str:
    """The terminal error of a job whose process stopped during each of its ``attempts`` runs."""
    return f"job failed after {attempts} attempts: the gateway process running it stopped each time"


async def take_over(
    store: JobStore,
    replica_id: str,
    kinds: Collection[str],
    *,
    now: float,
    room: int,
    max_attempts: int,
    at_start: bool,
) -> list[Job]:
    """Claim up to ``room`` orphaned jobs of ``kinds`` for ``replica_id``; return those to queue
    (now pending, held by ``replica_id``).  Jobs out of attempts are failed here."""
    taken = await store.take_over(replica_id, kinds, now, room)
    queue: list[Job] = []
    requeued = failed = 0
    for job in taken:
        if job.status == JobStatus.PROCESSING and job.attempts >= max_attempts:
            final = job.finished(JobStatus.FAILED, api_error_outcome(attempts_message(job.attempts)), now)
            failed += await store.update(final, expect=ACTIVE, holder=replica_id)
            continue
        if job.status == JobStatus.PROCESSING:
            job = dataclasses.replace(job, status=JobStatus.PENDING, started_at=None)
            if not await store.update(job, expect={JobStatus.PROCESSING}, holder=replica_id):
                continue
            requeued += 1
        queue.append(job)
    if taken or at_start:
        logger.log(
            logging.WARNING if taken else logging.INFO,
            "jobs%s: took over %d job(s) of stopped processes: %d pending, %d re-queued after an interrupted run,"
            " %d failed after %d attempts",
            " at start-up" if at_start else "",
            len(taken),
            len(queue) - requeued,
            requeued,
            failed,
            max_attempts,
        )
    return queue


async def hand_back(store: JobStore, job: Job, replica_id: str) -> bool:
    """Return an unfinished job to the store as pending with no holder (shutdown).  A run cut
    short by the drain is not an attempt: only a process that died mid-run uses one up, so
    deploys during a long job never fail it."""
    attempts = job.attempts - 1 if job.status == JobStatus.PROCESSING else job.attempts
    pending = dataclasses.replace(
        job, status=JobStatus.PENDING, started_at=None, lease_owner=None, attempts=max(attempts, 0)
    )
    try:
        return await store.update(pending, expect=ACTIVE, holder=replica_id)
    except Exception:
        logger.exception("job %s: could not hand it back at shutdown", job.id)
        return False
