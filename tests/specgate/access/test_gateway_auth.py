"""End to end against a real gateway: the four schemes with virtual and admin keys, precedence,
model access, the failed-auth brake, no key material in logs, and no 500 for any header."""

from __future__ import annotations

import base64
import logging
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.clock import ManualClock
from tests.support.http import request

ADMIN = "sk-admin-0123456789abcdef"
VK_A = "sk-vk-alpha-0123456789abcdef"
VK_B = "sk-vk-bravo-0123456789abcdef"
WRONG = "sk-vk-wrong-0123456789abcdef"
ALL_KEYS = (ADMIN, VK_A, VK_B, WRONG)
MODELS = ["claude-sonnet-4-6", "claude-haiku-4-6", "gpt-4o"]


def config(max_failures: int = 100) -> dict[str, Any]:
    return {
        "auth": {
            "api_keys": [ADMIN],
            "virtual_keys": [
                {"id": "alpha", "key": VK_A, "models": ["claude-*"]},
                {"id": "bravo", "key": VK_B, "models": ["gpt-4o"]},
            ],
            "max_failures": max_failures,
        },
        "providers": [{"name": "echo", "type": "echo"}],
        "models": [{"match": m, "provider": "echo"} for m in MODELS] + [{"match": "*", "provider": "echo"}],
    }


def body(model: str = "claude-sonnet-4-6") -> dict[str, Any]:
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{key}".encode()).decode()


SCHEMES = {
    "x-api-key": lambda k: {"x-api-key": k},
    "bearer": lambda k: {"authorization": f"Bearer {k}"},
    "basic": lambda k: {"authorization": basic(k)},
    "x-bf-vk": lambda k: {"x-bf-vk": k},
}


@pytest.fixture
def gw(gateway_factory: Any) -> Any:
    return gateway_factory(config())


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("key", [VK_A, ADMIN])
def test_scheme_valid_invalid_missing(gw: Any, scheme: str, key: str) -> None:
    ok = request(gw.url + "/v1/messages", body=body(), headers=SCHEMES[scheme](key))
    assert ok.status == 200, ok.body
    bad = request(gw.url + "/v1/messages", body=body(), headers=SCHEMES[scheme](WRONG))
    assert bad.status == 401 and bad.json()["error"]["type"] == "authentication_error"
    assert WRONG.encode() not in bad.body and b"sk-" not in bad.body
    missing = request(gw.url + "/v1/messages", body=body())
    assert missing.status == 401 and missing.json()["error"]["type"] == "authentication_error"


def test_x_api_key_wins(gw: Any) -> None:
    # alpha may use claude-*, bravo only gpt-4o: which principal answered shows which key won
    both = {"x-api-key": VK_A, "authorization": f"Bearer {VK_B}", "x-bf-vk": VK_B}
    assert request(gw.url + "/v1/messages", body=body(), headers=both).status == 200
    flipped = {"x-api-key": VK_B, "authorization": f"Bearer {VK_A}", "x-bf-vk": VK_A}
    assert request(gw.url + "/v1/messages", body=body(), headers=flipped).status == 403
    wrong_first = {"x-api-key": WRONG, "authorization": f"Bearer {VK_A}"}
    assert request(gw.url + "/v1/messages", body=body(), headers=wrong_first).status == 401
    # without x-api-key, Bearer and x-bf-vk are alternatives: a valid one is enough
    either = {"x-bf-vk": VK_A, "authorization": basic(WRONG)}
    assert request(gw.url + "/v1/messages", body=body(), headers=either).status == 200


def test_model_access(gw: Any) -> None:
    r = request(gw.url + "/v1/messages", body=body("claude-sonnet-4-6"), headers={"x-bf-vk": VK_B})
    assert r.status == 403
    assert r.json()["error"] == {
        "type": "permission_error",
        "message": "model: key 'bravo' is not allowed to use model 'claude-sonnet-4-6'",
    }
    assert request(gw.url + "/v1/messages", body=body("gpt-4o"), headers={"x-bf-vk": VK_B}).status == 200
    stream = request(gw.url + "/anthropic/v1/messages", body={**body(), "stream": True}, headers={"x-bf-vk": VK_B})
    assert stream.status == 403
    counted = request(
        gw.url + "/v1/messages/count_tokens",
        body={"model": "claude-haiku-4-6", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"x-api-key": VK_B},
    )
    assert counted.status == 403 and "claude-haiku-4-6" in counted.json()["error"]["message"]
    envelope = request(gw.url + "/api/v1/messages", body=body(), headers={"x-api-key": VK_B})
    assert envelope.status == 403 and envelope.json()["code"] == "403"


