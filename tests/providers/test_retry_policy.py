"""The retry policy: the request's retry budget (pure, with a fake clock, and at the transport),
``x-should-retry`` and the headers by which an upstream gateway says it retried already."""

from __future__ import annotations

from typing import Any

import pytest

from providers import anthropic
from providers.budget import RetryBudget
from providers.retrypolicy import should_retry, upstream_retried
from specgate.core.config import RetryBudgetConfig
from specgate.core.errors import UpstreamError
from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.providers.support import config, ctx

REQUEST: dict[str, Any] = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_budget_counts_attempts_across_retries_and_fallbacks() -> None:
    budget = RetryBudget(RetryBudgetConfig(max_attempts=3, max_seconds=None))
    budget.spend()
    assert budget.allows_retry(0.0) and budget.allows_fallback()
    budget.spend()
    budget.spend()
    assert not budget.allows_retry(0.0) and not budget.allows_fallback()


def test_budget_time_projects_the_next_attempt_from_the_last_failure() -> None:
    clock = Clock()
    budget = RetryBudget(RetryBudgetConfig(max_attempts=None, max_seconds=12.0), clock)
    clock.now += 30  # time before the first attempt (a queued job) is not counted
    budget.spend()
    clock.now += 5  # the attempt took 5 s to fail
    budget.failed()
    assert budget.allows_retry(0.5) and budget.allows_fallback()  # 5 + 0.5 + 5 <= 12
    budget.spend()
    clock.now += 5
    budget.failed()
    assert not budget.allows_retry(0.5) and not budget.allows_fallback(), "10 + 5 would end past 12 s"
    assert budget.describe() == "2 of unbounded attempts, 10.00s of 12.0s"


def test_a_fast_failure_leaves_room_for_a_fallback() -> None:
    clock = Clock()
    budget = RetryBudget(RetryBudgetConfig(max_attempts=None, max_seconds=12.0), clock)
    budget.spend()
    clock.now += 9
    budget.failed()
    budget.spend()
    clock.now += 0.5  # a retry that failed fast
    budget.failed()
    assert budget.allows_fallback()  # 9.5 + 0.5 <= 12: the last attempt is the evidence
    assert not budget.allows_retry(3.0)


def test_unbounded_budget() -> None:
    budget = RetryBudget(RetryBudgetConfig(max_attempts=None, max_seconds=None))
    for _ in range(100):
        budget.spend()
    assert budget.allows_retry(1e6) and budget.allows_fallback()


@pytest.mark.parametrize(
    ("status_says", "headers", "expected"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"x-should-retry": "false"}, False),
        (False, {"x-should-retry": "true"}, True),
        (True, {"x-should-retry": "TRUE "}, True),
        (True, {"x-should-retry": "maybe"}, True),
        (True, {"x-litellm-attempted-retries": "2"}, False),
        (True, {"x-litellm-attempted-retries": "0"}, True),
        (True, {"x-portkey-retry-attempt-count": "-1"}, True),  # Portkey: no retry was attempted
        (True, {"x-portkey-retry-attempt-count": "3"}, False),
        (True, {"x-portkey-retry-attempt-count": "junk"}, True),
        (True, {"x-should-retry": "true", "x-litellm-attempted-retries": "1"}, False),
    ],
)
def test_should_retry(status_says: bool, headers: dict[str, str], expected: bool) -> None:
    assert should_retry(503, headers, default=status_says) is expected


def test_upstream_retried() -> None:
    assert not upstream_retried({})
    assert upstream_retried({"x-litellm-attempted-retries": " 1"})


async def _attempts(server: FakeAnthropic, *replies: Any, **ctx_fields: Any) -> tuple[UpstreamError | None, int]:
    server.script(*replies)
    made = anthropic.create(config(server.url, "anthropic", max_retries=3))
    error: UpstreamError | None = None
    try:
        await made.create_message(REQUEST, "m", ctx(**ctx_fields))
    except UpstreamError as exc:
        error = exc
    finally:
        await made.aclose()
    return error, len(server.requests)


async def test_x_should_retry_false_is_not_retried(anthropic_upstream: FakeAnthropic) -> None:
    error, attempts = await _attempts(
        anthropic_upstream, anthropic_error(529, "overloaded_error", "busy", **{"x-should-retry": "false"})
    )
    assert attempts == 1 and error is not None and error.status_code == 529


async def test_x_should_retry_true_retries_what_the_status_would_not(anthropic_upstream: FakeAnthropic) -> None:
    error, attempts = await _attempts(
        anthropic_upstream, anthropic_error(400, "invalid_request_error", "try again", **{"x-should-retry": "true"})
    )
    assert error is None and attempts == 2


async def test_an_upstream_that_retried_already_is_not_retried(anthropic_upstream: FakeAnthropic) -> None:
    error, attempts = await _attempts(
        anthropic_upstream,
        anthropic_error(503, "api_error", "gave up", **{"x-litellm-attempted-retries": "2"}),
    )
    assert attempts == 1 and error is not None and error.status_code == 503
    assert error.retryable, "a fallback route is still tried: the signal speaks for this upstream only"


async def test_the_budget_stops_retries_at_the_transport(anthropic_upstream: FakeAnthropic) -> None:
    failing = anthropic_error(503, "api_error", "down")
    budget = RetryBudget(RetryBudgetConfig(max_attempts=2, max_seconds=None))
    error, attempts = await _attempts(anthropic_upstream, *[failing] * 5, budget=budget)
    assert attempts == 2 and budget.attempts == 2  # max_retries 3 would make it 4
    assert error is not None and error.status_code == 503
