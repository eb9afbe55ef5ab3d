"""The benchmark's scenarios and request bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from bench.procs import ANTHROPIC_MODEL, BEDROCK_MODEL, BEDROCK_MODEL_ID, GATEWAY_KEY, OPENAI_MODEL, UPSTREAM_KEY

Json = dict[str, Any]
PROMPT = "Say hello in one short sentence."
BIG_MESSAGES = 650
BIG_BYTES = 100 * 1024
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "clients" / "fixtures"
CLAUDE_CODE_TOOLS = 24
# What the official clients send besides the key (tests/clients/fixtures/claude_code_headers.json
# for Claude Code; the Python SDK's beta namespace adds ?beta=true and its x-stainless-* headers).
SDK_BETAS = "context-management-2025-06-27,interleaved-thinking-2025-05-14"
SDK_HEADERS = {
    "anthropic-beta": SDK_BETAS,
    "user-agent": "Anthropic/Python 2.15.0",
    "x-stainless-lang": "python",
    "x-stainless-package-version": "2.15.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "CPython",
    "x-stainless-runtime-version": "3.11.7",
    "x-stainless-retry-count": "0",
    "x-stainless-timeout": "600",
    "accept": "application/json",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    concurrency: int
    stream: bool = False
    api: str = "anthropic"  # which provider path: "anthropic", "openai" or "bedrock"
    big: bool = False  # the 650-message conversation
    one_round: bool = False  # exactly `concurrency` requests, all at once, no warm-up
    workers: int = 1
    client: str = "plain"  # "plain", "claude-code" (its real request) or "sdk-beta" (client.beta.messages)
    server: str = "uvicorn"  # "granian": the same gateway app under granian, against uvicorn
    pinned: bool = False  # the load generator and the upstream on one CPU, the gateway on the other(s)
    traced: bool = False  # tracing on (ratio 1.0) against the same gateway with tracing off
    # this provider path against the same request on the anthropic provider, in the same gateway
    against_anthropic: bool = False


@cache
def claude_code() -> tuple[Json, dict[str, str]]:
    """Claude Code's real first request (the fixture), its tools doubled to 24 (a session with MCP
    servers or more built-ins: ~76 KB), and its headers without the captured key."""
    body: Json = json.loads((FIXTURES / "claude_code_request.json").read_text())
    tools = list(body["tools"])
    extra = [{**tool, "name": f"{tool['name']}_mcp"} for tool in tools]
    body["tools"] = (tools + extra)[:CLAUDE_CODE_TOOLS]
    body["model"] = ANTHROPIC_MODEL
    captured = json.loads((FIXTURES / "claude_code_headers.json").read_text())["headers"]
    headers = {k: v for k, v in captured.items() if k not in ("x-api-key", "content-type", "anthropic-version")}
    return body, headers


def client_request(scenario: Scenario, key: str) -> Request:
    """A real client's request (path with ``?beta=true``, body, headers) for ``key``."""
    base = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": key}
    if scenario.client == "claude-code":
        body, headers = claude_code()
        return Request("/v1/messages?beta=true", orjson.dumps(body), {**base, **headers})
    body = messages_body(stream=scenario.stream)
    body["context_management"] = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    return Request("/v1/messages?beta=true", orjson.dumps(body), {**base, **SDK_HEADERS})


def messages_body(*, stream: bool, big: bool = False) -> Json:
    body: Json = {"model": ANTHROPIC_MODEL, "max_tokens": 256, "messages": conversation() if big else []}
    if not big:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    if stream:
        body["stream"] = True
    return body


