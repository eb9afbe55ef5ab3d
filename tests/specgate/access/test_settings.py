"""auth.virtual_keys and limits in the config: values, defaults, errors that never show a key."""

from __future__ import annotations

from typing import Any

import pytest

from providers.registry import provider_types
from specgate.core.config import Config, ConfigError, parse_config

SECRET = "sk-vk-very-secret-value"


def parse(auth: Any, limits: Any = None, environ: dict[str, str] | None = None) -> Config:
    data: dict[str, Any] = {"auth": auth, "providers": [{"name": "echo", "type": "echo"}]}
    if limits is not None:
        data["limits"] = limits
    return parse_config(data, source="gw.yaml", known_provider_types=tuple(provider_types()), environ=environ or {})


def test_virtual_keys_with_env_values() -> None:
    config = parse(
        {
            "secret": "${HMAC_SECRET}",
            "virtual_keys": [
                {"id": "team-a", "key": "${TEAM_A}", "models": ["claude-*"], "rpm": "60", "tpm": 1000},
                {"id": "team-b", "key": "sk-team-b-key", "budget_tokens": 5, "budget_period": "month"},
            ],
        },
        {"store": "redis://127.0.0.1:6379/0"},
        environ={"TEAM_A": SECRET, "HMAC_SECRET": "0123456789abcdef0123"},
    )
    a, b = config.auth.virtual_keys
    assert (a.id, a.key, a.models, a.rpm, a.tpm, a.budget_tokens) == ("team-a", SECRET, ("claude-*",), 60, 1000, None)
    assert (b.models, b.budget_period, b.limited) == (("*",), "month", True)
    assert config.auth.enabled and config.auth.secret == "0123456789abcdef0123"
    assert config.limits.store == "redis://127.0.0.1:6379/0"
    assert SECRET not in repr(config) and "0123456789abcdef0123" not in repr(config)


def test_defaults() -> None:
    config = parse(None)
    assert not config.auth.enabled and config.limits.store == "memory"
    assert (config.auth.max_failures, config.auth.failure_window_s) == (20, 60.0)


@pytest.mark.parametrize(
    ("auth", "limits", "error"),
    [
        ({"virtual_keys": {"id": "x"}}, None, "auth.virtual_keys: must be a list"),
        ({"virtual_keys": [{"key": SECRET}]}, None, "auth.virtual_keys[0].id: is required"),
        ({"virtual_keys": [{"id": "key_x", "key": SECRET}]}, None, "auth.virtual_keys[0].id: must be 1-64"),
        ({"virtual_keys": [{"id": "a"}]}, None, "auth.virtual_keys[0].key: is required"),
        ({"virtual_keys": [{"id": "a", "key": "short"}]}, None, "auth.virtual_keys[0].key: must be at least 8"),
        (
            {"virtual_keys": [{"id": "a", "key": SECRET, "rpm": 0}]},
            None,
            "auth.virtual_keys[0].rpm: must be a positive",
        ),
        (
            {"virtual_keys": [{"id": "a", "key": SECRET, "tpm": "x"}]},
            None,
            "auth.virtual_keys[0].tpm: must be an integer",
        ),
        ({"virtual_keys": [{"id": "a", "key": SECRET, "models": []}]}, None, "auth.virtual_keys[0].models: must be"),
        ({"virtual_keys": [{"id": "a", "key": SECRET, "budget_period": "week"}]}, None, "budget_period: must be one"),
        ({"virtual_keys": [{"id": "a", "key": SECRET, "colour": 1}]}, None, "auth.virtual_keys[0].colour: unknown key"),
        (
            {"virtual_keys": [{"id": "a", "key": SECRET}, {"id": "a", "key": SECRET + "2"}]},
            None,
            "auth.virtual_keys[1].id: duplicate virtual key id 'a'",
        ),
        (
            {"api_keys": [SECRET], "virtual_keys": [{"id": "a", "key": SECRET}]},
            None,
            "auth.virtual_keys[0].key: is the same as another configured key",
        ),
        ({"secret": "short"}, None, "auth.secret: must be at least 16"),
        ({"max_failures": -1}, None, "auth.max_failures: must be 0"),
        (None, {"store": "postgres://x"}, "limits.store: must be 'memory' or a redis:// URL"),
        (None, {"shards": 2}, "limits.shards: unknown key"),
    ],
)
def test_errors_name_the_path_and_never_the_key(auth: Any, limits: Any, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(auth, limits)
    assert error in str(info.value)
    assert str(info.value).startswith("gw.yaml: ")
    assert SECRET not in str(info.value) and "'short'" not in str(info.value)


def test_limits_follow_a_redis_job_store_unless_set() -> None:
    from specgate.access.build import store_url
    from specgate.core.config import parse_config

    def url(data: dict[str, object]) -> str:
        base = {"providers": [{"name": "e", "type": "echo"}], **data}
        return store_url(parse_config(base, source="t.yaml", known_provider_types=("echo",)))

    assert url({}) == "memory"
    assert url({"jobs": {"store": "sqlite:///x.db"}}) == "memory"
    assert url({"jobs": {"store": "redis://127.0.0.1:1/0"}}) == "redis://127.0.0.1:1/0"
    assert url({"jobs": {"store": "redis://127.0.0.1:1/0"}, "limits": {"store": "redis://127.0.0.1:2/0"}}) == (
        "redis://127.0.0.1:2/0"
    )
