"""GET /v1/version: the worked example of CONTRIBUTING.md ("Add an endpoint")."""

from __future__ import annotations

from typing import Any

import anthropic

import specgate
from specgate.contract import spec
from tests.support.http import request

KEY = "sk-version"


def test_version_names_the_gateway_and_the_accepted_api_versions(gateway_factory: Any) -> None:
    running = gateway_factory({"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]})
    reply = request(running.url + "/v1/version", "GET", headers={"x-api-key": KEY})
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["request-id"].startswith("req_")
    # the accepted versions are exactly the spec's anthropic-version enum: they cannot drift apart
    parameter = spec.bundle()["components"]["parameters"]["AnthropicVersion"]
    assert reply.json() == {
        "name": "specgate",
        "version": specgate.__version__,
        "api_versions": parameter["schema"]["enum"],
        "default_api_version": "2023-06-01",
    }


def test_every_advertised_version_is_accepted_by_the_messages_route(gateway_factory: Any) -> None:
    running = gateway_factory({"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]})
    versions = request(running.url + "/v1/version", "GET", headers={"x-api-key": KEY}).json()["api_versions"]
    for version in versions:
        client = anthropic.Anthropic(base_url=running.url, api_key=KEY, default_headers={"anthropic-version": version})
        message = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": version}]
        )
        assert message.content[0].type == "text" and message.content[0].text == version


def test_version_needs_a_key(gateway_factory: Any) -> None:
    running = gateway_factory({"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]})
    reply = request(running.url + "/v1/version", "GET")
    assert reply.status == 401
    assert reply.json()["error"]["type"] == "authentication_error"
    assert request(running.url + "/v1/version", "GET", headers={"x-api-key": "sk-wrong"}).status == 401
