"""Running one batch: its requests through the gateway with bounded concurrency.

At most ``per_batch`` requests of a batch are in flight, and all batches together hold at most
the shared ``total`` semaphore's slots, so a large batch cannot take the providers away from
interactive traffic. Each finished request's result is written to the store as an item record.

A batch stops taking new requests when it is canceled (in-flight ones finish and keep their
results) or when it reaches ``expires_at`` (in-flight ones are abandoned); requests without a
result then take the batch's disposition: canceled or expired. When the gateway shuts down,
in-flight requests get the grace period and the batch is handed back unfinished (no holder), for
the next process to resume. A cancel made on another replica (shared store) is seen by polling
the batch record, and so is a take-over (this process's lease lapsed): the run then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from jobs import timers
from jobs.batches import model
from jobs.batches.model import Batch
from jobs.errors import StoreUnavailableError
from jobs.model import ACTIVE, Job, JobStatus
from jobs.store import JobStore
from specgate.core.errors import error_body

log = logging.getLogger("specgate.batches")

Execute = Callable[[dict[str, Any]], Awaitable[bytes]]
"""Runs one request's params; returns its result object (succeeded or errored) as JSON bytes."""

WATCH_INTERVAL_S = 1.0


class BatchRun:
    def __init__(
        self,
        batch: Batch,
        params: list[dict[str, Any] | None],
        execute: Execute,
        *,
        store: JobStore,
        clock: Callable[[], float],
        per_batch: int,
        total: asyncio.Semaphore,
        keep_until: float,
        holder: str,
        succeeded: int = 0,
        errored: int = 0,
    ) -> None:
        """``params[i]`` is None for a request that already has a result (a resumed batch);
        ``succeeded``/``errored`` count those results."""
        self.batch = batch
        self._params = params
        self._execute = execute
        self._store = store
        self._clock = clock
        self._per_batch = per_batch
        self._total = total
        self._keep_until = keep_until
        self._holder = holder
        self._next = 0
        self._todo = sum(1 for p in params if p is not None)
        self._workers: list[asyncio.Task[None]] = []
        self.stop_reason: str | None = None  # "canceled" | "shutdown" | "lost"
        self.succeeded = succeeded
        self.errored = errored

    @property
    def remaining(self) -> int:
        """Requests not yet started (their params are still held in memory)."""
        return self._todo

    def stop(self, reason: str) -> None:
        """Take no more requests; in-flight ones finish."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def abort(self) -> None:
        """Abandon in-flight requests too."""
        for worker in self._workers:
            worker.cancel()

    async def run(self) -> None:
        count = len(self._params)
        self._workers = [
            asyncio.create_task(self._work(), name=f"batch {self.batch.id} worker")
            for _ in range(min(self._per_batch, count))
        ]
        watcher = asyncio.create_task(self._watch(), name=f"batch {self.batch.id} watcher")
        expired = False
        try:
            timeout = max(self.batch.expires_at - self._clock(), 0.0)
            _, pending = await asyncio.wait(self._workers, timeout=timeout)
            if pending:
                expired = self.stop_reason is None
                self.stop("expired")
                self.abort()
                await asyncio.wait(pending)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await self._finish(expired)

    async def _work(self) -> None:
        while self.stop_reason is None and self._next < len(self._params):
            index = self._next
            self._next += 1
            params = self._params[index]
            self._params[index] = None  # the request is not needed once taken
            if params is None:
                continue
            self._todo -= 1
            async with self._total:
                if self.stop_reason is not None:  # stopped while waiting for a slot
                    return
                result = await self._run_one(params)
            await self._record(index, result)

    async def _run_one(self, params: dict[str, Any]) -> bytes:
        try:
            return await self._execute(params)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch %s: a request raised", self.batch.id)
            return model.errored_result(error_body("api_error", "Internal server error", None))

    async def _record(self, index: int, result: bytes) -> None:
        now = self._clock()
        item = Job(
            id=model.item_record_id(self.batch.id, index),
            owner=model.items_owner(self.batch.id),
            kind=model.ITEM_KIND,
            status=JobStatus.COMPLETED,
            created_at=now,
            completed_at=now,
            expires_at=self._keep_until,
            result_ttl_s=max(1, int(self._keep_until - now)),
            result=result,
        )
        try:
            await timers.through_outages(functools.partial(self._store.create, item), self._running)
        except asyncio.CancelledError:
            raise
        except Exception:  # counted as unfinished: the batch still ends, with this request errored
            log.exception("batch %s: could not store the result of request %d", self.batch.id, index)
            return
        if model.result_type(result) == "succeeded":
            self.succeeded += 1
        else:
            self.errored += 1

    async def _watch(self) -> None:
        """Notice a cancel made elsewhere (another replica) or a record failed by the store."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                job = await self._store.get(self.batch.id)
            except StoreUnavailableError as exc:
                log.warning("batch %s: could not read its record: %s", self.batch.id, exc)
                continue
            except Exception:
                log.exception("batch %s: could not read its record", self.batch.id)
                continue
            if job is None or job.status not in ACTIVE or job.lease_owner != self._holder:
                self.stop("lost")
                self.abort()
                return
            if Batch(job).cancel_initiated_at is not None:
                self.stop("canceled")

    def _running(self) -> bool:
        return self.stop_reason != "shutdown"

    async def _finish(self, expired: bool) -> None:
        current = await timers.through_outages(functools.partial(self._store.get, self.batch.id), self._running)
        if current is None or current.status not in ACTIVE or current.lease_owner != self._holder:
            log.warning("batch %s: its record was removed or taken over before it ended here", self.batch.id)
            return
        if self.stop_reason == "shutdown" and not expired:  # the next process resumes it
            released = dataclasses.replace(current, lease_owner=None)
            if await self._store.update(released, expect=ACTIVE, holder=self._holder):
                log.info("batch %s: handed back at shutdown with %d request(s) left", self.batch.id, self.unfinished)
            return
        unfinished = self.unfinished
        meta = dict(current.meta, succeeded=str(self.succeeded), errored=str(self.errored), canceled="0", expired="0")
        if expired:
            disposition = "expired"
        elif self.stop_reason == "canceled":
            disposition = "canceled"
        else:  # results that could not be stored
            disposition = "errored"
            meta["reason"] = "request result was not stored"
        meta["unfinished"] = disposition
        meta[disposition] = str(int(meta[disposition]) + unfinished)
        final = dataclasses.replace(current.finished(JobStatus.COMPLETED, None, self._clock()), meta=meta)
        end = functools.partial(self._store.update, final, expect=ACTIVE, holder=self._holder)
        if not await timers.through_outages(end, self._running):
            log.warning("batch %s: ended elsewhere meanwhile", self.batch.id)

    @property
    def unfinished(self) -> int:
        return len(self._params) - self.succeeded - self.errored
