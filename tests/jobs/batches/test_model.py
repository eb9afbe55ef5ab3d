"""Batch records and wire shapes: pure functions."""

from __future__ import annotations

import orjson

from jobs.batches import model
from jobs.batches.model import Batch
from jobs.model import Job, JobStatus


def record(status: JobStatus = JobStatus.PROCESSING, **meta: str) -> Job:
    return Job(
        id=model.new_batch_id(),
        owner="p",
        kind=model.BATCH_KIND,
        status=status,
        created_at=1_700_000_000.25,
        completed_at=1_700_000_100.0 if status == JobStatus.COMPLETED else None,
        result_ttl_s=60,
        meta={"count": "5", "expires_at": repr(1_700_086_400.25), **meta},
    )


def test_ids_are_random_and_shaped() -> None:
    ids = {model.new_batch_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(model.is_batch_id(i) and len(i) == len("msgbatch_") + 26 for i in ids)
    assert not model.is_batch_id("msgbatch_x") and not model.is_batch_id(next(iter(ids)) + ".ids")


def test_an_in_progress_batch_counts_everything_as_processing() -> None:
    batch = Batch(record(succeeded="3"))
    body = model.render(batch, "http://h:1/anthropic/v1/messages/batches")
    assert body == {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": {"processing": 5, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2023-11-14T22:13:20.250000Z",
        "ended_at": None,
        "expires_at": "2023-11-15T22:13:20.250000Z",
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": None,
    }
    assert model.render(Batch(record(cancel_initiated_at="1700000001.0")), "u")["processing_status"] == "canceling"


def test_an_ended_batch() -> None:
    job = record(JobStatus.COMPLETED, succeeded="2", errored="1", canceled="2", expired="0", unfinished="canceled")
    body = model.render(Batch(job), "http://h:1/v1/messages/batches")
    assert body["processing_status"] == "ended" and body["ended_at"] == "2023-11-14T22:15:00.000000Z"
    assert body["request_counts"] == {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 2, "expired": 0}
    assert body["results_url"] == f"http://h:1/v1/messages/batches/{job.id}/results"
    assert model.unfinished_result(Batch(job)) == b'{"type":"canceled"}'


def test_result_lines_and_unfinished_errors() -> None:
    message = {"id": "msg_1", "content": [{"type": "text", "text": 'a "quoted"\nline'}]}
    line = model.result_line("id-1", model.succeeded_result(message))
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {"custom_id": "id-1", "result": {"type": "succeeded", "message": message}}
    interrupted = Batch(record(JobStatus.COMPLETED, unfinished="errored", reason="batch interrupted: restart"))
    error = orjson.loads(model.unfinished_result(interrupted))
    assert error == {
        "type": "errored",
        "error": {
            "type": "error",
            "error": {"type": "api_error", "message": "batch interrupted: restart"},
            "request_id": None,
        },
    }
    assert model.result_type(model.unfinished_result(interrupted)) == "errored"
    assert Batch(record(JobStatus.FAILED)).interrupted and not Batch(record()).interrupted