def conversation() -> list[Json]:
    """650 alternating turns, about 100 KB: user turns as text blocks, assistant turns as strings."""
    per_message = BIG_BYTES // BIG_MESSAGES - 40
    words = "the quick brown fox jumps over the lazy dog and keeps on running "
    turns: list[Json] = []
    for i in range(BIG_MESSAGES):
        text = (f"turn {i}: " + words * (per_message // len(words) + 1))[:per_message]
        if i % 2 == 0:
            turns.append({"role": "user", "content": [{"type": "text", "text": text}]})
        else:
            turns.append({"role": "assistant", "content": text})
    return turns


def chat_body(*, stream: bool) -> Json:
    body: Json = {"model": "gpt-upstream", "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    return body


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


def direct_request(scenario: Scenario) -> Request:
    """What the client sends straight to the fake upstream for this scenario."""
    if scenario.client != "plain":
        return client_request(scenario, UPSTREAM_KEY)
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": UPSTREAM_KEY}
    if scenario.api == "openai":
        return Request("/v1/chat/completions", orjson.dumps(chat_body(stream=scenario.stream)), headers)
    if scenario.api == "bedrock":
        operation = "invoke-with-response-stream" if scenario.stream else "invoke"
        body = {k: v for k, v in messages_body(stream=False).items() if k != "model"}
        body["anthropic_version"] = "bedrock-2023-05-31"
        # signed once: the bench upstream checks that a signature is there, not that it is fresh
        signed = {**headers, "authorization": "AWS4-HMAC-SHA256 Credential=AKIDBENCHFAKE/20260101/us-east-1/bedrock"}
        return Request(f"/model/{BEDROCK_MODEL_ID}/{operation}", orjson.dumps(body), signed)
    return Request("/v1/messages", orjson.dumps(messages_body(stream=scenario.stream, big=scenario.big)), headers)


def gateway_request(scenario: Scenario) -> Request:
    """What the client sends to the gateway (and to the floor): the Anthropic request, routed by model name."""
    if scenario.client != "plain":
        return client_request(scenario, GATEWAY_KEY)
    body = messages_body(stream=scenario.stream, big=scenario.big)
    if scenario.api == "openai":
        body["model"] = OPENAI_MODEL
    if scenario.api == "bedrock":
        body["model"] = BEDROCK_MODEL
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": GATEWAY_KEY}
    return Request("/v1/messages", orjson.dumps(body), headers)


SMOKE_SKIPS = frozenset(
    {"cc-stream-c1", "sdk-beta-json-c1", "sdk-beta-stream-c1", "json-c1-granian", "stream-c16-granian"}
)


def scenarios(*, smoke: bool) -> list[Scenario]:
    """Every scenario of a run; a smoke run skips a few near-duplicates to stay quick."""
    every = _scenarios(smoke=smoke)
    return [s for s in every if s.name not in SMOKE_SKIPS] if smoke else every


def _scenarios(*, smoke: bool) -> list[Scenario]:
    many = 50 if smoke else 1000
    cc = "Claude Code's request: ?beta=true, 24 tools, ~76 KB, stream"
    sdk = "Python SDK client.beta.messages.create (?beta=true)"
    sdk_stream = "Python SDK client.beta.messages.stream (?beta=true)"
    granian = "granian vs uvicorn (same app)"
    return [
        Scenario("json-c1", "non-streaming", 1),
        Scenario("json-c16", "non-streaming", 16),
        Scenario("json-c64", "non-streaming", 64),
        Scenario("stream-c1", "streaming, 20 deltas 5 ms apart", 1, stream=True),
        Scenario("stream-c16", "streaming, 20 deltas 5 ms apart", 16, stream=True),
        Scenario("big-c1", f"{BIG_MESSAGES}-message ~100 KB body", 1, big=True),
        Scenario(f"streams-{many}", f"{many} concurrent open streams", many, stream=True, one_round=True),
        Scenario("openai-json-c1", "openai provider (translation), non-streaming", 1, api="openai"),
        Scenario("openai-stream-c16", "openai provider (translation), streaming", 16, stream=True, api="openai"),
        Scenario("cc-stream-c1", cc, 1, stream=True, client="claude-code"),
        Scenario("cc-stream-c16", cc, 16, stream=True, client="claude-code"),
        Scenario("sdk-beta-json-c1", sdk, 1, client="sdk-beta"),
        Scenario("sdk-beta-json-c16", sdk, 16, client="sdk-beta"),
        Scenario("sdk-beta-stream-c1", sdk_stream, 1, stream=True, client="sdk-beta"),
        Scenario("sdk-beta-stream-c16", sdk_stream, 16, stream=True, client="sdk-beta"),
        Scenario("json-c1-granian", "non-streaming, " + granian, 1, server="granian"),
        Scenario("json-c16-granian", "non-streaming, " + granian, 16, server="granian"),
        Scenario("stream-c16-granian", "streaming, " + granian, 16, stream=True, server="granian"),
        Scenario(
            "bedrock-json-c1",
            "bedrock provider (SigV4, InvokeModel) vs anthropic, non-streaming",
            1,
            api="bedrock",
            against_anthropic=True,
        ),
        Scenario(
            "bedrock-stream-c16",
            "bedrock provider (SigV4, event stream) vs anthropic, streaming",
            16,
            stream=True,
            api="bedrock",
            against_anthropic=True,
        ),
        Scenario("json-c64-w2", "non-streaming, --workers 2 vs 1, load generator pinned", 64, workers=2, pinned=True),
        Scenario("json-c16-traced", "non-streaming, tracing on (ratio 1.0) vs off", 16, traced=True),
        Scenario("stream-c16-traced", "streaming, tracing on (ratio 1.0) vs off", 16, stream=True, traced=True),
    ]
