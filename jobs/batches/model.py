"""Message batches as job-store records, and their wire shapes (pure functions).

A batch lives in the ``JobStore`` as three kinds of records, so it survives restarts with the
durable stores and is shared by replicas with Redis, without any change to the store protocol:

    {batch_id}          kind "message_batch", owned by the principal; ``status`` pending/processing
                        while it runs, completed once ended; ``meta`` holds the counts and times
    {batch_id}.ids      kind "message_batch_ids": the custom_ids in request order (JSON ``result``)
    {batch_id}.params   kind "message_batch_params": the requests' params in order (JSON ``result``),
                        so that another process can resume the batch
    {batch_id}.{index}  kind "message_batch_item": one request's ``result`` object, written when it
                        finishes; a request with no record when the batch ends takes the batch's
                        ``unfinished`` disposition (canceled, expired, or errored with ``reason``)

Item, ids and params records belong to the synthetic owner ``batch-items/{batch_id}``, so listing
a principal's batches never reads them. A running batch is held by one process (``lease_owner``);
when that process dies its lease expires and another process takes the batch over and runs the
requests that have no result yet. A batch record failed by an earlier version of the stores
(status failed) is finalized on first read: requests without a result become errored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from jobs.ids import new_job_id
from jobs.model import Job, JobStatus
from specgate.core import deepjson
from specgate.core.errors import error_body

BATCH_KIND = "message_batch"
IDS_KIND = "message_batch_ids"
ITEM_KIND = "message_batch_item"
PARAMS_KIND = "message_batch_params"
CONTEXT_PREFIX = "ctx."  # batch meta keys the creating request's context is stored under
ID_PREFIX = "msgbatch_"
_ID_RE = re.compile(r"msgbatch_[a-z2-7]{26}")
COUNT_KEYS = ("succeeded", "errored", "canceled", "expired")


def new_batch_id() -> str:
    """``msgbatch_`` and 26 base32 characters: 128 random bits, carrying no information."""
    return ID_PREFIX + new_job_id().removeprefix("job_")


def is_batch_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def items_owner(batch_id: str) -> str:
    return f"batch-items/{batch_id}"


def ids_record_id(batch_id: str) -> str:
    return f"{batch_id}.ids"


def params_record_id(batch_id: str) -> str:
    return f"{batch_id}.params"


def item_record_id(batch_id: str, index: int) -> str:
    return f"{batch_id}.{index}"


def rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Batch:
    """A parsed batch record."""

    job: Job

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def count(self) -> int:
        return int(self.job.meta["count"])

    @property
    def expires_at(self) -> float:
        return float(self.job.meta["expires_at"])

    @property
    def cancel_initiated_at(self) -> float | None:
        value = self.job.meta.get("cancel_initiated_at")
        return None if value is None else float(value)

    @property
    def ended(self) -> bool:
        return self.job.status == JobStatus.COMPLETED

    @property
    def interrupted(self) -> bool:
        """A store failed it (dead process or replica): it must be finalized before use."""
        return self.job.status in (JobStatus.FAILED, JobStatus.CANCELED)

    @property
    def context(self) -> dict[str, str]:
        """What the creating request said that running its requests needs (version, betas)."""
        n = len(CONTEXT_PREFIX)
        return {k[n:]: v for k, v in self.job.meta.items() if k.startswith(CONTEXT_PREFIX)}

    @property
    def processing_status(self) -> str:
        if self.ended:
            return "ended"
        return "canceling" if self.cancel_initiated_at is not None else "in_progress"

    @property
    def unfinished(self) -> str:
        return self.job.meta.get("unfinished", "errored")

    @property
    def reason(self) -> str:
        return self.job.meta.get("reason", "")

    def counts(self) -> dict[str, int]:
        if not self.ended:
            return {"processing": self.count, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        return {"processing": 0, **{key: int(self.job.meta.get(key, "0")) for key in COUNT_KEYS}}


def render(batch: Batch, collection_url: str) -> dict[str, Any]:
    """The MessageBatch object; ``collection_url`` is this gateway's …/v1/messages/batches URL."""
    ended = batch.ended
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": batch.processing_status,
        "request_counts": batch.counts(),
        "created_at": rfc3339(batch.job.created_at),
        "ended_at": rfc3339(batch.job.completed_at) if ended else None,
        "expires_at": rfc3339(batch.expires_at),
        "cancel_initiated_at": rfc3339(batch.cancel_initiated_at),
        "archived_at": None,
        "results_url": f"{collection_url}/{batch.id}/results" if ended else None,
    }


def deleted(batch_id: str) -> dict[str, str]:
    return {"id": batch_id, "type": "message_batch_deleted"}


def succeeded_result(message: dict[str, Any]) -> bytes:
    return deepjson.dumps({"type": "succeeded", "message": message})


def errored_result(error: dict[str, Any]) -> bytes:
    """``error`` is a whole Anthropic error body ({"type": "error", "error": {...}, ...})."""
    return deepjson.dumps({"type": "errored", "error": error})


def unfinished_result(batch: Batch) -> bytes:
    """The result of a request that has no result record once its batch ended."""
    if batch.unfinished == "errored":
        return errored_result(error_body("api_error", batch.reason or "request was not processed", None))
    return deepjson.dumps({"type": batch.unfinished})


def result_type(result: bytes) -> str:
    return str(orjson.loads(result)["type"])


def result_line(custom_id: str, result: bytes) -> bytes:
    """One JSONL line; ``result`` is stored JSON, spliced in without re-encoding."""
    return b'{"custom_id":' + deepjson.dumps(custom_id) + b',"result":' + result + b"}\n"
