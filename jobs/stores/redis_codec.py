"""A ``Job`` as the fields of a Redis hash (absent field = None), and back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jobs.model import JOB_FIELDS, Job, JobStatus

_FIELDS = JOB_FIELDS


def encode(job: Job) -> tuple[dict[str, str | bytes], list[str]]:
    values: dict[str, Any] = {
        "id": job.id,
        "owner": job.owner,
        "kind": job.kind,
        "status": job.status.value,
        "created_at": repr(job.created_at),
        "result_ttl_s": str(job.result_ttl_s),
        "started_at": None if job.started_at is None else repr(job.started_at),
        "completed_at": None if job.completed_at is None else repr(job.completed_at),
        "expires_at": None if job.expires_at is None else repr(job.expires_at),
        "status_code": None if job.status_code is None else str(job.status_code),
        "result": job.result,
        "content_type": job.content_type,
        "meta": json.dumps(job.meta),
        "lease_owner": job.lease_owner,
        "attempts": str(job.attempts),
        "payload": job.payload,
    }
    present = {k: v for k, v in values.items() if v is not None}
    return present, [k for k in _FIELDS if k not in present]


def decode(flat: Sequence[bytes]) -> Job:
    raw = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    def text(name: str) -> str | None:
        value = raw.get(name)
        return None if value is None else value.decode()

    def num(name: str) -> float | None:
        value = text(name)
        return None if value is None else float(value)

    status_code = text("status_code")
    return Job(
        id=raw["id"].decode(),
        owner=raw["owner"].decode(),
        kind=raw["kind"].decode(),
        status=JobStatus(raw["status"].decode()),
        created_at=float(raw["created_at"]),
        result_ttl_s=int(raw["result_ttl_s"]),
        started_at=num("started_at"),
        completed_at=num("completed_at"),
        expires_at=num("expires_at"),
        status_code=None if status_code is None else int(status_code),
        result=raw.get("result"),
        content_type=text("content_type") or "application/json",
        meta=json.loads(raw.get("meta", b"{}")),
        lease_owner=text("lease_owner"),
        attempts=int(text("attempts") or 0),
        payload=raw.get("payload"),
    )
