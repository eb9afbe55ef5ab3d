"""Usage accounting: GET /v1/usage equals the sum of the usage the official SDK saw, for JSON
calls, streams, an async job, batch items and a failed call, across two replicas sharing one
real Redis; an admin key sees every row, a virtual key its own; routes with a price are costed."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import anthropic
import pytest

from specgate.access.ledger import Ledger, MemoryUsageStore, amounts_of
from specgate.core.config import Price
from tests.support import http
from tests.support.http import request

ADMIN = "sk-usage-admin-0123456789"
TEAM = "sk-usage-team-a-0123456789"
HI: dict[str, Any] = {"max_tokens": 16, "messages": [{"role": "user", "content": "Hello there, usage"}]}
PRICE = {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def config(redis_url: str) -> dict[str, Any]:
    return {
        "auth": {
            "api_keys": [ADMIN],
            "virtual_keys": [{"id": "team-a", "key": TEAM}],
            "secret": "usage-shared-secret-0123",
        },
        "limits": {"store": redis_url},
        "jobs": {"store": redis_url},
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"match": "claude-*", "provider": "echo", "price": PRICE}, {"match": "*", "provider": "echo"}],
    }


def usage(url: str, key: str, window: str = "total") -> list[dict[str, Any]]:
    reply = request(f"{url}/v1/usage?window={window}", method="GET", headers={"x-api-key": key})
    assert reply.status == 200, reply.body
    rows: list[dict[str, Any]] = reply.json()["data"]
    assert reply.json()["window"] == window
    return rows


class Seen:
    """The usage the SDK saw, per (principal, model label)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))

    def add(self, principal: str, model: str, u: Any, *, error: bool = False) -> None:
        row = self.rows[(principal, model)]
        row["requests"] += 1
        row["errors"] += int(error)
        if u is not None:
            row["input_tokens"] += u.input_tokens
            row["output_tokens"] += u.output_tokens
            row["cache_read_input_tokens"] += u.cache_read_input_tokens or 0
            row["cache_creation_input_tokens"] += u.cache_creation_input_tokens or 0


