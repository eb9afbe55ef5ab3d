"""Job ids, the Job record's serialisation and JobOutcome."""

from __future__ import annotations

import base64
import dataclasses

from jobs.ids import is_job_id, new_job_id, new_replica_id
from jobs.model import ACTIVE, TERMINAL, Job, JobOutcome, JobStatus, api_error_body


def test_ids_unique_and_carry_128_random_bits() -> None:
    ids = [new_job_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for job_id in ids[:200]:
        assert is_job_id(job_id) and job_id.startswith("job_") and len(job_id) == 30
        raw = base64.b32decode(job_id[4:].upper() + "======")
        assert len(raw) == 16  # 128 bits
    # every bit position varies across ids (a constant prefix or counter would not)
    ored, anded = 0, (1 << 128) - 1
    for job_id in ids[:2000]:
        value = int.from_bytes(base64.b32decode(job_id[4:].upper() + "======"), "big")
        ored |= value
        anded &= value
    assert ored == (1 << 128) - 1 and anded == 0
    assert not is_job_id("job_" + "A" * 26) and not is_job_id("msg_abc") and not is_job_id(ids[0] + "x")
    assert new_replica_id() != new_replica_id()


def test_status_sets() -> None:
    assert set(JobStatus) == TERMINAL | ACTIVE and not TERMINAL & ACTIVE
    assert JobStatus.CANCELED in TERMINAL and JobStatus.PENDING in ACTIVE


def test_job_round_trips_through_dict_and_bytes() -> None:
    job = Job(
        id=new_job_id(),
        owner="key:1",
        kind="batch_item",
        status=JobStatus.FAILED,
        created_at=1732233333.123456,
        result_ttl_s=60,
        started_at=1732233334.5,
        completed_at=1732233335.25,
        expires_at=1732233395.25,
        status_code=429,
        result=b"\x00\xff{not json",
        content_type="application/json",
        meta={"custom_id": "a|b"},
        lease_owner="rep_1",
    )
    assert Job.from_dict(job.to_dict()) == job
    assert Job.from_bytes(job.to_bytes()) == job
    minimal = Job(id="j", owner="o", kind="m", status=JobStatus.PENDING, created_at=1, result_ttl_s=1)
    assert Job.from_bytes(minimal.to_bytes()) == minimal


def test_finished_starts_the_expiry_clock_at_completion() -> None:
    job = Job(id="j", owner="o", kind="message", status=JobStatus.PROCESSING, created_at=10, result_ttl_s=30)
    done = job.finished(JobStatus.COMPLETED, JobOutcome(200, b"{}", "application/x"), 100.0)
    assert (done.completed_at, done.expires_at, done.status_code, done.result) == (100.0, 130.0, 200, b"{}")
    assert done.content_type == "application/x" and done.is_terminal and not done.is_expired(129.9)
    assert done.is_expired(130.0)
    assert dataclasses.replace(done, expires_at=None).is_expired(1e12) is False


def test_outcome_ok_is_2xx_only() -> None:
    assert [JobOutcome(s, b"").ok for s in (199, 200, 204, 299, 300, 429, 500)] == [
        False,
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_api_error_body_bytes() -> None:
    assert api_error_body("job interrupted by restart") == (
        b'{"type":"error","error":{"type":"api_error","message":"job interrupted by restart"},"request_id":null}'
    )
