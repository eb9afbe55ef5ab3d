"""The upstream keys of the config: a provider's ``headers``, ``forward_headers`` and ``proxy``,
and ``server.retry_budget``; errors name the key path and never echo a secret value."""

from __future__ import annotations

from typing import Any

import pytest

from specgate.core.config import ConfigError, RetryBudgetConfig, parse_config
from specgate.core.config.upstream import forwards

TYPES = ("echo", "anthropic", "openai")


def parse(data: Any, **env: str) -> Any:
    return parse_config(data, source="gw.yaml", known_provider_types=TYPES, environ=env)


def provider(**fields: Any) -> dict[str, Any]:
    return {"providers": [{"name": "p", "type": "anthropic", "base_url": "http://127.0.0.1:9", **fields}]}


def test_headers_forward_headers_and_proxy() -> None:
    cfg = parse(
        provider(
            headers={"X-Portkey-Provider": "anthropic", "x-portkey-api-key": "${PK_KEY}", "x-count": 3},
            forward_headers=["X-Portkey-Trace-Id", "x-stainless-*"],
            proxy="http://user:pw@proxy.internal:3128",
        ),
        PK_KEY="pk-secret",
    )
    p = cfg.providers[0]
    assert p.headers == {"x-portkey-provider": "anthropic", "x-portkey-api-key": "pk-secret", "x-count": "3"}
    assert p.forward_headers == ("x-portkey-trace-id", "x-stainless-*")
    assert p.proxy == "http://user:pw@proxy.internal:3128"
    assert "pk-secret" not in repr(p) and "pw@" not in repr(p), "secrets stay out of the repr"
    assert parse(provider(proxy="env")).providers[0].proxy == "env"
    assert parse(provider()).providers[0].headers == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"headers": ["x-a"]}, r"providers\[0\]\.headers: must be a mapping"),
        ({"headers": {"bad name": "v"}}, r"providers\[0\]\.headers\.bad name: is not a valid HTTP header name"),
        ({"headers": {"Content-Length": "1"}}, r"headers\.Content-Length: is set by the gateway's transport"),
        ({"headers": {"host": "x"}}, r"headers\.host: is set by the gateway's transport"),
        ({"headers": {"x-a": {"b": 1}}}, r"headers\.x-a: must be a string"),
        ({"headers": {"x-a": "one\r\nx-b: two"}}, r"headers\.x-a: must not contain line breaks"),
        ({"headers": {"x-a": "1", "X-A": "2"}}, r"headers\.X-A: is given twice"),
        ({"forward_headers": ["transfer-encoding"]}, r"forward_headers\[0\]: 'transfer-encoding' is set by"),
        ({"forward_headers": ["x a"]}, r"forward_headers\[0\]: must be a header name or a glob"),
        ({"forward_headers": "x-a"}, None),  # a single string is a list of one
        ({"proxy": "socks5://127.0.0.1:1080"}, r"providers\[0\]\.proxy: must be 'env' or an http:// or https://"),
        ({"proxy": "http://"}, r"providers\[0\]\.proxy: must be 'env' or"),
    ],
)
def test_upstream_key_errors(fields: dict[str, Any], message: str | None) -> None:
    if message is None:
        assert parse(provider(**fields)).providers[0].forward_headers == ("x-a",)
        return
    with pytest.raises(ConfigError, match=message) as info:
        parse(provider(**fields))
    assert "one\r\n" not in str(info.value)


def test_a_proxy_error_does_not_echo_its_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        parse(provider(proxy="ftp://admin:hunter2@proxy:21"))
    assert "hunter2" not in str(info.value)


def test_forwards() -> None:
    patterns = ("x-portkey-*", "*", "x-api-key")
    assert forwards(patterns, "x-portkey-trace-id") and forwards(patterns, "anything")
    assert forwards(patterns, "x-api-key")  # named exactly
    for name in ("authorization", "cookie", "x-bf-vk", "proxy-authorization", "api-key"):
        assert not forwards(patterns, name), name
    assert not forwards(("*",), "content-length") and not forwards(("host",), "host")


def test_retry_budget() -> None:
    assert parse(provider()).server.retry_budget == RetryBudgetConfig(max_attempts=10, max_seconds=120.0)
    cfg = parse({**provider(), "server": {"retry_budget": {"max_attempts": 4, "max_seconds": 30}}})
    assert cfg.server.retry_budget == RetryBudgetConfig(max_attempts=4, max_seconds=30.0)
    unbounded = parse({**provider(), "server": {"retry_budget": {"max_attempts": None, "max_seconds": None}}})
    assert unbounded.server.retry_budget == RetryBudgetConfig(max_attempts=None, max_seconds=None)
    for bad, message in [
        ({"max_attempts": 0}, r"server\.retry_budget\.max_attempts: must be at least 1"),
        ({"max_seconds": 0}, r"server\.retry_budget\.max_seconds: must be greater than 0"),
        ({"attempts": 3}, r"server\.retry_budget\.attempts: unknown key"),
        ({"max_attempts": "many"}, r"server\.retry_budget\.max_attempts: must be an integer"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse({**provider(), "server": {"retry_budget": bad}})
