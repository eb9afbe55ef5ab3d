"""specgate.contract.rules, tested once for both of its readers: for each rule, a request that
breaks it gets exactly the rule's message from a real gateway (400), and the fuzzers' filter
drops the same request; a request that keeps the rule passes both."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from specgate.contract import rules
from specgate.fuzz.cases import keep_case
from tests.support.gateway import gateways
from tests.support.http import request

KEY = "sk-rules"
MESSAGE: dict[str, Any] = {"model": "m", "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}]}


@dataclass(frozen=True)
class Case:
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


BREAKS = {
    "sampling under the strict version": (
        Case("/v1/messages", {**MESSAGE, "top_k": 5}, {"anthropic-version": rules.STRICT_VERSION}),
        "top_k: Extra inputs are not permitted",
    ),
    "thinking budget not under max_tokens": (
        Case("/v1/messages", {**MESSAGE, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
        "thinking.budget_tokens: must be less than max_tokens",
    ),
    "count_tokens under the strict version": (
        Case(
            "/v1/messages/count_tokens",
            {"model": "m", "messages": MESSAGE["messages"], "temperature": 0.5},
            {"anthropic-version": rules.STRICT_VERSION},
        ),
        "temperature: Extra inputs are not permitted",
    ),
    "a stream as a background job": (
        Case("/v1/messages", {**MESSAGE, "stream": True}, {"x-bf-async": "true"}),
        "stream: streaming is not supported with x-bf-async",
    ),
    "a custom_id twice": (
        Case("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": MESSAGE}] * 2}),
        "requests.1.custom_id: 'a' is used more than once; custom_id must be unique",
    ),
    "both ends of a page": (
        Case("/v1/messages/batches", {}, query={"before_id": "msgbatch_a", "after_id": "msgbatch_b"}, method="GET"),
        "before_id: cannot be combined with after_id",
    ),
}
KEEPS = {
    "a thinking budget under max_tokens": Case(
        "/v1/messages", {**MESSAGE, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    ),
    "sampling under the default version": Case("/v1/messages", {**MESSAGE, "temperature": 0.5}),
    "a background job": Case("/v1/messages", MESSAGE, {"x-bf-async": "true"}),
    "distinct custom_ids": Case(
        "/v1/messages/batches",
        {"requests": [{"custom_id": "a", "params": MESSAGE}, {"custom_id": "b", "params": MESSAGE}]},
    ),
}


def _positive(case: Case) -> Any:
    meta = SimpleNamespace(generation=SimpleNamespace(mode=SimpleNamespace(is_positive=True)))
    return SimpleNamespace(
        meta=meta, body=case.body if case.method == "POST" else None, headers=case.headers, query=case.query
    )


def _send(url: str, case: Case) -> Any:
    query = "&".join(f"{k}={v}" for k, v in case.query.items())
    return request(
        url + case.path + (f"?{query}" if query else ""),
        case.method,
        case.body if case.method == "POST" else None,
        headers={"x-api-key": KEY, **case.headers},
    )


@pytest.fixture(scope="module")
def url() -> Any:
    for factory in gateways():
        yield factory({"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]}).url


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_rule_is_the_same_400_for_the_gateway_and_the_fuzzers(url: str, name: str) -> None:
    case, message = BREAKS[name]
    reply = _send(url, case)
    assert reply.status == 400, reply.body
    error = reply.json()
    assert error["type"] == "error" and error["request_id"].startswith("req_")
    assert error["error"] == {"type": "invalid_request_error", "message": message}
    assert keep_case(_positive(case)) is False
    found = rules.page_violation(case.query) if case.method == "GET" else rules.violation(case.body, case.headers)
    assert found == message


@pytest.mark.parametrize("name", list(KEEPS))
def test_a_kept_rule_passes_both(url: str, name: str) -> None:
    case = KEEPS[name]
    assert rules.violation(case.body, case.headers) is None
    assert keep_case(_positive(case)) is True
    reply = _send(url, case)
    assert reply.status in (200, 202), reply.body


def test_the_rules_read_arbitrary_json_without_failing() -> None:
    """The fuzzers' bodies are schema-valid only: a rule must not assume more."""
    for body in (
        {},
        {"thinking": "x", "max_tokens": "y"},
        {"requests": "x"},
        {"requests": [1, None]},
        {"thinking": {"type": "enabled", "budget_tokens": "9"}, "max_tokens": 1},
    ):
        rules.violation(body, {"Anthropic-Version": rules.STRICT_VERSION, "X-BF-Async": "true"})


def test_header_names_are_read_case_insensitively() -> None:
    assert rules.violation({**MESSAGE, "top_p": 0.5}, {"Anthropic-Version": rules.STRICT_VERSION}) is not None
    assert rules.violation({**MESSAGE, "stream": True}, {"X-Bf-Async": "true"}) is not None
    assert rules.violation({**MESSAGE, "stream": True}, {"x-bf-async": "true", "x-bf-async-id": "j"}) is None  # a poll
