"""``JobRegistry``: runs submitted work with bounded concurrency and keeps outcomes in a store.

Shaped after aiojobs' ``Scheduler`` (a concurrency limit, a FIFO of pending work, ``close`` with
a timeout) and saq/arq job records (a status enum with a terminal set, timestamps, expiry).

* ``submit`` admits a job (``QueueFullError`` past ``max_running + max_queued``), stores it as
  pending and returns it.  At most ``max_running`` jobs run at once; the rest wait in FIFO order.
* Work returns a ``JobOutcome``; 2xx completes the job, anything else fails it, and the stored
  status/body are replayed to pollers.  Work that raises fails the job with 500 ``api_error``.
* Every transition is a compare-and-set in the store on the status and on the holder, so
  ``cancel`` (or another process that took the job over after this one's lease ran out) wins
  over a late result, and a completed result is never overwritten.
* Durable stores: this process renews its lease and, at every renewal, takes over the jobs of
  processes whose lease expired (``jobs.handover``), building their work from the stored payload
  with the factory registered for their kind (``resume``).
* ``close`` drains: no new work; running jobs get the grace period; what is still running then
  is put back to pending, and queued jobs are left pending, for the next process to claim.
* Results expire ``ttl_s`` seconds after completion; a background sweeper deletes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from jobs import handover, timers
from jobs.entry import Entry as _Entry
from jobs.entry import Release as Release
from jobs.entry import Work as Work
from jobs.errors import QueueFullError, ShuttingDownError
from jobs.ids import new_job_id, new_replica_id
from jobs.model import ACTIVE, Job, JobOutcome, JobStatus, api_error_outcome
from jobs.store import JobStore

logger = logging.getLogger(__name__)

Resume = Callable[[Job], Work]
"""Builds the work of a job from its stored record (``payload``), in a process that did not receive it."""

SHUTDOWN_MESSAGE = "job interrupted by gateway shutdown"
WORK_ERROR_MESSAGE = "internal error while running the job"

_UNWIND_S = 5.0  # how long close() waits for cancelled work and background loops to stop


class JobRegistry:
    def __init__(
        self,
        store: JobStore,
        *,
        max_running: int,
        max_queued: int,
        default_ttl_s: int = 3600,
        max_ttl_s: int = 86400,
        sweep_interval_s: float = 60,
        clock: Callable[[], float] = time.time,
        replica_id: str | None = None,
        max_attempts: int = 2,
    ) -> None:
        if max_running < 1 or max_queued < 0 or max_attempts < 1:
            raise ValueError("max_running and max_attempts must be >= 1 and max_queued >= 0")
        if default_ttl_s < 1 or max_ttl_s < 1 or sweep_interval_s <= 0:
            raise ValueError("TTLs must be >= 1 s and sweep_interval_s > 0")
        self._store = store
        self._max_running = max_running
        self._max_queued = max_queued
        self._max_ttl_s = max_ttl_s
        self._default_ttl_s = min(default_ttl_s, max_ttl_s)
        self._sweep_interval_s = sweep_interval_s
        self._clock = clock
        self._max_attempts = max_attempts
        self._resumers: dict[str, Resume] = {}
        self.replica_id = replica_id or new_replica_id()
        self._queue: OrderedDict[str, _Entry] = OrderedDict()
        self._running: dict[str, _Entry] = {}
        self._admissions: set[asyncio.Task[Job]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop = asyncio.Event()
        self._state = "new"  # new -> open -> closing -> closed

    @property
    def store(self) -> JobStore:
        """The store behind this registry (message batches keep their records in it too)."""
        return self._store

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    # -- metrics -------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Jobs whose work is executing now."""
        return len(self._running)

    @property
    def queued(self) -> int:
        """Jobs admitted but not yet running (including those still being written to the store)."""
        return len(self._queue) + len(self._admissions)

    # -- lifecycle -----------------------------------------------------------------------------

    def resume(self, kind: str, factory: Resume) -> None:
        """Take over jobs of ``kind`` left by dead processes, running them with ``factory(job)``."""
        self._resumers[kind] = factory

    async def start(self) -> None:
        """Take the lease, take over jobs whose holder's lease expired, start the background loops."""
        if self._state != "new":
            raise RuntimeError("JobRegistry.start() called twice")
        self._state = "open"
        interval = self._store.lease_renew_interval_s
        if interval is not None:
            await self._store.renew_lease(self.replica_id)
            await self.take_over(at_start=True)
            heartbeat = timers.every(interval, self._heartbeat, "lease", self._stop)
            self._background.append(asyncio.create_task(heartbeat, name="jobs-lease"))
        sweeper = timers.every(self._sweep_interval_s, self.sweep, "sweep", self._stop)
        self._background.append(asyncio.create_task(sweeper, name="jobs-sweeper"))

    async def close(self, grace_s: float = 30.0) -> None:
        """Drain: stop accepting work, give running jobs ``grace_s`` to finish, then hand back what is left.

        Jobs still queued stay pending in the store; jobs still running after the grace period
        are cancelled here and put back to pending (the attempt counts).  With a durable store
        the next process (or another replica) runs them; the memory store loses them.
        """
        if self._state in ("closing", "closed"):
            return
        self._state = "closing"
        queued, self._queue = list(self._queue.values()), OrderedDict()
        if self._admissions:  # each sees "closing", withdraws its job and raises ShuttingDownError
            await asyncio.wait(list(self._admissions))
        tasks = [e.task for e in self._running.values() if e.task is not None]
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        leftovers = list(self._running.values())
        for entry in leftovers:
            entry.released = True
            if entry.task is not None:
                entry.task.cancel()
        left = [e.task for e in leftovers if e.task is not None and not e.task.done()]
        if left:
            _, stuck = await asyncio.wait(left, timeout=_UNWIND_S)
            if stuck:
                logger.error("%d job task(s) ignored cancellation at shutdown", len(stuck))
        released = 0
        for entry in [*queued, *leftovers]:
            released += await handover.hand_back(self._store, entry.job, self.replica_id)
            await entry.give_back()  # a task cancelled before its first step never ran its own
        if released:
            logger.info("shutdown: %d job(s) left pending for the next process", released)
        self._stop.set()
        if self._background:
            _, late = await asyncio.wait(self._background, timeout=_UNWIND_S)
            for task in late:  # stuck in a store call; cancellation is the last resort
                task.cancel()
        self._background.clear()
        if self._store.lease_renew_interval_s is not None:
            with contextlib.suppress(Exception):
                await self._store.release_lease(self.replica_id)
        await self._store.close()
        self._state = "closed"

    async def take_over(self, *, at_start: bool = False) -> int:
        """Queue jobs of the registered kinds whose holder's lease expired, as far as there is room
        (``jobs.handover``); return how many were queued."""
        room = self._max_running + self._max_queued - self.running - self.queued
        if self._state != "open" or room <= 0 or not self._resumers:
            return 0
        kinds = set(self._resumers)
        queue = await handover.take_over(
            self._store,
            self.replica_id,
            kinds,
            now=self._clock(),
            room=room,
            max_attempts=self._max_attempts,
            at_start=at_start,
        )
        for job in queue:
            try:
                work = self._resumers[job.kind](job)
            except Exception:  # a record this version cannot run: fail it rather than hold it forever
                logger.exception("job %s: cannot be resumed", job.id)
                await self._settle(job, JobStatus.FAILED, api_error_outcome(WORK_ERROR_MESSAGE))
                continue
            self._queue[job.id] = _Entry(job, work)
        if queue:
            self._idle.clear()
            self._dispatch()
        return len(queue)

    # -- operations ----------------------------------------------------------------------------

    async def submit(
        self,
        owner: str,
        work: Work,
        *,
        ttl_s: int | None = None,
        kind: str = "message",
        meta: Mapping[str, str] | None = None,
        payload: bytes | None = None,
        release: Release | None = None,
    ) -> Job:
        """Admit ``work`` as a new pending job owned by ``owner`` and return its record.

        ``ttl_s``: seconds to keep the result after completion; ``None`` or <= 0 means the
        default, values above ``max_ttl_s`` are capped.  ``payload`` is stored with the job so
        that another process can run it (``resume``).  ``release`` is awaited once when the job
        leaves this process whether or not its work ran or finished -- done, canceled while queued,
        taken over before it started, handed back at shutdown -- so a reservation the submitter
        took for it is given back (it must be a no-op once the work settled it).  Raises
        ``QueueFullError`` or ``ShuttingDownError``.  Once admitted, the job runs even if the
        caller is cancelled.
        """
        if self._state == "new":
            raise RuntimeError("JobRegistry.start() must be awaited before submit()")
        if self._state != "open":
            raise ShuttingDownError("the job registry is shutting down")
        if self.running + self.queued >= self._max_running + self._max_queued:
            raise QueueFullError(f"{self.running} jobs running and {self.queued} queued")
        job = Job(
            id=new_job_id(),
            owner=owner,
            kind=kind,
            status=JobStatus.PENDING,
            created_at=self._clock(),
            result_ttl_s=self._ttl(ttl_s),
            meta=dict(meta or {}),
            lease_owner=self.replica_id,
            payload=payload,
        )
        admission = asyncio.create_task(self._admit(job, work, release), name=f"jobs-admit {job.id}")
        self._admissions.add(admission)
        self._idle.clear()
        admission.add_done_callback(self._admission_done)
        return await asyncio.shield(admission)

    async def get(self, job_id: str, owner: str) -> Job | None:
        """The job, or ``None`` if unknown, expired or owned by someone else (no hint which)."""
        job = await self._store.get(job_id)
        if job is None or job.owner != owner or job.is_expired(self._clock()):
            return None
        return job

    async def cancel(self, job_id: str, owner: str) -> Job | None:
        """Cancel a pending or processing job; a finished job is returned unchanged.

        A processing job's task is cancelled (only when it runs in this registry; on a shared
        store a job running on another replica is marked canceled, its result then discarded).
        """
        job = await self.get(job_id, owner)
        if job is None or job.is_terminal:
            return job
        queued = self._queue.pop(job_id, None)
        if queued is not None:  # it will not run here, whatever the store says next
            await queued.give_back()
        canceled = job.finished(JobStatus.CANCELED, None, self._clock())
        if not await self._store.update(canceled, expect=ACTIVE):
            return await self.get(job_id, owner)  # finished meanwhile
        entry = self._running.get(job_id)
        if entry is not None and entry.task is not None and entry.task is not asyncio.current_task():
            entry.task.cancel()
        self._check_idle()
        return canceled

    async def list(self, owner: str, kind: str | None = None) -> list[Job]:
        """The owner's unexpired jobs, oldest first."""
        now = self._clock()
        return [j for j in await self._store.list_for_owner(owner, kind) if not j.is_expired(now)]

    async def sweep(self) -> int:
        """Delete expired results now (the background sweeper calls this); return how many."""
        now = self._clock()
        return await self._store.delete_expired(now)

    async def wait_idle(self) -> None:
        """Wait until no job is admitted, queued or running in this registry."""
        await self._idle.wait()

    # -- internals -----------------------------------------------------------------------------

    def _ttl(self, ttl_s: int | None) -> int:
        if ttl_s is None or ttl_s <= 0:
            return self._default_ttl_s
        return min(ttl_s, self._max_ttl_s)

    async def _admit(self, job: Job, work: Work, release: Release | None) -> Job:
        await self._store.create(job)
        if self._state != "open":  # the submitter is told no: the job must not run later
            with contextlib.suppress(Exception):
                await self._store.delete(job.id)
            raise ShuttingDownError("the job registry is shutting down")
        self._queue[job.id] = _Entry(job, work, release=release)
        self._dispatch()
        return job

    def _admission_done(self, task: asyncio.Task[Job]) -> None:
        self._admissions.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here; the submitter (if still waiting) gets it too
        self._check_idle()

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self._max_running and self._state == "open":
            job_id, entry = self._queue.popitem(last=False)
            self._running[job_id] = entry
            entry.task = asyncio.create_task(self._run(entry), name=f"jobs-run {job_id}")
            # a done-callback, not a finally: a task cancelled before its first step never
            # enters the coroutine, and its slot must still be freed
            entry.task.add_done_callback(functools.partial(self._run_done, job_id))

    def _run_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("job %s: runner failed", job_id, exc_info=task.exception())
        self._dispatch()
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._running and not self._queue and not self._admissions:
            self._idle.set()

    async def _run(self, entry: _Entry) -> None:
        try:
            await self._attempt(entry)
        finally:
            await entry.give_back()

    async def _attempt(self, entry: _Entry) -> None:
        started = dataclasses.replace(
            entry.job, status=JobStatus.PROCESSING, started_at=self._clock(), attempts=entry.job.attempts + 1
        )
        start = functools.partial(self._store.update, started, expect={JobStatus.PENDING}, holder=self.replica_id)
        if not await timers.through_outages(start, self._is_open):
            return  # canceled (or taken over after this process's lease lapsed) before it started
        entry.job = started
        try:
            outcome = await entry.work()
            if not isinstance(outcome, JobOutcome):
                raise TypeError(f"job work returned {type(outcome).__name__}, not JobOutcome")
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                if not entry.released:  # cancel() already stored the final status; this covers anyone else
                    await self._settle(started, JobStatus.FAILED, api_error_outcome("job was cancelled"))
                raise
            logger.error("job %s: work raised CancelledError without being cancelled", started.id)
            outcome = api_error_outcome(WORK_ERROR_MESSAGE)
        except Exception:
            logger.exception("job %s: work raised", started.id)
            outcome = api_error_outcome(WORK_ERROR_MESSAGE)
        status = JobStatus.COMPLETED if outcome.ok else JobStatus.FAILED
        await self._settle(started, status, outcome)

    async def _settle(self, job: Job, status: JobStatus, outcome: JobOutcome | None) -> bool:
        """Move ``job`` to terminal ``status`` unless something else finished it or took it over."""
        final = job.finished(status, outcome, self._clock())
        try:
            store = functools.partial(self._store.update, final, expect=ACTIVE, holder=self.replica_id)
            if await timers.through_outages(store, self._is_open):
                return True
            current = await self._store.get(job.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job %s: could not store status %s", job.id, status.value)
            return False
        if current is not None and current.status != JobStatus.CANCELED:
            logger.warning(
                "job %s: result discarded: the job is %s, held by %s", job.id, current.status.value, current.lease_owner
            )
        return False

    def _is_open(self) -> bool:
        return self._state == "open"

    async def _heartbeat(self) -> None:
        await self._store.renew_lease(self.replica_id)
        await self.take_over()