def test_models_list_is_filtered(gw: Any) -> None:
    def listed(key: str) -> set[str]:
        r = request(gw.url + "/v1/models", "GET", headers={"x-api-key": key})
        assert r.status == 200
        return {m["id"] for m in r.json()["data"]}

    assert listed(ADMIN) == set(MODELS)
    assert listed(VK_A) == {"claude-sonnet-4-6", "claude-haiku-4-6"}
    assert listed(VK_B) == {"gpt-4o"}
    assert request(gw.url + "/v1/models/gpt-4o", "GET", headers={"x-api-key": VK_A}).status == 403
    assert request(gw.url + "/v1/models/gpt-4o", "GET", headers={"x-api-key": VK_B}).status == 200


def test_official_sdk_with_a_virtual_key(gw: Any) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=VK_B, max_retries=0)
    assert client.messages.create(**body("gpt-4o")).content[0].text == "Hello"  # type: ignore[union-attr]
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        client.messages.create(**body("claude-sonnet-4-6"))
    assert "claude-sonnet-4-6" in str(info.value)
    assert [m.id for m in client.models.list()] == ["gpt-4o"]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key=WRONG, max_retries=0).messages.create(**body("gpt-4o"))


def test_failed_auth_brake(gateway_factory: Any) -> None:
    clock = ManualClock()
    gw = gateway_factory(config(max_failures=3), clock=clock)
    for _ in range(3):
        assert request(gw.url + "/v1/messages", body=body(), headers={"x-api-key": WRONG}).status == 401
    locked = request(gw.url + "/v1/messages", body=body(), headers={"x-api-key": WRONG})
    assert locked.status == 429 and locked.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # while locked out, a right key is refused too: the answer must not tell a guess was right
    assert request(gw.url + "/v1/messages", body=body(), headers={"x-api-key": VK_A}).status == 429
    assert request(gw.url + "/healthz", "GET").status == 200
    clock.advance(60)
    assert request(gw.url + "/v1/messages", body=body(), headers={"x-api-key": VK_A}).status == 200


def test_valid_keys_are_not_counted_as_failures(gateway_factory: Any) -> None:
    gw = gateway_factory(config(max_failures=2))
    for _ in range(10):
        assert request(gw.url + "/v1/messages", body=body(), headers={"authorization": f"Bearer {VK_A}"}).status == 200


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Token abc", "bearer  "],
)
def test_malformed_authorization_is_401(gw: Any, value: str) -> None:
    r = request(gw.url + "/v1/messages", body=body(), headers={"authorization": value})
    assert r.status == 401, r.body
    assert r.json()["error"]["type"] == "authentication_error"


def test_no_key_material_in_logs(gateway_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gw = gateway_factory(config(max_failures=2))
    for scheme in SCHEMES.values():
        for key in ALL_KEYS:
            request(gw.url + "/v1/messages", body=body(), headers=scheme(key))
            request(gw.url + "/v1/messages", body={**body("gpt-4o"), "stream": True}, headers=scheme(key))
    assert caplog.records  # something was logged (the lockout, at least)
    for key in ALL_KEYS:
        assert key not in caplog.text
        assert key[6:20] not in caplog.text


_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        _HEADER_TEXT,
        st.builds(
            lambda p, t: f"{p} {t}", st.sampled_from(["Bearer", "Basic", "bearer", "BASIC", "Digest"]), _HEADER_TEXT
        ),
        st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=60)),
        st.builds(lambda t: f"Bearer {VK_A}{t}", _HEADER_TEXT),
    )
)
def test_no_authorization_value_gives_500(gateway_factory: Any, value: str) -> None:
    gw = _shared(gateway_factory)
    r = request(gw.url + "/v1/messages", body=body(), headers={"authorization": value})
    assert r.status in (200, 401), (value, r.status, r.body)
    if r.status == 401:
        assert r.json()["error"]["type"] == "authentication_error"


_gateways: dict[int, Any] = {}


def _shared(factory: Any) -> Any:
    """One gateway for all hypothesis examples of a test run (the factory stops it afterwards)."""
    if id(factory) not in _gateways:
        _gateways.clear()
        _gateways[id(factory)] = factory(config(max_failures=0))
    return _gateways[id(factory)]
