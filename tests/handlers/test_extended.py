"""count_tokens, models and the wildcard, through the official SDK and raw HTTP."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from providers.tokens import estimate_input_tokens
from tests.support.http import request

ROUTES = ["", "/anthropic", "/api/anthropic"]
MODELS = [
    {"match": "claude-old", "provider": "echo", "created_at": "2024-01-01T00:00:00Z", "display_name": "Old"},
    {"match": "claude-new", "provider": "echo", "created_at": "2026-01-01T00:00:00Z"},
    {"match": "claude-mid", "provider": "echo", "created_at": "2025-06-01T12:00:00+02:00"},
    {"match": "claude-*", "provider": "echo"},
]


@pytest.fixture
def gw(gateway_factory: Any) -> Any:
    return gateway_factory({"providers": [{"name": "echo", "type": "echo"}], "models": MODELS})


def client(gw: Any, prefix: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="unused", base_url=gw.url + prefix, max_retries=0)


@pytest.mark.parametrize("prefix", ROUTES)
def test_count_tokens_is_a_local_estimate_for_echo(gw: Any, prefix: str) -> None:
    params: dict[str, Any] = {
        "model": "claude-new",
        "system": "be brief",
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "count these words please"}]}],
    }
    raw = client(gw, prefix).messages.with_raw_response.count_tokens(**params)
    result = raw.parse()
    assert result.input_tokens == estimate_input_tokens(params)
    assert raw.headers["x-specgate-token-count"] == "estimate"
    assert gw.gateway.providers["echo"].generations == 0, "count_tokens must never generate"
    assert request(gw.url + prefix + "/v1/messages/count_tokens", body=params).json() == {
        "input_tokens": result.input_tokens
    }


def test_count_tokens_errors(gw: Any) -> None:
    c = client(gw, "")
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    r = request(
        gw.url + "/v1/messages/count_tokens",
        body={"model": "claude-new", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status == 400 and r.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"


@pytest.mark.parametrize("prefix", ROUTES)
def test_models_list_retrieve_and_paginate(gw: Any, prefix: str) -> None:
    c = client(gw, prefix)
    page = c.models.list()
    assert [m.id for m in page.data] == ["claude-new", "claude-mid", "claude-old"]  # newest first; no globs
    assert page.data[2].display_name == "Old" and page.data[0].display_name == "claude-new"
    assert page.has_more is False and page.first_id == "claude-new" and page.last_id == "claude-old"
    walked = [m.id for m in c.models.list(limit=1)]  # auto-pagination, one per page
    assert walked == ["claude-new", "claude-mid", "claude-old"]
    model = c.models.retrieve("claude-mid")
    assert model.id == "claude-mid" and model.created_at.isoformat() == "2025-06-01T10:00:00+00:00"
    with pytest.raises(anthropic.NotFoundError):
        c.models.retrieve("claude-nope")


def test_models_before_id_and_bad_limit(gw: Any) -> None:
    body = request(gw.url + "/v1/models?before_id=claude-old&limit=1", "GET").json()
    assert [m["id"] for m in body["data"]] == ["claude-mid"] and body["has_more"] is True
    body = request(gw.url + "/v1/models?after_id=unknown", "GET").json()
    assert body == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    r = request(gw.url + "/v1/models?limit=0", "GET")
    assert r.status == 400 and r.json()["error"]["message"].startswith("limit: ")


@pytest.mark.parametrize("prefix", ROUTES)
@pytest.mark.parametrize("sub", ["complete", "batches_typo", "count-tokens"])
def test_wildcard_is_404_and_never_generates(gw: Any, prefix: str, sub: str) -> None:
    body = {"model": "claude-new", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    r = request(gw.url + prefix + "/v1/messages/" + sub, body=body)
    assert r.status == 404
    error = r.json()["error"]
    assert error["type"] == "not_found_error" and sub in error["message"]
    assert request(gw.url + prefix + "/v1/messages/" + sub, body=b"not json").status == 404
    assert gw.gateway.providers["echo"].generations == 0


def test_count_tokens_with_thinking_has_no_max_tokens_rule(gw: Any) -> None:
    body = {
        "model": "claude-new",
        "thinking": {"type": "enabled", "budget_tokens": 5000},
        "messages": [{"role": "user", "content": "x"}],
    }
    r = request(gw.url + "/v1/messages/count_tokens", body=body)
    assert r.status == 200, r.body
