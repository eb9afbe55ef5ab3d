"""``BatchService``: create, read, list, cancel, delete and read the results of message batches.

Built in the app lifespan over the job registry's store (see ``jobs.batches.model`` for the records).
Batches belong to the principal that created them: another principal's batch, an unknown id and
an expired batch are the same ``None`` (404 for the handlers).

With a durable store a batch outlives its process: ``start`` (and a timer after it) takes over
the batches of processes whose lease expired and runs their requests that have no result yet,
with the executor that ``resume_with`` builds from the batch's stored context.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import orjson

from jobs.batches import model
from jobs.batches.model import Batch
from jobs.batches.runner import BatchRun, Execute
from jobs.model import ACTIVE, Job, JobStatus
from jobs.store import JobStore
from specgate.core import deepjson
from specgate.core.config import BatchesConfig
from specgate.core.errors import InvalidRequestError, OverloadedError

log = logging.getLogger("specgate.batches")

READ_CHUNK = 256  # item records read concurrently when streaming results or finalizing


class BatchService:
    def __init__(self, store: JobStore, config: BatchesConfig, *, clock: Callable[[], float], replica_id: str) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._replica_id = replica_id
        self._total = asyncio.Semaphore(config.max_total_concurrency)
        self._runs: dict[str, BatchRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._resume: Callable[[Batch], Execute] | None = None
        self._adopter: asyncio.Task[None] | None = None

    def resume_with(self, factory: Callable[[Batch], Execute]) -> None:
        """How to run the requests of a batch created by another process (from ``Batch.context``)."""
        self._resume = factory

    async def start(self) -> None:
        """Take over batches whose process died, now and then every lease renewal (durable stores)."""
        interval = self._store.lease_renew_interval_s
        if interval is None or self._resume is None:
            return
        await self.take_over(at_start=True)
        self._adopter = asyncio.create_task(self._adopt_every(interval), name="batches-take-over")

    @property
    def running(self) -> int:
        """Batches this replica is running now."""
        return len(self._runs)

    @property
    def pending_requests(self) -> int:
        """Their requests not yet processed."""
        return sum(run.remaining for run in self._runs.values())

    # -- operations ----------------------------------------------------------------------------

    async def create(
        self,
        owner: str,
        requests: Sequence[tuple[str, dict[str, Any]]],
        execute: Execute,
        context: Mapping[str, str] | None = None,
    ) -> Batch:
        """Store a new batch of (custom_id, params) and start running it.  ``context`` is what
        ``resume_with``'s factory needs to run the requests in another process."""
        if self._closing:
            raise OverloadedError("the server is shutting down; retry on another replica")
        pending = sum(run.remaining for run in self._runs.values())
        if pending + len(requests) > self._config.max_pending_requests:
            raise OverloadedError("too many batch requests are waiting to be processed; retry later")
        now = self._clock()
        batch_id = model.new_batch_id()
        expires_at = now + self._config.expires_after_s
        keep_until = expires_at + self._config.retention_s
        ids = deepjson.dumps([custom_id for custom_id, _ in requests])
        bodies = deepjson.dumps([params for _, params in requests])  # as deep as a request may be
        for record_id, kind, result in (
            (model.ids_record_id(batch_id), model.IDS_KIND, ids),
            (model.params_record_id(batch_id), model.PARAMS_KIND, bodies),
        ):
            await self._store.create(
                Job(
                    id=record_id,
                    owner=model.items_owner(batch_id),
                    kind=kind,
                    status=JobStatus.COMPLETED,
                    created_at=now,
                    completed_at=now,
                    expires_at=keep_until,
                    result_ttl_s=int(keep_until - now),
                    result=result,
                )
            )
        meta = {"count": str(len(requests)), "expires_at": repr(expires_at)}
        meta.update({model.CONTEXT_PREFIX + k: v for k, v in (context or {}).items()})
        job = Job(
            id=batch_id,
            owner=owner,
            kind=model.BATCH_KIND,
            status=JobStatus.PROCESSING,
            created_at=now,
            started_at=now,
            result_ttl_s=self._config.retention_s,
            meta=meta,
            lease_owner=self._replica_id,
            attempts=1,
        )
        await self._store.create(job)
        batch = Batch(job)
        self._start(batch, [params for _, params in requests], execute, keep_until)
        return batch

    async def get(self, owner: str, batch_id: str) -> Batch | None:
        if not model.is_batch_id(batch_id):
            return None
        job = await self._store.get(batch_id)
        if job is None or job.kind != model.BATCH_KIND or job.owner != owner or job.is_expired(self._clock()):
            return None
        return await self._settled(Batch(job))

    async def owned(self, owner: str) -> list[Batch]:
        """The principal's batches, newest first."""
        now = self._clock()
        jobs = await self._store.list_for_owner(owner, model.BATCH_KIND)
        live = [Batch(job) for job in reversed(jobs) if not job.is_expired(now)]
        return [await self._settled(batch) for batch in live]

    async def cancel(self, owner: str, batch_id: str) -> Batch | None:
        batch = await self.get(owner, batch_id)
        if batch is None or batch.ended or batch.cancel_initiated_at is not None:
            return batch
        meta = dict(batch.job.meta, cancel_initiated_at=repr(self._clock()))
        canceling = dataclasses.replace(batch.job, meta=meta)
        if not await self._store.update(canceling, expect=ACTIVE):
            return await self.get(owner, batch_id)  # ended meanwhile
        run = self._runs.get(batch_id)
        if run is not None:
            run.stop("canceled")
        return Batch(canceling)

    async def delete(self, owner: str, batch_id: str) -> bool:
        batch = await self.get(owner, batch_id)
        if batch is None:
            return False
        if not batch.ended:
            raise InvalidRequestError(
                f"message batch {batch_id} is still {batch.processing_status}: "
                "it can be deleted once processing has ended (cancel it first)"
            )
        if not await self._store.delete(batch_id):
            return False
        self._spawn(self._delete_items(batch), name=f"batch {batch_id} cleanup")
        return True

    async def results(self, owner: str, batch_id: str) -> AsyncIterator[bytes] | None:
        """The JSONL lines of an ended batch, read from the store as they are sent."""
        batch = await self.get(owner, batch_id)
        if batch is None:
            return None
        if not batch.ended:
            raise InvalidRequestError(
                f"message batch {batch_id} is still {batch.processing_status}: "
                "results are available once processing has ended"
            )
        custom_ids = await self._custom_ids(batch)
        return self._lines(batch, custom_ids)

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self, grace_s: float) -> None:
        """Stop taking requests, give in-flight ones ``grace_s``, then end every running batch."""
        self._closing = True
        if self._adopter is not None:
            self._adopter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adopter
        for run in self._runs.values():
            run.stop("shutdown")
        tasks = list(self._tasks)
        if tasks and grace_s > 0:
            await asyncio.wait(tasks, timeout=grace_s)
        for run in list(self._runs.values()):
            run.abort()
        for task in [t for t in self._tasks if "cleanup" in t.get_name()]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # -- internals -----------------------------------------------------------------------------

    async def take_over(self, *, at_start: bool = False) -> int:
        """Resume the batches of processes whose lease expired; return how many."""
        if self._closing or self._resume is None:
            return 0
        taken = await self._store.take_over(self._replica_id, {model.BATCH_KIND}, self._clock(), 16)
        left = 0
        for job in taken:
            left += await self._resume_batch(job)
        if taken or at_start:
            log.log(
                logging.WARNING if taken else logging.INFO,
                "batches%s: took over %d batch(es) of stopped processes, %d request(s) left to run",
                " at start-up" if at_start else "",
                len(taken),
                left,
            )
        return len(taken)

    async def _adopt_every(self, interval: float) -> None:
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self.take_over()
            except Exception as exc:  # a store outage: the next tick tries again
                log.warning("batches: take-over failed: %s", exc)

    async def _resume_batch(self, job: Job) -> int:
        """Run the requests of a taken-over batch that have no result yet; return how many."""
        assert self._resume is not None
        job = dataclasses.replace(job, attempts=job.attempts + 1)
        if not await self._store.update(job, expect=ACTIVE, holder=self._replica_id):
            return 0
        batch = Batch(job)
        record = await self._store.get(model.params_record_id(batch.id))
        if record is None or record.result is None:  # created by an earlier version: nothing to rerun
            failed = dataclasses.replace(job, status=JobStatus.FAILED, lease_owner=None)
            await self._store.update(failed, expect=ACTIVE, holder=self._replica_id)
            return 0
        params: list[dict[str, Any] | None] = orjson.loads(record.result)
        succeeded = errored = 0
        for start in range(0, batch.count, READ_CHUNK):
            indices = range(start, min(start + READ_CHUNK, batch.count))
            for index, item in zip(indices, await self._items(batch, indices), strict=True):
                if item is not None and item.result:
                    params[index] = None
                    if model.result_type(item.result) == "succeeded":
                        succeeded += 1
                    else:
                        errored += 1
        keep_until = batch.expires_at + self._config.retention_s
        return self._start(batch, params, self._resume(batch), keep_until, succeeded, errored).remaining

    def _start(
        self,
        batch: Batch,
        params: list[dict[str, Any] | None],
        execute: Execute,
        keep_until: float,
        succeeded: int = 0,
        errored: int = 0,
    ) -> BatchRun:
        """Run ``params`` (None: an item already done) of ``batch`` in the background, as ours."""
        run = BatchRun(
            batch,
            params,
            execute,
            store=self._store,
            clock=self._clock,
            per_batch=self._config.max_concurrency,
            total=self._total,
            keep_until=keep_until,
            holder=self._replica_id,
            succeeded=succeeded,
            errored=errored,
        )
        self._runs[batch.id] = run
        self._spawn(self._run(run), name=f"batch {batch.id}")
        return run

    def _spawn(self, coro: Any, *, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, run: BatchRun) -> None:
        try:
            await run.run()
        except Exception:
            log.exception("batch %s failed", run.batch.id)
        finally:
            self._runs.pop(run.batch.id, None)

    async def _items(self, batch: Batch, indices: range) -> list[Job | None]:
        return list(await asyncio.gather(*(self._store.get(model.item_record_id(batch.id, i)) for i in indices)))

    async def _custom_ids(self, batch: Batch) -> list[str]:
        record = await self._store.get(model.ids_record_id(batch.id))
        if record is None or record.result is None:
            raise InvalidRequestError(f"message batch {batch.id}: its results are no longer available")
        ids: list[str] = orjson.loads(record.result)
        return ids

    async def _lines(self, batch: Batch, custom_ids: list[str]) -> AsyncIterator[bytes]:
        fallback = model.unfinished_result(batch)
        for start in range(0, len(custom_ids), READ_CHUNK):
            indices = range(start, min(start + READ_CHUNK, len(custom_ids)))
            items = await self._items(batch, indices)
            chunk = [
                model.result_line(custom_ids[i], item.result if item is not None and item.result else fallback)
                for i, item in zip(indices, items, strict=True)
            ]
            yield b"".join(chunk)

    async def _settled(self, batch: Batch) -> Batch:
        """An interrupted batch (its process or replica died) ends now: requests without a result
        become errored with the store's reason."""
        if not batch.interrupted:
            return batch
        job = batch.job
        reason = "batch interrupted"
        if job.result:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reason = f"batch interrupted: {orjson.loads(job.result)['error']['message']}"
        succeeded = errored = 0
        for start in range(0, batch.count, READ_CHUNK):
            for item in await self._items(batch, range(start, min(start + READ_CHUNK, batch.count))):
                if item is not None and item.result:
                    if model.result_type(item.result) == "succeeded":
                        succeeded += 1
                    else:
                        errored += 1
        missing = batch.count - succeeded - errored
        meta = dict(
            job.meta,
            succeeded=str(succeeded),
            errored=str(errored + missing),
            canceled="0",
            expired="0",
            unfinished="errored",
            reason=reason,
        )
        ended_at = job.completed_at or self._clock()
        final = dataclasses.replace(
            job,
            status=JobStatus.COMPLETED,
            completed_at=ended_at,
            expires_at=ended_at + job.result_ttl_s,
            status_code=None,
            result=None,
            meta=meta,
        )
        if await self._store.update(final, expect={JobStatus.FAILED, JobStatus.CANCELED}):
            log.warning("batch %s ended: %s (%d request(s) errored)", batch.id, reason, missing)
            return Batch(final)
        current = await self._store.get(batch.id)
        return Batch(current) if current is not None else Batch(final)

    async def _delete_items(self, batch: Batch) -> None:
        for start in range(0, batch.count, READ_CHUNK):
            end = min(start + READ_CHUNK, batch.count)
            await asyncio.gather(*(self._store.delete(model.item_record_id(batch.id, i)) for i in range(start, end)))
        await self._store.delete(model.ids_record_id(batch.id))
        await self._store.delete(model.params_record_id(batch.id))
