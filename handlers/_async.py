"""Bifrost-compatible async inference on the message routes.

``x-bf-async: true`` submits the request as a job and answers at once with an Anthropic-shaped
Message whose ``id`` is the job id and whose ``content`` is empty; ``x-bf-async-id: <id>`` polls
it (the body is then ignored). The job's result is the exact response the synchronous path would
have sent (status and body), replayed to the poller. Jobs belong to the principal that submitted
them: an unknown, expired or someone else's job is the same 404.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from jobs.errors import QueueFullError, ShuttingDownError
from jobs.model import Job, JobOutcome, JobStatus
from jobs.registry import JobRegistry
from providers import shapes
from specgate.contract import rules
from specgate.contract.rules import ASYNC_HEADER, ASYNC_ID_HEADER
from specgate.core import deepjson
from specgate.core.errors import GatewayError, InvalidRequestError, NotFoundError, OverloadedError
from specgate.core.responses import envelope_success, error_parts
from specgate.ops.metrics import Metrics

TTL_HEADER = "x-bf-async-job-result-ttl"
STATUS_HEADER = "x-bf-async-status"
ANONYMOUS = "anonymous"


def wants_async(headers: Any) -> bool:
    value = headers.get(ASYNC_HEADER)
    if value is None:
        return False
    if value.strip().lower() != "true":
        raise InvalidRequestError(f"{ASYNC_HEADER}: must be 'true' (got an unsupported value)")
    return True


def result_ttl(headers: Any) -> int | None:
    raw = headers.get(TTL_HEADER)
    if raw is None:
        return None
    try:
        ttl = int(raw.strip())
    except ValueError:
        raise InvalidRequestError(f"{TTL_HEADER}: must be a positive integer number of seconds") from None
    if ttl < 1:
        raise InvalidRequestError(f"{TTL_HEADER}: must be a positive integer number of seconds")
    return ttl


def _placeholder(job: Job, model: str) -> dict[str, Any]:
    """The Message a pending or processing job answers with: its id, an empty content, usage zeros
    (complete, as every Message: ``providers.shapes``)."""
    return shapes.message(
        id=job.id,
        model=model,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=shapes.usage(0, 0, service_tier=None),
    )


def _placeholder_response(job: Job, *, envelope: bool) -> Response:
    message = _placeholder(job, job.meta.get("model", ""))
    content = envelope_success(message) if envelope else deepjson.dumps(message)
    return Response(
        content,
        media_type="application/json",
        headers={ASYNC_ID_HEADER: job.id, STATUS_HEADER: str(job.status)},
    )


def job_work(
    run: Callable[[], Awaitable[Response]], *, request_id: str, envelope: bool, metrics: Metrics | None
) -> Callable[[], Awaitable[JobOutcome]]:
    """A job's work: ``run``'s response as the stored outcome (a gateway error as its error body)."""

    async def work() -> JobOutcome:
        started = time.perf_counter()
        outcome = "failed"
        try:
            response = await run()
            outcome = "succeeded" if response.status_code < 400 else "failed"
            return JobOutcome(response.status_code, bytes(response.body))
        except GatewayError as exc:
            status, content, _ = error_parts(exc, request_id, envelope=envelope)
            return JobOutcome(status, content)
        finally:
            if metrics is not None:
                metrics.job_finished("message", outcome, time.perf_counter() - started)

    return work


async def submit(
    registry: JobRegistry,
    owner: str,
    body: dict[str, Any],
    run: Callable[[], Awaitable[Response]],
    *,
    request_id: str,
    envelope: bool,
    ttl_s: int | None,
    metrics: Metrics | None = None,
    payload: bytes | None = None,
    release: Callable[[], Awaitable[None]] | None = None,
) -> Response:
    """Submit ``run`` as a job; ``payload`` lets another process run it if this one stops first;
    ``release`` gives back its reservation if it leaves this process unsettled (``JobRegistry.submit``)."""
    rules.check_async(body)
    work = job_work(run, request_id=request_id, envelope=envelope, metrics=metrics)
    if metrics is not None:
        metrics.job_started("message")  # queued or running from here on
    try:
        job = await registry.submit(
            owner,
            work,
            ttl_s=ttl_s,
            kind="message",
            meta={"model": str(body["model"])},
            payload=payload,
            release=release,
        )
    except (QueueFullError, ShuttingDownError) as exc:
        if metrics is not None:
            metrics.job_finished("message", "rejected")
        if isinstance(exc, QueueFullError):
            raise OverloadedError("async job queue is full; retry later") from None
        raise OverloadedError("the server is shutting down; retry on another replica") from None
    return _placeholder_response(job, envelope=envelope)


async def poll(registry: JobRegistry, owner: str, job_id: str, *, envelope: bool) -> Response:
    job = await registry.get(job_id.strip(), owner)
    if job is None or job.kind != "message":  # message batches live in the same store
        raise NotFoundError(f"{ASYNC_ID_HEADER}: no such job (unknown, expired, or not yours)")
    if job.status in (JobStatus.COMPLETED, JobStatus.FAILED) and job.result is not None:
        return Response(
            job.result,
            status_code=job.status_code or 500,
            media_type=job.content_type,
            headers={ASYNC_ID_HEADER: job.id, STATUS_HEADER: str(job.status)},
        )
    return _placeholder_response(job, envelope=envelope)