@pytest.mark.parametrize("server", ["redis_url", "redis_cluster_url"])
def test_usage_matches_what_the_sdk_saw_across_two_replicas(
    gateway_factory: Any, request: pytest.FixtureRequest, server: str
) -> None:
    """On one Redis and on a Redis Cluster (the ledger, the counters, the job and the batch all in it)."""
    redis_url = request.getfixturevalue(server)
    a, b = gateway_factory(config(redis_url)), gateway_factory(config(redis_url))
    admin_a = anthropic.Anthropic(base_url=a.url, api_key=ADMIN, max_retries=0)
    team_b = anthropic.Anthropic(base_url=b.url, api_key=TEAM, max_retries=0)
    admin_id = "admin"  # replaced by the opaque id once /v1/usage names it
    seen = Seen()

    seen.add(admin_id, "claude-*", admin_a.messages.create(model="claude-a", **HI).usage)
    seen.add(admin_id, "claude-*", admin_a.messages.create(model="claude-b", **HI).usage)  # same label
    with admin_a.messages.stream(model="claude-a", **HI) as stream:
        seen.add(admin_id, "claude-*", stream.get_final_message().usage)
    seen.add("team-a", "*", team_b.messages.create(model="gpt-ish", **HI).usage)
    with pytest.raises(anthropic.BadRequestError):  # echo refuses it: the provider call failed
        team_b.messages.create(
            model="gpt-ish",
            **HI,
            tools=[{"name": "a", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "b"},
        )
    seen.add("team-a", "*", None, error=True)

    submitted = team_b.messages.with_raw_response.create(model="claude-job", **HI, extra_headers={"x-bf-async": "true"})
    job_id = submitted.headers["x-bf-async-id"]
    for _ in range(400):
        polled = team_b.messages.with_raw_response.create(
            model="claude-job", **HI, extra_headers={"x-bf-async-id": job_id}
        )
        if polled.headers["x-bf-async-status"] == "completed":
            break
        time.sleep(0.025)
    seen.add("team-a", "claude-*", polled.parse().usage)

    batch = team_b.messages.batches.create(
        requests=[{"custom_id": f"r{i}", "params": {"model": "claude-batch", **HI}} for i in range(3)]
    )
    while team_b.messages.batches.retrieve(batch.id).processing_status != "ended":
        time.sleep(0.025)
    for result in team_b.messages.batches.results(batch.id):
        assert result.result.type == "succeeded"
        seen.add("team-a", "claude-*", result.result.message.usage)

    rows_a, rows_b = usage(a.url, ADMIN), usage(b.url, ADMIN)
    assert rows_a == rows_b, "both replicas read the same ledger"
    assert usage(a.url, ADMIN, "last_hour") == rows_a
    admin_ids = {r["key_id"] for r in rows_a if r["key_id"] != "team-a"}
    assert len(admin_ids) == 1 and next(iter(admin_ids)).startswith("key_")
    expected = {(next(iter(admin_ids)) if p == admin_id else p, m): row for (p, m), row in seen.rows.items()}
    got = {(r["key_id"], r["model"]): {f: r[f] for f in FIELDS} for r in rows_a}
    assert got == expected
    assert sum(r["output_tokens"] for r in rows_a) > 0
    for row in rows_a:  # priced routes are costed, others are not
        if row["model"] == "claude-*":
            cost = (row["input_tokens"] * 3 + row["output_tokens"] * 15) / 1e6
            assert row["cost_usd"] == pytest.approx(cost, abs=1e-9) and row["cost_usd"] > 0
        else:
            assert row["cost_usd"] is None

    own = usage(b.url, TEAM)
    assert own and {r["key_id"] for r in own} == {"team-a"}
    assert own == [r for r in rows_a if r["key_id"] == "team-a"]
    assert http.request(f"{a.url}/v1/usage", method="GET").status == 401


async def test_memory_ledger_keeps_the_last_hour_apart_from_the_total() -> None:
    now = [1_000_000.0]
    ledger = Ledger(MemoryUsageStore(lambda: now[0]), lambda: now[0])
    price = Price(input=1, output=2)
    await ledger.add("k", "m", amounts_of({"input_tokens": 10, "output_tokens": 5}, price, error=False))
    now[0] += 3600  # an hour later
    await ledger.add("k", "m", amounts_of({"input_tokens": 1, "output_tokens": 1}, None, error=True))
    (total,) = await ledger.totals()
    assert total["requests"] == 2 and total["errors"] == 1 and total["input_tokens"] == 11
    assert total["cost_usd"] == pytest.approx(20e-6)
    (hour,) = await ledger.last_hour("k")
    assert hour["requests"] == 1 and hour["input_tokens"] == 1 and hour["cost_usd"] is None
    assert await ledger.totals("someone-else") == []


SCOPED = "sk-usage-scoped-0123456789"
USAGE_FIELDS = ("requests", "errors", "refused", *FIELDS[2:], "count_tokens", "count_tokens_errors")


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_refused_calls_and_count_tokens_are_counted_apart(gateway_factory: Any, redis_url: str, store: str) -> None:
    """Through the SDK: a key limited to ``claude-*`` at 4 requests a minute. A model it may not
    use (403) and a call over its limit (429) are requests with an error, ``refused``, and no
    tokens; count_tokens calls (answered, or refused) are counted apart and add no tokens. On
    Redis, across two replicas."""
    from tests.support.clock import ManualClock

    clock = ManualClock("2025-03-10T12:00:05Z")  # the minute does not turn mid-test
    cfg = config(redis_url if store == "redis" else "memory")
    cfg["auth"]["virtual_keys"] = [{"id": "scoped", "key": SCOPED, "models": ["claude-*"], "rpm": 4}]
    a = gateway_factory(cfg, clock=clock)
    b = gateway_factory(cfg, clock=clock) if store == "redis" else a
    client_a = anthropic.Anthropic(base_url=a.url, api_key=SCOPED, max_retries=0)
    client_b = anthropic.Anthropic(base_url=b.url, api_key=SCOPED, max_retries=0)
    seen: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(USAGE_FIELDS, 0))

    def served(model: str, u: Any) -> None:
        row = seen[model]
        row["requests"] += 1
        row["input_tokens"] += u.input_tokens
        row["output_tokens"] += u.output_tokens

    def refused(model: str) -> None:
        seen[model]["requests"] += 1
        seen[model]["errors"] += 1
        seen[model]["refused"] += 1

    def counted(model: str, *, error: bool = False) -> None:
        seen[model]["count_tokens"] += 1
        seen[model]["count_tokens_errors"] += int(error)

    served("claude-*", client_a.messages.create(model="claude-a", **HI).usage)  # rpm 1
    with pytest.raises(anthropic.PermissionDeniedError):  # before the limiter: no rpm used
        client_b.messages.create(model="gpt-x", **HI)
    refused("*")
    tokens = client_b.messages.count_tokens(model="claude-a", messages=HI["messages"])  # rpm 2
    assert tokens.input_tokens > 0
    counted("claude-*")
    with pytest.raises(anthropic.PermissionDeniedError):
        client_a.messages.count_tokens(model="gpt-x", messages=HI["messages"])
    counted("*", error=True)
    with client_a.messages.stream(model="claude-a", **HI) as stream:  # rpm 3
        served("claude-*", stream.get_final_message().usage)
    served("claude-*", client_b.messages.create(model="claude-b", **HI).usage)  # rpm 4
    with pytest.raises(anthropic.RateLimitError):
        client_a.messages.create(model="claude-a", **HI)
    refused("claude-*")
    with pytest.raises(anthropic.RateLimitError):
        client_b.messages.count_tokens(model="claude-a", messages=HI["messages"])
    counted("claude-*", error=True)

    for url in {a.url, b.url}:
        for window in ("total", "last_hour"):
            rows = usage(url, SCOPED, window)
            got = {r["model"]: {f: r[f] for f in USAGE_FIELDS} for r in rows}
            assert got == dict(seen), (url, window)
            assert all(r["key_id"] == "scoped" for r in rows)
    assert seen["claude-*"]["output_tokens"] > 0 and seen["*"]["input_tokens"] == 0
