"""The real Claude Code CLI (pinned in tests/clients/package.json) through a live gateway.

`claude -p "say hello"` must finish in one turn, without an error, in both output formats: with
the default config (echo, no auth), with a key sent as ``x-api-key`` and as ``Authorization:
Bearer``, and through an ``anthropic`` provider to the fake upstream, which must receive what
Claude Code sent (its betas, ``context_management``, ``role: "system"`` messages, its tools).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clients.claude import (
    FORMATS,
    HEADERS_FIXTURE,
    PROMPT,
    REQUEST_FIXTURE,
    Run,
    environment,
    request_shape,
    run,
    run_async,
)
from tests.clients.install import NodeClients
from tests.fakes.anthropic_upstream import TEXT_PIECES, FakeAnthropic
from tests.fakes.server import Recorded
from tests.handlers.upstreams import FAST

KEY = "sk-claude-code-client-0123456789"
UPSTREAM_KEY = "sk-upstream-provider-0123456789"
RECORDED: dict[str, Any] = json.loads(REQUEST_FIXTURE.read_text())
RECORDED_HEADERS: dict[str, Any] = json.loads(HEADERS_FIXTURE.read_text())

pytestmark = pytest.mark.parametrize("output_format", list(FORMATS))


def said_hello(done: Run) -> dict[str, Any]:
    """The run's final result, after checking it is a one-turn success."""
    assert done.returncode == 0, done.describe()
    if done.output_format == "stream-json":
        events = done.lines()  # every line is JSON
        assert events[0]["type"] == "system" and events[0]["subtype"] == "init", events[0]
        assert any(e["type"] == "assistant" for e in events), done.describe()
        assert events[-1]["type"] == "result", done.describe()
    result = done.result()
    assert result["type"] == "result" and result["subtype"] == "success", result
    assert result["is_error"] is False, result.get("result")
    assert result["num_turns"] == 1, f"{result['num_turns']} turns: {done.describe()}"
    assert isinstance(result["result"], str) and result["result"].strip(), result
    return result


def recorded_betas() -> set[str]:
    """The recorded (json) run's betas; stream-json adds a thinking-display one."""
    return set(RECORDED_HEADERS["headers"]["anthropic-beta"].split(","))


def model_calls(upstream: FakeAnthropic) -> list[Recorded]:
    return [r for r in upstream.requests if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]


# -- echo behind the gateway


@pytest.fixture(scope="module")
def default_gateway(module_gateway_factory: Any) -> Any:
    return module_gateway_factory()  # the embedded default config: every model -> echo, no auth


@pytest.fixture(scope="module")
def keyed_gateway(module_gateway_factory: Any) -> Any:
    return module_gateway_factory(
        {
            "auth": {"api_keys": [KEY]},
            "providers": [{"name": "echo", "type": "echo"}],
            "models": [{"match": "*", "provider": "echo"}],
        }
    )


def test_default_config(node_clients: NodeClients, default_gateway: Any, tmp_path: Path, output_format: str) -> None:
    done = run(node_clients, output_format, environment(default_gateway.url, tmp_path, api_key="sk-any"))
    result = said_hello(done)
    assert PROMPT in result["result"]  # echo answered with the user's text: the gateway served it


@pytest.mark.parametrize("scheme", ["api_key", "auth_token"])  # x-api-key, Authorization: Bearer
def test_with_a_key(
    node_clients: NodeClients, keyed_gateway: Any, tmp_path: Path, output_format: str, scheme: str
) -> None:
    done = run(node_clients, output_format, environment(keyed_gateway.url, tmp_path, **{scheme: KEY}))
    assert PROMPT in said_hello(done)["result"]


# -- an anthropic provider to the fake upstream


def upstream_config(upstream_url: str) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY]},
        "providers": [
            {"name": "ant", "type": "anthropic", "base_url": upstream_url, "api_keys": [UPSTREAM_KEY], **FAST}
        ],
        "models": [{"match": "*", "provider": "ant", "upstream_model": "claude-upstream"}],
    }


async def test_through_anthropic_provider(
    node_clients: NodeClients,
    gateway_factory: Any,
    anthropic_upstream: FakeAnthropic,
    tmp_path: Path,
    output_format: str,
) -> None:
    gw = gateway_factory(upstream_config(anthropic_upstream.url))
    done = await run_async(node_clients, output_format, environment(gw.url, tmp_path, auth_token=KEY))
    result = said_hello(done)
    assert result["result"] == "".join(TEXT_PIECES)  # the fake upstream's answer, relayed

    calls = model_calls(anthropic_upstream)
    assert len(calls) == 1, [(c.path, c.headers.get("anthropic-beta")) for c in calls]
    sent = calls[0]
    body = sent.body
    assert body["model"] == "claude-upstream"
    assert body["stream"] is True
    assert body["context_management"] == {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    assert "system" in [m["role"] for m in body["messages"]]
    assert request_shape(body) == request_shape(RECORDED)  # forwarded whole: every field, message, tool
    assert sent.headers["x-api-key"] == UPSTREAM_KEY
    assert KEY not in json.dumps(sent.headers)
    assert recorded_betas() <= set(sent.headers["anthropic-beta"].split(","))  # relayed to an anthropic upstream
    assert sent.headers["anthropic-version"] == "2023-06-01"


async def test_recorded_request_is_current(
    node_clients: NodeClients, anthropic_upstream: FakeAnthropic, tmp_path: Path, output_format: str
) -> None:
    """fixtures/claude_code_request.json is what the pinned version sends (else re-record it:
    ``python -m tests.clients.claude``). No gateway here: Claude Code straight to the fake."""
    done = await run_async(node_clients, output_format, environment(anthropic_upstream.url, tmp_path, api_key="sk-x"))
    said_hello(done)
    calls = model_calls(anthropic_upstream)
    assert len(calls) == 1
    assert calls[0].path == RECORDED_HEADERS["path"] == "/v1/messages?beta=true"
    assert request_shape(calls[0].body) == request_shape(RECORDED)
    assert recorded_betas() <= set(calls[0].headers["anthropic-beta"].split(","))
