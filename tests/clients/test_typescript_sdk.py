"""The official TypeScript SDK (pinned in tests/clients/package.json) against a live gateway.

``ts_sdk.mjs`` makes the calls users make first, with auth on (the SDK sends ``Authorization:
Bearer``), and prints what it observed, one JSON line per check; each test below judges one.
The fields a response must carry are read from the installed SDK's type declarations.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.clients.install import HERE, NodeClients
from tests.clients.ts_types import BETA_MESSAGES, MESSAGES, MODELS, required_properties

KEY = "sk-typescript-client-0123456789"
MODEL = "claude-ts-primary"
OTHER_MODEL = "claude-ts-secondary"
HELLO = "Hello from TypeScript"
SCRIPT = HERE / "ts_sdk.mjs"
CHECKS = (
    "create",
    "stream",
    "tools",
    "count_tokens",
    "models_list",
    "batches",
    "beta_context_management",
    "bad_request",
    "wrong_key",
)
BLOCKS = {"text": "TextBlock", "tool_use": "ToolUseBlock", "thinking": "ThinkingBlock"}


@dataclass(frozen=True)
class Observed:
    records: dict[str, dict[str, Any]]
    returncode: int
    stderr: str

    def value(self, check: str) -> Any:
        """The check's result; a failure naming the SDK's error when the call threw."""
        record = self.records.get(check)
        assert record is not None, f"{check}: no output (exit {self.returncode}): {self.stderr[-3000:]}"
        assert "error" not in record, f"{check} raised: {json.dumps(record['error'])}"
        return record["value"]

    def error(self, check: str) -> dict[str, Any]:
        record = self.records.get(check)
        assert record is not None, f"{check}: no output (exit {self.returncode}): {self.stderr[-3000:]}"
        assert "error" in record, f"{check} was expected to fail: {json.dumps(record.get('value'))[:2000]}"
        error: dict[str, Any] = record["error"]
        return error


@pytest.fixture(scope="module")
def gateway(module_gateway_factory: Any) -> Any:
    return module_gateway_factory(
        {
            "auth": {"api_keys": [KEY]},
            "providers": [{"name": "echo", "type": "echo"}],
            "models": [
                {"match": MODEL, "provider": "echo"},  # exact routes: listed by /v1/models
                {"match": OTHER_MODEL, "provider": "echo"},
                {"match": "*", "provider": "echo"},
            ],
        }
    )


@pytest.fixture(scope="module")
def observed(node_clients: NodeClients, gateway: Any) -> Observed:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SPECGATE_URL": gateway.url,
        "SPECGATE_KEY": KEY,
        "SPECGATE_MODEL": MODEL,
        "SPECGATE_NODE_MODULES": str(node_clients.node_modules),
    }
    done = subprocess.run(
        [str(node_clients.node), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    records = {}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        records[record["check"]] = record
    return Observed(records, done.returncode, done.stderr)


@pytest.fixture(scope="module")
def node_modules(node_clients: NodeClients) -> Path:
    return node_clients.node_modules


def missing(obj: dict[str, Any], node_modules: Path, declarations: Path, interface: str) -> list[str]:
    return sorted(required_properties(node_modules, declarations, interface) - set(obj))


def incomplete(messages: Iterable[dict[str, Any]], node_modules: Path, *, beta: bool = False) -> dict[str, list[str]]:
    """Per message: the properties the SDK's types declare always present that it lacks."""
    decl, prefix = (BETA_MESSAGES, "Beta") if beta else (MESSAGES, "")
    gaps: dict[str, list[str]] = {}
    for msg in messages:
        where = msg.get("id", "?")
        if lack := missing(msg, node_modules, decl, f"{prefix}Message"):
            gaps[where] = lack
        if lack := missing(msg.get("usage", {}), node_modules, decl, f"{prefix}Usage"):
            gaps[f"{where}.usage"] = lack
        for i, block in enumerate(msg.get("content", [])):
            if block.get("type") in BLOCKS and (
                lack := missing(block, node_modules, decl, prefix + BLOCKS[block["type"]])
            ):
                gaps[f"{where}.content[{i}]"] = lack
    return gaps


def text_of(msg: dict[str, Any]) -> str:
    return "".join(b["text"] for b in msg["content"] if b["type"] == "text")


def test_every_check_ran(observed: Observed) -> None:
    assert observed.returncode == 0, observed.stderr[-3000:]
    assert tuple(observed.records) == CHECKS


def test_create(observed: Observed) -> None:
    got = observed.value("create")
    msg = got["message"]
    assert (msg["type"], msg["role"], msg["model"]) == ("message", "assistant", MODEL)
    assert text_of(msg) == HELLO and msg["stop_reason"] == "end_turn"
    assert msg["usage"]["input_tokens"] > 0 and msg["usage"]["output_tokens"] > 0
    assert got["request_id"].startswith("req_") and got["provider"] == "echo"


