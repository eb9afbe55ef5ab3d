"""Job records, statuses and outcomes.

A ``Job`` is an immutable snapshot; stores hand out copies and transitions are made with
``dataclasses.replace``.  ``result`` holds the exact HTTP response body bytes that the
synchronous path would have returned, ``status_code`` its HTTP status; a poller gets both replayed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON_CONTENT_TYPE = "application/json"


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})
ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.PROCESSING})


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a job's work produced: the HTTP status and body the synchronous path would send."""

    status_code: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE

    @property
    def ok(self) -> bool:
        """2xx outcomes complete the job; anything else fails it (and is replayed as is)."""
        return 200 <= self.status_code < 300


def api_error_body(message: str) -> bytes:
    """Anthropic ``api_error`` envelope bytes for failures the registry itself produces.

    jobs/ stays independent of ``specgate.core.errors``; the shape matches ``error_body`` there.
    """
    body = {"type": "error", "error": {"type": "api_error", "message": message}, "request_id": None}
    return json.dumps(body, separators=(",", ":")).encode()


def api_error_outcome(message: str) -> JobOutcome:
    return JobOutcome(500, api_error_body(message))


@dataclass(frozen=True, slots=True)
class Job:
    """One job record.  Times are seconds since the epoch (the registry's clock).

    ``expires_at`` is set when the job reaches a terminal status: ``completed_at + result_ttl_s``.
    ``lease_owner`` names the process holding the job (queued or running there); a durable store
    hands the job to another process once that process's lease has expired (``JobStore.take_over``).
    ``attempts`` counts the runs started (a run cut short by a dead process is one attempt; one
    handed back at a drain is not counted) and
    ``payload`` is what a process that did not receive the request needs to run it (JSON bytes).
    """

    id: str
    owner: str
    kind: str
    status: JobStatus
    created_at: float
    result_ttl_s: int
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None
    status_code: int | None = None
    result: bytes | None = None
    content_type: str = JSON_CONTENT_TYPE
    meta: dict[str, str] = field(default_factory=dict)
    lease_owner: str | None = None
    attempts: int = 0
    payload: bytes | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def finished(self, status: JobStatus, outcome: JobOutcome | None, now: float) -> Job:
        """Return this job moved to terminal ``status`` at ``now``, with its expiry clock started."""
        return dataclasses.replace(
            self,
            status=status,
            completed_at=now,
            expires_at=now + self.result_ttl_s,
            status_code=outcome.status_code if outcome else None,
            result=outcome.body if outcome else None,
            content_type=outcome.content_type if outcome else self.content_type,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``result`` base64-encoded)."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["status"] = self.status.value
        d["meta"] = dict(self.meta)
        d["result"] = None if self.result is None else base64.b64encode(self.result).decode("ascii")
        d["payload"] = None if self.payload is None else base64.b64encode(self.payload).decode("ascii")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        result = d.get("result")
        payload = d.get("payload")
        return cls(
            id=str(d["id"]),
            owner=str(d["owner"]),
            kind=str(d["kind"]),
            status=JobStatus(d["status"]),
            created_at=float(d["created_at"]),
            result_ttl_s=int(d["result_ttl_s"]),
            started_at=_opt_float(d.get("started_at")),
            completed_at=_opt_float(d.get("completed_at")),
            expires_at=_opt_float(d.get("expires_at")),
            status_code=None if d.get("status_code") is None else int(d["status_code"]),
            result=None if result is None else base64.b64decode(result),
            content_type=str(d.get("content_type") or JSON_CONTENT_TYPE),
            meta={str(k): str(v) for k, v in (d.get("meta") or {}).items()},
            lease_owner=None if d.get("lease_owner") is None else str(d["lease_owner"]),
            attempts=int(d.get("attempts") or 0),
            payload=None if payload is None else base64.b64decode(payload),
        )

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Job:
        return cls.from_dict(json.loads(raw))


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Job))
"""The stored fields of a job, in order (columns in SQLite, hash fields in Redis)."""
