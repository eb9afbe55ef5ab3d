"""End to end: requests and tokens per minute, budgets, the ratelimit headers on JSON, SSE and
429 answers, usage correction after JSON and streamed responses; time moved by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anthropic
import pytest

from tests.support.clock import ManualClock
from tests.support.http import request
from tests.support.sse import check_grammar

RPM_KEY = "sk-vk-rpm-0123456789abcdef"
TPM_KEY = "sk-vk-tpm-0123456789abcdef"
BUDGET_KEY = "sk-vk-budget-0123456789abcdef"
ADMIN = "sk-admin-0123456789abcdef"


def config() -> dict[str, Any]:
    return {
        "auth": {
            "api_keys": [ADMIN],
            "virtual_keys": [
                {"id": "rpm", "key": RPM_KEY, "rpm": 3},
                {"id": "tpm", "key": TPM_KEY, "tpm": 100},
                {"id": "budget", "key": BUDGET_KEY, "budget_tokens": 40, "budget_period": "day"},
            ],
        },
        "providers": [
            {"name": "echo", "type": "echo"},
            {"name": "dead", "type": "anthropic", "base_url": "http://127.0.0.1:9", "max_retries": 0},
        ],
        "models": [{"match": "dead-*", "provider": "dead"}, {"match": "*", "provider": "echo"}],
    }


def body(max_tokens: int = 8, stream: bool = False) -> dict[str, Any]:
    b: dict[str, Any] = {"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Hello"}]}
    return {**b, "stream": True} if stream else b


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2025-03-10T12:00:05Z")


@pytest.fixture
def gw(gateway_factory: Any, clock: ManualClock) -> Any:
    return gateway_factory(config(), clock=clock)


def send(gw: Any, key: str, payload: dict[str, Any], path: str = "/v1/messages") -> Any:
    return request(gw.url + path, body=payload, headers={"x-api-key": key})


def test_rpm_hit_and_reset(gw: Any, clock: ManualClock) -> None:
    remaining = [send(gw, RPM_KEY, body()).headers["anthropic-ratelimit-requests-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    r = send(gw, RPM_KEY, body())
    assert r.status == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert "3 requests per minute" in r.json()["error"]["message"]
    assert r.headers["retry-after"] == "55"
    assert r.headers["anthropic-ratelimit-requests-limit"] == "3"
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert r.headers["anthropic-ratelimit-requests-reset"] == "2025-03-10T12:01:00Z"
    assert r.headers["request-id"] == r.json()["request_id"]
    # count_tokens counts as a request too, and is refused the same way
    counted = send(gw, RPM_KEY, {"model": "m", "messages": body()["messages"]}, "/v1/messages/count_tokens")
    assert counted.status == 429
    # other keys are not affected; admin keys have no limits and get no headers
    ok = send(gw, ADMIN, body())
    assert ok.status == 200 and not any(h.startswith("anthropic-ratelimit") for h in ok.headers)
    clock.advance(55)
    r = send(gw, RPM_KEY, body())
    assert r.status == 200 and r.headers["anthropic-ratelimit-requests-reset"] == "2025-03-10T12:02:00Z"


def _used(reply: Any) -> int:
    usage = reply.json()["usage"]
    return int(usage["input_tokens"]) + int(usage["output_tokens"])


def test_tpm_reserves_estimate_and_corrects_with_usage(gw: Any, clock: ManualClock) -> None:
    first = send(gw, TPM_KEY, body(max_tokens=20))
    assert first.status == 200
    assert first.headers["anthropic-ratelimit-tokens-limit"] == "100"
    assert first.headers["anthropic-ratelimit-tokens-reset"] == "2025-03-10T12:01:00Z"
    estimate = 100 - int(first.headers["anthropic-ratelimit-tokens-remaining"])
    assert estimate > 20  # input estimate + max_tokens
    second = send(gw, TPM_KEY, body(max_tokens=20))
    # the first request's reservation was replaced by its real usage
    assert int(second.headers["anthropic-ratelimit-tokens-remaining"]) == 100 - _used(first) - estimate
    too_big = send(gw, TPM_KEY, body(max_tokens=500))
    assert too_big.status == 429 and "lower max_tokens" in too_big.json()["error"]["message"]
    over = send(gw, TPM_KEY, body(max_tokens=90))
    assert over.status == 429
    assert over.headers["retry-after"] == "55"
    assert int(over.headers["anthropic-ratelimit-tokens-remaining"]) == 100 - _used(first) - _used(second)
    clock.advance(60)
    assert send(gw, TPM_KEY, body(max_tokens=90)).status == 200


def test_stream_headers_and_correction_from_final_usage(gw: Any) -> None:
    r = send(gw, TPM_KEY, body(max_tokens=30, stream=True))
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["anthropic-ratelimit-tokens-limit"] == "100"
    estimate = 100 - int(r.headers["anthropic-ratelimit-tokens-remaining"])
    events = check_grammar(r.body)
    delta = next(e for e in events if e["type"] == "message_delta")
    start = next(e for e in events if e["type"] == "message_start")
    used = start["message"]["usage"]["input_tokens"] + delta["usage"]["output_tokens"]
    after = send(gw, TPM_KEY, body(max_tokens=30))
    assert int(after.headers["anthropic-ratelimit-tokens-remaining"]) == 100 - used - estimate


def test_failed_call_gives_the_reservation_back(gw: Any) -> None:
    failed = send(gw, TPM_KEY, {**body(max_tokens=60), "model": "dead-1"})  # admitted, then the upstream fails
    assert failed.status >= 500
    estimate = 100 - int(failed.headers.get("anthropic-ratelimit-tokens-remaining", "100"))
    assert estimate == 0  # errors carry no success headers
    ok = send(gw, TPM_KEY, body(max_tokens=60))
    assert ok.status == 200, ok.body  # would be 429 if the failed call's 60+ tokens were still reserved
    assert int(ok.headers["anthropic-ratelimit-tokens-remaining"]) == 100 - (60 + 4)


def test_budget_per_day(gw: Any, clock: ManualClock) -> None:
    statuses = []
    for _ in range(20):
        r = send(gw, BUDGET_KEY, body(max_tokens=4))
        statuses.append(r.status)
        if r.status == 429:
            break
    assert statuses[-1] == 429 and statuses.count(200) >= 2
    message = r.json()["error"]["message"]
    assert message.startswith("Token budget used up: key 'budget' has used ")
    assert "of its 40 tokens today (UTC); it resets at 2025-03-11T00:00:00Z" in message
    reset = datetime.fromisoformat("2025-03-11T00:00:00+00:00").timestamp()
    assert int(r.headers["retry-after"]) == int(reset - clock.now)
    clock.advance(3600)
    assert send(gw, BUDGET_KEY, body(max_tokens=4)).status == 429  # same day
    clock.now = reset
    assert send(gw, BUDGET_KEY, body(max_tokens=4)).status == 200


def test_sdk_sees_rate_limit_error_and_headers(gw: Any) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=RPM_KEY, max_retries=0)
    raw = client.messages.with_raw_response.create(**body())
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "2"
    client.messages.create(**body())
    with client.messages.stream(**body()) as stream:
        assert stream.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert stream.get_final_message().content[0].text == "Hello"  # type: ignore[union-attr]
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(**body())
    assert info.value.response.headers["retry-after"] == "55"
