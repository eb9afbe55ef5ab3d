"""Message Batches through the official SDK (and raw HTTP where the SDK cannot say it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from tests.support import faulty
from tests.support.http import request

ROUTES = ["", "/anthropic", "/api/anthropic"]
KEYS = {"alice": "sk-alice", "bob": "sk-bob"}


def gateway_config(delay_ms: int = 0, **batches: Any) -> dict[str, Any]:
    return {
        "auth": {"api_keys": list(KEYS.values())},
        "providers": [
            {"name": "echo", "type": "echo", "options": {"response_delay_ms": delay_ms}},
            {"name": "faulty", "type": "faulty"},
        ],
        "models": [{"match": "fail-*", "provider": "faulty"}, {"match": "*", "provider": "echo"}],
        "batches": batches,
    }


def start(gateway_factory: Any, delay_ms: int = 0, **batches: Any) -> Any:
    return gateway_factory(gateway_config(delay_ms, **batches), extra_provider_types={"faulty": faulty.create})


@pytest.fixture
def client() -> Iterator[Callable[..., anthropic.Anthropic]]:
    """SDK clients for a gateway (``client(gw, prefix, who)``), closed after the test."""
    made: list[anthropic.Anthropic] = []

    def make(gw: Any, prefix: str = "", who: str = "alice") -> anthropic.Anthropic:
        made.append(anthropic.Anthropic(api_key=KEYS[who], base_url=gw.url + prefix, max_retries=0))
        return made[-1]

    yield make
    for c in made:
        c.close()


def params(text: str, model: str = "claude-test") -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}


def wait_ended(c: anthropic.Anthropic, batch_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = c.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} did not end")


@pytest.mark.parametrize("prefix", ROUTES)
def test_create_retrieve_results(gateway_factory: Any, client: Any, prefix: str) -> None:
    gw = start(gateway_factory)
    c = client(gw, prefix)
    created = c.messages.batches.create(
        requests=[
            {"custom_id": "ok-1", "params": params("first answer")},
            {"custom_id": "fails", "params": params("boom", model="fail-529")},
            {"custom_id": "ok-2", "params": params("second answer")},
            {
                "custom_id": "bad_budget",
                "params": {**params("x"), "thinking": {"type": "enabled", "budget_tokens": 2048}},
            },
        ]
    )
    assert created.id.startswith("msgbatch_") and len(created.id) >= len("msgbatch_") + 26
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 4 and created.ended_at is None
    assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(86400)

    ended = wait_ended(c, created.id)
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 2, 2, 0, 0)
    assert ended.ended_at is not None and ended.ended_at >= ended.created_at
    assert ended.results_url == f"{gw.url}{prefix}/v1/messages/batches/{created.id}/results"

    results = {r.custom_id: r.result for r in c.messages.batches.results(created.id)}
    assert set(results) == {"ok-1", "fails", "ok-2", "bad_budget"}
    ok = results["ok-1"]
    assert ok.type == "succeeded" and ok.message.content[0].text == "first answer"  # type: ignore[union-attr]
    assert ok.message.usage.service_tier == "batch"  # type: ignore[union-attr]
    assert results["ok-2"].message.content[0].text == "second answer"  # type: ignore[union-attr]
    failed = results["fails"]
    assert failed.type == "errored" and failed.error.error.type == "overloaded_error"  # type: ignore[union-attr]
    invalid = results["bad_budget"]
    assert invalid.type == "errored" and invalid.error.error.type == "invalid_request_error"  # type: ignore[union-attr]
    assert "budget_tokens" in invalid.error.error.message  # type: ignore[union-attr]

    raw = request(ended.results_url, "GET", headers={"x-api-key": KEYS["alice"], "accept": "application/binary"})
    assert raw.status == 200 and raw.headers["content-type"].startswith("application/x-jsonl")
    lines = raw.body.split(b"\n")
    assert lines[-1] == b"" and b"" not in lines[:-1], "one line per request, no blank lines"
    assert len(lines) - 1 == 4


def test_the_beta_namespace_and_query(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory)
    c = client(gw, "/anthropic")
    batch = c.beta.messages.batches.create(requests=[{"custom_id": "b", "params": params("beta")}])  # ?beta=true
    assert c.beta.messages.batches.retrieve(batch.id).id == batch.id
    wait_ended(c, batch.id)
    assert [r.custom_id for r in c.beta.messages.batches.results(batch.id)] == ["b"]


def test_invalid_batches_are_refused_whole(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory, max_requests=3)
    url, h = gw.url + "/v1/messages/batches", {"x-api-key": KEYS["alice"]}

    def refused(body: Any) -> str:
        reply = request(url, body=body, headers=h)
        assert reply.status == 400, reply.body
        assert reply.json()["error"]["type"] == "invalid_request_error" and reply.json()["request_id"]
        return str(reply.json()["error"]["message"])

    dup = {"requests": [{"custom_id": "x", "params": params("1")}, {"custom_id": "x", "params": params("2")}]}
    assert refused(dup) == "requests.1.custom_id: 'x' is used more than once; custom_id must be unique"
    stream = {"requests": [{"custom_id": "s", "params": {**params("s"), "stream": True}}]}
    assert refused(stream).startswith("requests.0.params.stream:")
    assert refused({"requests": [{"custom_id": "bad id!", "params": params("x")}]}).startswith(
        "requests.0.custom_id: String should match pattern"
    )
    assert refused({"requests": [{"custom_id": "a" * 65, "params": params("x")}]}).startswith("requests.0.custom_id:")
    assert refused({"requests": [{"custom_id": "m", "params": {"model": "x", "messages": []}}]}).startswith(
        "requests.0.params."
    )
    assert refused({"requests": []}) == "requests: List should have at least 1 item"
    many = {"requests": [{"custom_id": f"r{i}", "params": params("x")} for i in range(4)]}
    assert refused(many) == "requests: a batch holds at most 3 requests (got 4)"
    assert client(gw).messages.batches.list().data == [], "nothing was created"


def test_the_batch_route_has_its_own_body_limit(gateway_factory: Any, client: Any) -> None:
    config = gateway_config(max_body_bytes=64 * 1024)
    config["server"] = {"max_body_bytes": 4096}
    gw = gateway_factory(config, extra_provider_types={"faulty": faulty.create})
    h = {"x-api-key": KEYS["alice"]}
    text = "word " * 2000  # ~10 KB: over the server limit, under the batch limit
    assert request(gw.url + "/v1/messages", body=params(text), headers=h).status == 413
    body = {"requests": [{"custom_id": "big", "params": params(text)}]}
    for prefix in ROUTES:
        assert request(gw.url + prefix + "/v1/messages/batches?beta=true", body=body, headers=h).status == 200
    huge = {"requests": [{"custom_id": f"r{i}", "params": params(text)} for i in range(8)]}  # ~80 KB
    reply = request(gw.url + "/v1/messages/batches", body=huge, headers=h)
    assert reply.status == 413 and reply.json()["error"]["type"] == "request_too_large"
    assert "65536" in reply.json()["error"]["message"]
    chunked = request(gw.url + "/v1/messages/batches", body=huge, headers=h, chunked=True)
    assert chunked.status == 413


def test_list_walks_every_batch_newest_first(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory)
    c = client(gw, "/anthropic")
    made = [c.messages.batches.create(requests=[{"custom_id": "r", "params": params(f"n{i}")}]).id for i in range(5)]
    client(gw, "/anthropic", who="bob").messages.batches.create(requests=[{"custom_id": "r", "params": params("b")}])
    walked = [b.id for b in c.messages.batches.list(limit=1)]  # auto-pagination, one per page
    assert walked == list(reversed(made))
    first = c.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == [made[4], made[3]] and first.has_more
    assert first.first_id == made[4] and first.last_id == made[3]
    back = c.messages.batches.list(limit=2, before_id=made[1])
    assert [b.id for b in back.data] == [made[3], made[2]]
    assert c.messages.batches.list(limit=1000).has_more is False
    bad = request(gw.url + "/v1/messages/batches?limit=0", "GET", headers={"x-api-key": KEYS["alice"]})
    assert bad.status == 400


def test_cancel_a_running_batch(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory, delay_ms=200, max_concurrency=2)
    c = client(gw)
    batch = c.messages.batches.create(requests=[{"custom_id": f"r{i}", "params": params(f"t{i}")} for i in range(20)])
    time.sleep(0.1)  # the first two are in flight
    canceling = c.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    assert c.messages.batches.retrieve(batch.id).processing_status in ("canceling", "ended")
    ended = wait_ended(c, batch.id)
    counts = ended.request_counts
    assert counts.canceled >= 16 and counts.succeeded + counts.canceled == 20 and counts.errored == 0
    assert ended.cancel_initiated_at == canceling.cancel_initiated_at
    results = list(c.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == sorted(f"r{i}" for i in range(20))
    assert sum(r.result.type == "canceled" for r in results) == counts.canceled
    again = c.messages.batches.cancel(batch.id)  # canceling an ended batch changes nothing
    assert again.processing_status == "ended" and again.request_counts == counts


def test_delete(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory, delay_ms=300)
    c = client(gw)
    batch = c.messages.batches.create(requests=[{"custom_id": "r", "params": params("x")}])
    with pytest.raises(anthropic.BadRequestError, match="still in_progress"):
        c.messages.batches.delete(batch.id)
    early = request(f"{gw.url}/v1/messages/batches/{batch.id}/results", "GET", headers={"x-api-key": KEYS["alice"]})
    assert early.status == 400 and "results are available once processing has ended" in early.json()["error"]["message"]
    wait_ended(c, batch.id)
    assert client(gw, who="bob").messages.batches.list().data == []
    with pytest.raises(anthropic.NotFoundError):
        client(gw, who="bob").messages.batches.delete(batch.id)
    gone = c.messages.batches.delete(batch.id)
    assert (gone.id, gone.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        c.messages.batches.retrieve(batch.id)
    with pytest.raises(anthropic.NotFoundError):
        c.messages.batches.delete(batch.id)
    assert c.messages.batches.list().data == []


def test_unknown_and_foreign_batches_are_404(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory)
    alice, bob = client(gw), client(gw, who="bob")
    batch = alice.messages.batches.create(requests=[{"custom_id": "r", "params": params("mine")}])
    wait_ended(alice, batch.id)
    for who in (bob,):
        for call in (who.messages.batches.retrieve, who.messages.batches.cancel, who.messages.batches.delete):
            with pytest.raises(anthropic.NotFoundError):
                call(batch.id)
    results_url = f"{gw.url}/v1/messages/batches/{batch.id}/results"
    reply = request(results_url, "GET", headers={"x-api-key": KEYS["bob"]})
    assert reply.status == 404 and reply.json()["error"]["type"] == "not_found_error"
    for unknown in ("msgbatch_" + "a" * 26, "nope", batch.id + ".ids", batch.id + ".0"):
        with pytest.raises(anthropic.NotFoundError):
            alice.messages.batches.retrieve(unknown)
    poll = request(gw.url + "/v1/messages", body={}, headers={"x-api-key": KEYS["alice"], "x-bf-async-id": batch.id})
    assert poll.status == 404, "a batch is not an async job"
    assert request(gw.url + "/v1/messages/batches", "GET").status == 401


def test_expired_batches_end_with_expired_results(gateway_factory: Any, client: Any) -> None:
    gw = start(gateway_factory, delay_ms=400, max_concurrency=1, expires_after_s=1)
    c = client(gw)
    batch = c.messages.batches.create(requests=[{"custom_id": f"r{i}", "params": params("x")} for i in range(6)])
    ended = wait_ended(c, batch.id, timeout=10)
    counts = ended.request_counts
    assert 1 <= counts.succeeded <= 3 and counts.expired == 6 - counts.succeeded
    types = {r.custom_id: r.result.type for r in c.messages.batches.results(batch.id)}
    assert sorted(types.values()) == sorted(["succeeded"] * counts.succeeded + ["expired"] * counts.expired)
