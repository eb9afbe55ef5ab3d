"""The benchmark's scenarios and request bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bench.procs import ANTHROPIC_MODEL, BEDROCK_MODEL, BEDROCK_MODEL_ID, GATEWAY_KEY, OPENAI_MODEL, UPSTREAM_KEY

Json = dict[str, Any]
PROMPT = "Say hello in one short sentence."
BIG_MESSAGES = 650
BIG_BYTES = 100 * 1024


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
    traced: bool = False  # tracing on (ratio 1.0) against the same gateway with tracing off


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
    """What the client sends to the gateway: the Anthropic request, routed by model name."""
    body = messages_body(stream=scenario.stream, big=scenario.big)
    if scenario.api == "openai":
        body["model"] = OPENAI_MODEL
    if scenario.api == "bedrock":
        body["model"] = BEDROCK_MODEL
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": GATEWAY_KEY}
    return Request("/v1/messages", orjson.dumps(body), headers)


def scenarios(*, smoke: bool) -> list[Scenario]:
    many = 50 if smoke else 1000
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
        Scenario("bedrock-json-c1", "bedrock provider (SigV4, InvokeModel), non-streaming", 1, api="bedrock"),
        Scenario(
            "bedrock-stream-c16", "bedrock provider (SigV4, event stream), streaming", 16, stream=True, api="bedrock"
        ),
        Scenario("json-c64-w2", "non-streaming, --workers 2 vs --workers 1", 64, workers=2),
        Scenario("json-c16-traced", "non-streaming, tracing on (ratio 1.0) vs off", 16, traced=True),
        Scenario("stream-c16-traced", "streaming, tracing on (ratio 1.0) vs off", 16, stream=True, traced=True),
    ]
