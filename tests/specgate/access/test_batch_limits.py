"""Batches answer to their creator's virtual key as single requests do: model access is checked
for every item at create (403, nothing runs), each item is admitted under the key's limits when it
runs (a per-minute limit paces the batch, a used-up budget errors the item) and its usage is
settled like any request's; time moved by hand."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from tests.support.clock import ManualClock
from tests.support.http import request

RPM_KEY = "sk-vk-batch-rpm-0123456789"
BUDGET_KEY = "sk-vk-batch-budget-0123456789"
SCOPED_KEY = "sk-vk-batch-scoped-0123456789"


def config() -> dict[str, Any]:
    return {
        "auth": {
            "virtual_keys": [
                {"id": "rpm", "key": RPM_KEY, "rpm": 2},
                {"id": "budget", "key": BUDGET_KEY, "budget_tokens": 60, "budget_period": "day"},
                {"id": "scoped", "key": SCOPED_KEY, "models": ["claude-*"]},
            ],
        },
        "providers": [{"name": "echo", "type": "echo"}],
    }


def item(custom_id: str, max_tokens: int = 8, model: str = "claude-test") -> dict[str, Any]:
    params = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Hello"}]}
    return {"custom_id": custom_id, "params": params}


def wait_ended(c: anthropic.Anthropic, batch_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = c.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end")


def results(c: anthropic.Anthropic, batch_id: str) -> dict[str, Any]:
    return {r.custom_id: r.result for r in c.messages.batches.results(batch_id)}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2025-03-10T12:00:58Z")  # two seconds before the minute turns


@pytest.fixture
def gw(gateway_factory: Any, clock: ManualClock) -> Any:
    return gateway_factory(config(), clock=clock)


def test_a_model_the_key_may_not_use_refuses_the_whole_batch(gw: Any) -> None:
    body = {"requests": [item("a"), item("b", model="gpt-4o")]}
    reply = request(gw.url + "/v1/messages/batches", body=body, headers={"x-api-key": SCOPED_KEY})
    assert reply.status == 403, reply.body
    assert reply.json()["error"] == {
        "type": "permission_error",
        "message": "requests.1.params.model: key 'scoped' is not allowed to use model 'gpt-4o'",
    }
    listed = request(gw.url + "/v1/messages/batches", "GET", headers={"x-api-key": SCOPED_KEY})
    assert listed.json()["data"] == []  # nothing was created, nothing ran


def test_a_per_minute_limit_paces_the_batch_instead_of_failing_it(gw: Any, clock: ManualClock) -> None:
    with anthropic.Anthropic(api_key=RPM_KEY, base_url=gw.url, max_retries=0) as c:
        created = c.messages.batches.create(requests=[item("a"), item("b"), item("c")])  # type: ignore[list-item]
        time.sleep(1.5)  # two items ran; the third waits for the window (retry-after: 2 s)
        assert c.messages.batches.retrieve(created.id).processing_status == "in_progress"
        refused = request(gw.url + "/v1/messages", body=item("x")["params"], headers={"x-api-key": RPM_KEY})
        assert refused.status == 429  # the batch spent this minute's requests
        clock.advance(2)
        batch = wait_ended(c, created.id)
        assert batch.request_counts.succeeded == 3 and batch.request_counts.errored == 0
        assert {r.type for r in results(c, created.id).values()} == {"succeeded"}


def test_batch_items_spend_the_budget_and_a_used_up_budget_errors_an_item(gw: Any) -> None:
    with anthropic.Anthropic(api_key=BUDGET_KEY, base_url=gw.url, max_retries=0) as c:
        long = item("long")
        long["params"]["messages"][0]["content"] = "word " * 80  # more input than the whole budget
        first = c.messages.batches.create(requests=[long])  # type: ignore[list-item]
        assert wait_ended(c, first.id).request_counts.succeeded == 1
        usage = results(c, first.id)["long"].message.usage
        used = usage.input_tokens + usage.output_tokens
        assert used > 60
        second = c.messages.batches.create(requests=[item("late")])  # type: ignore[list-item]
        batch = wait_ended(c, second.id)
        assert batch.request_counts.errored == 1 and batch.request_counts.succeeded == 0
        late = results(c, second.id)["late"]
        assert late.type == "errored" and late.error.error.type == "rate_limit_error"
        assert f"has used {used} of its 60 tokens" in late.error.error.message  # the first batch's real usage
        direct = request(gw.url + "/v1/messages", body=item("x")["params"], headers={"x-api-key": BUDGET_KEY})
        assert direct.status == 429 and f"has used {used} of its 60 tokens" in direct.json()["error"]["message"]
