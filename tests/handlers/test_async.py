"""Async inference on the message routes: x-bf-async / x-bf-async-id / x-bf-async-job-result-ttl."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from providers import shapes
from tests.support import faulty
from tests.support.http import Reply, request

ROUTES = ["/v1/messages", "/anthropic/v1/messages", "/api/anthropic/v1/messages", "/api/v1/messages"]
BODY = {"model": "claude-x", "max_tokens": 32, "messages": [{"role": "user", "content": "async hello"}]}
KEYS = {"x-api-key": "sk-a"}


@pytest.fixture
def gw(gateway_factory: Any) -> Any:
    return gateway_factory(
        {
            "auth": {"api_keys": ["sk-a", "sk-b"]},
            "providers": [
                {"name": "echo", "type": "echo", "options": {"response_delay_ms": 150}},
                {"name": "faulty", "type": "faulty"},
            ],
            "models": [{"match": "fail-*", "provider": "faulty"}, {"match": "*", "provider": "echo"}],
        },
        extra_provider_types={"faulty": faulty.create},
    )


def unwrap(path: str, reply: Reply) -> Any:
    body = reply.json()
    if path == "/api/v1/messages":
        assert body["success"] is (reply.status == 200)
        return body["data"] if reply.status == 200 else body
    return body


def wait_done(url: str, job_id: str, headers: dict[str, str], body: Any = None, timeout: float = 10) -> Reply:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = request(url, body=body if body is not None else {}, headers={**headers, "x-bf-async-id": job_id})
        if reply.headers.get("x-bf-async-status") not in ("pending", "processing"):
            return reply
        time.sleep(0.05)
    raise AssertionError("job did not finish")


@pytest.mark.parametrize("path", ROUTES)
def test_lifecycle(gw: Any, path: str) -> None:
    url = gw.url + path
    submitted = request(url, body=BODY, headers={**KEYS, "x-bf-async": "True"})
    assert submitted.status == 200
    placeholder = unwrap(path, submitted)
    job_id = placeholder["id"]
    assert placeholder == {
        "id": job_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "usage": shapes.usage(0, 0, service_tier=None),  # complete: every key the SDK declares
    }
    assert placeholder["usage"]["input_tokens"] == placeholder["usage"]["output_tokens"] == 0
    assert submitted.headers["x-bf-async-id"] == job_id
    assert submitted.headers["x-bf-async-status"] == "pending"
    assert len(job_id) >= 26
    pending = request(url, body=None, headers={**KEYS, "x-bf-async-id": job_id})  # no body at all
    assert pending.status == 200 and pending.headers["x-bf-async-status"] in ("pending", "processing", "completed")
    done = wait_done(url, job_id, KEYS, body=BODY)  # the original body is ignored too
    assert done.status == 200 and done.headers["x-bf-async-status"] == "completed"
    message = unwrap(path, done)
    assert message["content"] == [{"type": "text", "text": "async hello", "citations": None}]
    assert message["stop_reason"] == "end_turn" and message["usage"]["output_tokens"] == 2
    again = request(url, body={}, headers={**KEYS, "x-bf-async-id": job_id})
    assert again.body == done.body, "a completed result is replayed byte for byte"


def test_failed_job_replays_the_upstream_error(gw: Any) -> None:
    url = gw.url + "/v1/messages"
    submitted = request(url, body={**BODY, "model": "fail-529"}, headers={**KEYS, "x-bf-async": "true"})
    done = wait_done(url, submitted.json()["id"], KEYS)
    assert done.status == 529 and done.headers["x-bf-async-status"] == "failed"
    assert done.json()["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"x-bf-async": "yes"}, "x-bf-async: "),
        ({"x-bf-async": "false"}, "x-bf-async: "),
        ({"x-bf-async": "true", "x-bf-async-job-result-ttl": "0"}, "x-bf-async-job-result-ttl: "),
        ({"x-bf-async": "true", "x-bf-async-job-result-ttl": "-5"}, "x-bf-async-job-result-ttl: "),
        ({"x-bf-async": "true", "x-bf-async-job-result-ttl": "soon"}, "x-bf-async-job-result-ttl: "),
        ({"x-bf-async": "true", "x-bf-async-job-result-ttl": "1.5"}, "x-bf-async-job-result-ttl: "),
    ],
)
def test_bad_headers(gw: Any, headers: dict[str, str], message: str) -> None:
    reply = request(gw.url + "/v1/messages", body=BODY, headers={**KEYS, **headers})
    assert reply.status == 400
    assert reply.json()["error"]["message"].startswith(message)


def test_stream_with_async_is_rejected(gw: Any) -> None:
    reply = request(gw.url + "/v1/messages", body={**BODY, "stream": True}, headers={**KEYS, "x-bf-async": "true"})
    assert reply.status == 400
    assert reply.json()["error"] == {
        "type": "invalid_request_error",
        "message": "stream: streaming is not supported with x-bf-async",
    }


def test_unknown_expired_and_foreign_jobs_are_the_same_404(gw: Any) -> None:
    url = gw.url + "/v1/messages"
    job = request(url, body=BODY, headers={**KEYS, "x-bf-async": "true", "x-bf-async-job-result-ttl": "1"}).json()["id"]
    wait_done(url, job, KEYS)
    replies = [
        request(url, body={}, headers={**KEYS, "x-bf-async-id": "job_doesnotexist"}),
        request(url, body={}, headers={"x-api-key": "sk-b", "x-bf-async-id": job}),  # another principal
    ]
    time.sleep(1.3)
    replies.append(request(url, body={}, headers={**KEYS, "x-bf-async-id": job}))  # expired
    bodies = [r.json()["error"] for r in replies]
    assert [r.status for r in replies] == [404, 404, 404]
    assert all(b == bodies[0] for b in bodies), "no hint of which"


def test_polling_needs_a_key(gw: Any) -> None:
    job = request(gw.url + "/v1/messages", body=BODY, headers={**KEYS, "x-bf-async": "true"}).json()["id"]
    assert request(gw.url + "/v1/messages", body={}, headers={"x-bf-async-id": job}).status == 401


def test_bounded_queue_answers_529(gateway_factory: Any) -> None:
    gw = gateway_factory(
        {
            "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": 1500}}],
            "jobs": {"max_running": 1, "max_queued": 1},
        }
    )
    url = gw.url + "/v1/messages"
    first = request(url, body=BODY, headers={"x-bf-async": "true"})
    second = request(url, body=BODY, headers={"x-bf-async": "true"})
    third = request(url, body=BODY, headers={"x-bf-async": "true"})
    assert (first.status, second.status) == (200, 200)
    assert third.status == 529 and third.json()["error"]["type"] == "overloaded_error"
    assert request(url, body=BODY).status == 200, "interactive traffic is not blocked by the queue"


async def test_a_thousand_concurrent_jobs(gateway_factory: Any) -> None:
    gw = gateway_factory({"providers": [{"name": "echo", "type": "echo"}], "jobs": {"max_running": 64}})
    url = gw.url + "/v1/messages"
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def submit(i: int) -> tuple[int, str]:
            body = {**BODY, "messages": [{"role": "user", "content": f"job number {i}"}]}
            async with session.post(url, json=body, headers={"x-bf-async": "true"}) as resp:
                assert resp.status == 200
                return i, (await resp.json())["id"]

        submitted = await asyncio.gather(*(submit(i) for i in range(1000)))
        ids = [job_id for _, job_id in submitted]
        assert len(set(ids)) == 1000

        async def result(i: int, job_id: str) -> str:
            for _ in range(400):
                async with session.post(url, json={}, headers={"x-bf-async-id": job_id}) as resp:
                    if resp.headers["x-bf-async-status"] == "completed":
                        text: str = (await resp.json())["content"][0]["text"]
                        return text
                await asyncio.sleep(0.05)
            raise AssertionError(f"job {job_id} never completed")

        texts = await asyncio.gather(*(result(i, job_id) for i, job_id in submitted))
    assert texts == [f"job number {i}" for i in range(1000)], "every result retrievable, none lost or swapped"


def test_jobs_are_counted_in_metrics(gateway_factory: Any) -> None:
    gw = gateway_factory({"providers": [{"name": "echo", "type": "echo"}]})
    url = gw.url + "/v1/messages"
    for _ in range(3):
        job_id = request(url, body=BODY, headers={"x-bf-async": "true"}).json()["id"]
        wait_done(url, job_id, {})
    text = request(gw.url + "/metrics", "GET").body.decode()
    assert 'specgate_jobs_total{kind="message",outcome="succeeded"} 3.0' in text
    assert 'specgate_jobs_active{kind="message"} 0.0' in text