def test_stream_final_message(observed: Observed) -> None:
    got = observed.value("stream")
    events = got["events"]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"], events
    assert "content_block_delta" in events
    assert got["text"] == text_of(got["message"]) == HELLO
    assert got["message"]["stop_reason"] == "end_turn" and got["message"]["model"] == MODEL


def test_responses_carry_every_field_the_types_declare(observed: Observed, node_modules: Path) -> None:
    messages = [
        observed.value("create")["message"],
        observed.value("stream")["message"],
        observed.value("tools")["first"],
        observed.value("tools")["second"],
    ]
    assert incomplete(messages, node_modules) == {}


def test_tool_call(observed: Observed) -> None:
    first = observed.value("tools")["first"]
    assert first["stop_reason"] == "tool_use"
    calls = [b for b in first["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["get_weather"]
    assert isinstance(calls[0]["input"].get("city"), str)  # valid against the tool's input_schema
    assert calls[0]["id"].startswith("toolu_")


def test_tool_result_round_trip(observed: Observed) -> None:
    """The SDK's response content, sent back as the assistant turn, is accepted."""
    got = observed.value("tools")
    second = got["second"]
    assert second is not None, "no tool_use to answer"
    assert second["type"] == "message" and second["stop_reason"] == "end_turn"
    call_id = next(b["id"] for b in got["first"]["content"] if b["type"] == "tool_use")
    assert text_of(second) == f"Tool result for {call_id}: 15 degrees, clear"  # echo quotes the result


def test_count_tokens(observed: Observed) -> None:
    got = observed.value("count_tokens")
    assert set(got) == {"input_tokens"} and isinstance(got["input_tokens"], int) and got["input_tokens"] > 0


def test_models_list(observed: Observed, node_modules: Path) -> None:
    models = observed.value("models_list")["models"]  # fetched one per page: auto-pagination
    assert sorted(m["id"] for m in models) == sorted([MODEL, OTHER_MODEL])
    for info in models:
        assert info["type"] == "model" and info["display_name"]
        assert missing(info, node_modules, MODELS, "ModelInfo") == [], info


def test_batches(observed: Observed, gateway: Any) -> None:
    got = observed.value("batches")
    created, retrieved, ended = got["created"], got["retrieved"], got["ended"]
    assert created["type"] == "message_batch" and created["id"].startswith("msgbatch_")
    assert created["processing_status"] in {"in_progress", "ended"}
    assert retrieved["id"] == ended["id"] == created["id"]
    assert ended["processing_status"] == "ended", ended
    assert ended["request_counts"] == {"processing": 0, "succeeded": 2, "errored": 0, "canceled": 0, "expired": 0}
    assert ended["results_url"].startswith(gateway.url + "/v1/messages/batches/")
    results = {r["custom_id"]: r["result"] for r in got["results"]}
    assert sorted(results) == ["first", "second"]
    assert {k: (r["type"], text_of(r["message"])) for k, r in results.items()} == {
        "first": ("succeeded", HELLO),
        "second": ("succeeded", "Second one"),
    }
    assert created["id"] in got["listed"]


def test_beta_create_with_context_management(observed: Observed, gateway: Any) -> None:
    got = observed.value("beta_context_management")
    msg = got["message"]
    assert msg["type"] == "message" and msg["model"] == MODEL
    assert [b["type"] for b in msg["content"]] == ["thinking", "text"]
    assert text_of(msg) == HELLO
    assert got["url"].split("?")[0] == gateway.url + "/v1/messages"  # 1.15.0 adds no ?beta=true


def test_beta_response_carries_every_field_the_beta_types_declare(observed: Observed, node_modules: Path) -> None:
    msg = observed.value("beta_context_management")["message"]
    assert incomplete([msg], node_modules, beta=True) == {}


def test_bad_request_is_a_bad_request_error(observed: Observed) -> None:
    err = observed.error("bad_request")
    assert err["name"] == "BadRequestError" and err["isBadRequest"] is True
    assert err["status"] == 400
    assert err["body"]["type"] == "error"
    assert err["body"]["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in err["body"]["error"]["message"]
    assert err["requestID"].startswith("req_") and err["requestID"] == err["body"]["request_id"]


def test_wrong_key_is_an_authentication_error(observed: Observed) -> None:
    err = observed.error("wrong_key")
    assert err["name"] == "AuthenticationError" and err["isAuthentication"] is True
    assert err["status"] == 401 and err["body"]["error"]["type"] == "authentication_error"
    assert err["requestID"].startswith("req_")
