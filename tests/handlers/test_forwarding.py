"""Forward compatibility: top-level fields spec/ does not know reach an ``anthropic`` upstream
unvalidated (and the response says so); every other provider answers the validator's 400.

Real gateways in front of the loopback fakes; the fake Anthropic upstream records what it got."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI
from tests.handlers.upstreams import CLIENT_KEY, FAST, config, sdk

HEADER = "x-specgate-forwarded-fields"
KEYS = {"x-api-key": CLIENT_KEY}
HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
# names no version of the API will use: they stay unknown to spec/ whatever it grows into
FUTURE = {"zz_future_param": {"mode": "on", "n": [1, 2]}, "zz_another_future": True}
REFUSAL = "zz_another_future: Extra inputs are not permitted"  # the first in sorted order
ECHO = {"name": "echo", "type": "echo"}
ECHO_ROUTE = {"match": "echo-model", "provider": "echo"}


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers or KEYS) as resp:
        payload = await resp.json(content_type=None)
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, payload


def gateway(factory: Any, ant_up: FakeAnthropic, oai_up: FakeOpenAI, **kw: Any) -> Any:
    cfg = config(ant_up.url, oai_up.url, **kw)
    cfg["providers"].append(ECHO)
    cfg["models"].insert(0, ECHO_ROUTE)
    return factory(cfg)


async def test_unknown_fields_reach_the_anthropic_upstream(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    async with sdk(gw.url) as client:
        raw = await client.messages.with_raw_response.create(model="ant-model", **HI, extra_body=FUTURE)
        assert raw.headers[HEADER] == "zz_future_param,zz_another_future"  # body order
        assert (await raw.parse()).content[0].text == "Hello, world!"  # type: ignore[union-attr]
        async with client.messages.stream(model="ant-model", **HI, extra_body=FUTURE) as stream:
            assert stream.response.headers[HEADER] == "zz_future_param,zz_another_future"
            await stream.get_final_message()
        counted = await client.messages.with_raw_response.count_tokens(
            model="ant-model", messages=HI["messages"], extra_body=FUTURE
        )
        assert counted.headers[HEADER] == "zz_future_param,zz_another_future"
        assert counted.headers["x-specgate-token-count"] == "upstream"
        plain = await client.messages.with_raw_response.create(model="ant-model", **HI)
        assert HEADER not in plain.headers
    sent = [r.body for r in anthropic_upstream.requests]
    for body in sent[:3]:  # create, stream, count_tokens: the fields as the client wrote them
        assert {k: body[k] for k in FUTURE} == FUTURE
        assert body["model"] == "claude-upstream"
    assert [r.path for r in anthropic_upstream.requests[:3]] == [
        "/v1/messages",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ]
    assert not set(FUTURE) & set(sent[3])


@pytest.mark.parametrize("path", ["/v1/messages", "/api/v1/messages", "/v1/messages/count_tokens"])
async def test_every_other_provider_answers_the_validators_400(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI, path: str
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    for model in ("echo-model", "oai-text", "no-route-at-all"):
        body = {"model": model, **HI, **FUTURE}
        if path.endswith("count_tokens"):
            del body["max_tokens"]
        status, headers, payload = await post(gw.url + path, body)
        assert status == 400, (model, payload)
        message = payload["message"] if path == "/api/v1/messages" else payload["error"]["message"]
        assert message == REFUSAL, (model, payload)
        assert HEADER not in headers
    assert not openai_upstream.requests and not anthropic_upstream.requests


async def test_the_refusal_is_the_one_a_gateway_without_forwarding_gives(gateway_factory: Any) -> None:
    plain = gateway_factory()  # the embedded default: echo for every model
    status, _, payload = await post(plain.url + "/v1/messages", {"model": "m", **HI, **FUTURE}, {})
    assert (status, payload["error"]["message"]) == (400, REFUSAL)


async def test_the_switch_turns_forwarding_off(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream, ant={"forward_unknown_fields": False})
    status, _, payload = await post(gw.url + "/v1/messages", {"model": "ant-model", **HI, **FUTURE})
    assert (status, payload["error"]["message"]) == (400, REFUSAL)
    assert not anthropic_upstream.requests


async def test_only_top_level_fields_are_forwarded(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    nested = {"model": "ant-model", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi", "zz_x": 1}]}
    status, _, payload = await post(gw.url + "/v1/messages", nested)
    assert (status, payload["error"]["message"]) == (400, "messages.0.zz_x: Extra inputs are not permitted")
    # an unknown top-level field does not hide what else is wrong: the rest is validated
    mixed = {"model": "ant-model", "max_tokens": "many", "messages": HI["messages"], **FUTURE}
    status, _, payload = await post(gw.url + "/v1/messages", mixed)
    assert (status, payload["error"]["message"]) == (400, "max_tokens: Input should be a valid integer")
    assert not anthropic_upstream.requests


async def test_fallbacks_that_do_not_forward_are_left_out(
    gateway_factory: Any, anthropic_upstream_factory: Any, openai_upstream: FakeOpenAI
) -> None:
    first, second = await anthropic_upstream_factory(), await anthropic_upstream_factory()
    routes = [
        {
            "match": "chain",
            "provider": "ant",
            "upstream_model": "claude-upstream",
            "fallbacks": ["oai-text", "ant2-model"],
        },
        {"match": "ant2-model", "provider": "ant2", "upstream_model": "claude-second"},
        {"match": "oai-first", "provider": "oai", "upstream_model": "fake-text", "fallbacks": ["ant-model"]},
    ]
    cfg = config(first.url, openai_upstream.url, models=routes)
    cfg["providers"].append({"name": "ant2", "type": "anthropic", "base_url": second.url, "api_keys": ["k2"], **FAST})
    gw = gateway_factory(cfg)
    first.script(*[anthropic_error(529, "overloaded_error", "busy")] * 3)
    status, headers, payload = await post(gw.url + "/v1/messages", {"model": "chain", **HI, **FUTURE})
    assert status == 200, payload
    assert headers["x-specgate-provider"] == "ant2" and headers[HEADER] == "zz_future_param,zz_another_future"
    assert not openai_upstream.requests  # passed over: it would have been sent a different request
    assert {k: second.requests[0].body[k] for k in FUTURE} == FUTURE
    # without the unknown fields the chain is the usual one
    first.script(*[anthropic_error(529, "overloaded_error", "busy")] * 3)
    status, headers, _ = await post(gw.url + "/v1/messages", {"model": "chain", **HI})
    assert (status, headers["x-specgate-provider"]) == (200, "oai")
    # the first route decides: an OpenAI first route refuses, whatever its fallbacks could do
    status, _, payload = await post(gw.url + "/v1/messages", {"model": "oai-first", **HI, **FUTURE})
    assert (status, payload["error"]["message"]) == (400, REFUSAL)
    assert len(openai_upstream.requests) == 1


async def test_a_fallback_that_cannot_honour_a_field_is_passed_over(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    routes = [{"match": "primary", "provider": "ant", "upstream_model": "claude-upstream", "fallbacks": ["oai-text"]}]
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream, models=routes)
    body = {"model": "primary", **HI, "container": "cntr_1"}  # known to spec/, refused by the translation
    anthropic_upstream.script(*[anthropic_error(529, "overloaded_error", "busy")] * 3)
    status, _, payload = await post(gw.url + "/v1/messages", body)
    assert (status, payload["error"]["type"]) == (529, "overloaded_error")  # the primary's failure stands
    assert not openai_upstream.requests
    status, _, payload = await post(gw.url + "/v1/messages", {**body, "model": "oai-text"})
    assert status == 400 and payload["error"]["message"].startswith("container: cannot be sent to")


async def test_async_jobs_forward_and_refuse_at_submission(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    submit = {**KEYS, "x-bf-async": "true"}
    status, headers, placeholder = await post(gw.url + "/v1/messages", {"model": "ant-model", **HI, **FUTURE}, submit)
    assert status == 200 and headers[HEADER] == "zz_future_param,zz_another_future"
    deadline = time.monotonic() + 10
    while True:
        status, headers, result = await post(gw.url + "/v1/messages", {}, {**KEYS, "x-bf-async-id": placeholder["id"]})
        if headers["x-bf-async-status"] not in ("pending", "processing") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert (status, result["content"][0]["text"]) == (200, "Hello, world!")
    assert {k: anthropic_upstream.requests[0].body[k] for k in FUTURE} == FUTURE
    # a provider that does not forward: the 400 comes at once, no job is made
    status, headers, payload = await post(gw.url + "/v1/messages", {"model": "echo-model", **HI, **FUTURE}, submit)
    assert (status, payload["error"]["message"]) == (400, REFUSAL) and "x-bf-async-id" not in headers


async def test_batch_params_stay_strict(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    batch = {"requests": [{"custom_id": "a", "params": {"model": "ant-model", **HI, **FUTURE}}]}
    status, _, payload = await post(gw.url + "/v1/messages/batches", batch)
    assert (
        status == 400
        and payload["error"]["message"] == "requests.0.params.zz_another_future: Extra inputs are not permitted"
    )
    # and the batch body's own top level is not a message body: nothing is taken there either
    status, _, payload = await post(gw.url + "/v1/messages/batches", {**batch, "zz_top": 1})
    assert status == 400 and "Extra inputs are not permitted" in payload["error"]["message"]


async def test_the_official_sdk_error_for_a_refusal(
    gateway_factory: Any, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    gw = gateway(gateway_factory, anthropic_upstream, openai_upstream)
    async with sdk(gw.url) as client:
        with pytest.raises(anthropic.BadRequestError, match=REFUSAL):
            await client.messages.create(model="oai-text", **HI, extra_body=FUTURE)
