"""Config file loading: interpolation, validation errors that name file and key path."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest

from specgate.core.config import ConfigError, load_config, parse_config

TYPES = ("echo", "anthropic", "openai")


def parse(data: Any, **env: str) -> Any:
    return parse_config(data, source="gw.yaml", known_provider_types=TYPES, environ=env)


def test_default_config_routes_everything_to_echo() -> None:
    config = load_config(None, known_provider_types=TYPES)
    assert config.is_default
    assert [p.type for p in config.providers] == ["echo"]
    assert config.models[0].match == "*"


def test_full_config_with_interpolation(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        """
server: {host: 127.0.0.1, port: "${PORT}", max_body_bytes: 65536}
auth: {api_keys: ["${KEY}", "literal"]}
providers:
  - {name: up, type: anthropic, base_url: "http://127.0.0.1:9/", api_keys: ["${UP_KEY:-fallback}"], timeout_s: 5}
  - {name: local, type: echo}
models:
  - {match: claude-*, provider: up, upstream_model: claude-real, fallbacks: [local-model]}
  - {match: local-model, provider: local}
logging: {level: WARNING}
"""
    )
    config = load_config(path, known_provider_types=TYPES, environ={"PORT": "9999", "KEY": "sk-env"})
    assert config.server.port == 9999 and config.server.max_body_bytes == 65536
    assert config.auth.api_keys == ("sk-env", "literal")
    up = config.providers[0]
    assert up.base_url == "http://127.0.0.1:9" and up.api_keys == ("fallback",) and up.timeout_s == 5.0
    assert config.models[0].fallbacks == ("local-model",)
    assert config.log_level == "warning"


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        (
            {"providers": [{"name": "a", "type": "nope"}]},
            {},
            "gw.yaml: providers[0].type: unknown provider type 'nope'",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "models": [{"match": "*", "provider": "b"}]},
            {},
            "gw.yaml: models[0].provider: no provider named 'b'",
        ),
        (
            {"providers": [{"name": "a", "type": "anthropic", "base_url": "http://x", "api_keys": ["${MISSING}"]}]},
            {},
            "gw.yaml: providers[0].api_keys[0]: environment variable MISSING is not set",
        ),
        (
            {"providers": [{"name": "a", "type": "anthropic"}]},
            {},
            "gw.yaml: providers[0].base_url: is required",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "server": {"prot": 1}},
            {},
            "gw.yaml: server.prot: unknown key",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "server": {"port": "x"}},
            {},
            "gw.yaml: server.port: must be an integer",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "server": {"port": 70000}},
            {},
            "gw.yaml: server.port: must be between",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}, {"name": "a", "type": "echo"}]},
            {},
            "providers[1].name: duplicate",
        ),
        ({"providers": []}, {}, "gw.yaml: providers: must be a non-empty list"),
        ({}, {}, "gw.yaml: providers: is required"),
        (
            {"providers": [{"name": "a", "type": "echo"}], "auth": {"api_keys": [""]}},
            {},
            "auth.api_keys: must be a list",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "logging": {"level": "loud"}},
            {},
            "logging.level: must be one of",
        ),
        ([1, 2], {}, "gw.yaml: must be a mapping"),
        (
            {"providers": [{"name": "a", "type": "echo"}], "auth": {"api_keys": ["${GW_KEY}"]}},
            {},
            "gw.yaml: auth.api_keys[0]: environment variable GW_KEY is not set",
        ),
        (
            {"providers": [{"name": "a", "type": "openai", "base_url": "http://x", "api_keys": ["${EMPTY:-}"]}]},
            {},
            "gw.yaml: providers[0].api_keys: must be a list of non-empty strings",
        ),
        (
            {"providers": [{"name": "a", "type": "openai", "base_url": "${OAI_URL}"}]},
            {},
            "gw.yaml: providers[0].base_url: environment variable OAI_URL is not set",
        ),
        (
            {
                "providers": [{"name": "a", "type": "echo"}],
                "models": [{"match": "claude-*", "provider": "a", "fallbacks": ["gpt-4o"]}],
            },
            {},
            "gw.yaml: models[0].fallbacks[0]: no route matches model 'gpt-4o'",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "models": [{"match": "*", "provider": "a", "fallbacks": 3}]},
            {},
            "gw.yaml: models[0].fallbacks: must be a list of non-empty strings",
        ),
        (
            {"providers": [{"name": "a", "type": "echo", "timeout_s": 0}]},
            {},
            "gw.yaml: providers[0].timeout_s: must be greater than 0",
        ),
        (
            {"providers": [{"name": "a", "type": "echo", "max_retries": -1}]},
            {},
            "gw.yaml: providers[0].max_retries: must not be negative",
        ),
        (
            {"providers": [{"name": "a", "type": "echo", "max_retries": 1.5}]},
            {},
            "gw.yaml: providers[0].max_retries: must be an integer",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "models": [{"match": "*"}]},
            {},
            "gw.yaml: models[0].provider: is required",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "tracing": {"sample_ratio": 0.5}},
            {},
            "gw.yaml: tracing.endpoint: is required",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "tracing": {"endpoint": "http://c:4318", "sample_ratio": 2}},
            {},
            "gw.yaml: tracing.sample_ratio: must be between 0 and 1",
        ),
        (
            {"providers": [{"name": "a", "type": "echo"}], "tracing": {"endpoint": "http://c:4318", "headers": {}}},
            {},
            "gw.yaml: tracing.headers: unknown key",
        ),
        (
            {
                "providers": [{"name": "a", "type": "echo"}],
                "models": [{"match": "*", "provider": "a", "price": {"input": -1}}],
            },
            {},
            "gw.yaml: models[0].price.input: must be a number >= 0",
        ),
        (
            {
                "providers": [{"name": "a", "type": "echo"}],
                "models": [{"match": "*", "provider": "a", "price": {"in": 1}}],
            },
            {},
            "gw.yaml: models[0].price.in: unknown key",
        ),
    ],
)
def test_errors_name_the_key(data: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data, **env)
    assert message in str(info.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", known_provider_types=TYPES)
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad, known_provider_types=TYPES)


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "config.example.yaml"
    config = load_config(
        example,
        known_provider_types=TYPES,
        environ={"ANTHROPIC_API_KEY": "x", "OPENAI_API_KEY": "y", "SPECGATE_KEY": "z"},
    )
    assert config.providers and config.models


def test_fallbacks_may_name_a_glob_route() -> None:
    config = parse(
        {
            "providers": [{"name": "a", "type": "echo"}, {"name": "b", "type": "echo"}],
            "models": [
                {"match": "claude-*", "provider": "a", "fallbacks": ["local-1"]},
                {"match": "local-*", "provider": "b"},
            ],
        }
    )
    assert config.models[0].fallbacks == ("local-1",)


def test_batches_config() -> None:
    from specgate.core.config import BatchesConfig

    assert parse({"providers": [{"name": "e", "type": "echo"}]}).batches == BatchesConfig()
    config = parse(
        {"providers": [{"name": "e", "type": "echo"}], "batches": {"max_concurrency": 2, "max_requests": 10}}
    )
    assert config.batches.max_concurrency == 2 and config.batches.max_requests == 10
    with pytest.raises(ConfigError, match=r"batches.max_concurrency: must be at least 1"):
        parse({"providers": [{"name": "e", "type": "echo"}], "batches": {"max_concurrency": 0}})
    with pytest.raises(ConfigError, match=r"batches.nope: unknown key"):
        parse({"providers": [{"name": "e", "type": "echo"}], "batches": {"nope": 1}})


def test_model_info_options_of_a_route() -> None:
    def route(**options: Any) -> Any:
        data = {"providers": [{"name": "e", "type": "echo"}], "models": [{"match": "m", "provider": "e", **options}]}
        return parse(data).models[0]

    plain = route()
    assert (plain.created_at, plain.lifecycle, plain.deprecated_at, plain.retires_at) == (
        "1970-01-01T00:00:00Z",
        "active",
        None,
        None,
    )
    assert (plain.max_input_tokens, plain.max_tokens) == (None, None)
    full = route(
        created_at=datetime.date(2025, 5, 14),  # YAML's unquoted 2025-05-14
        lifecycle="retired",
        deprecated_at="2025-06-01T02:00:00+02:00",
        retires_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        max_input_tokens="200000",  # from ${ENV}
        max_tokens=64000,
    )
    assert (full.created_at, full.deprecated_at, full.retires_at) == (
        "2025-05-14T00:00:00Z",
        "2025-06-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    )
    assert (full.lifecycle, full.max_input_tokens, full.max_tokens) == ("retired", 200000, 64000)
    for options, message in [
        ({"created_at": "yesterday"}, "models[0].created_at: must be an RFC 3339 date-time"),
        ({"created_at": 5}, "models[0].created_at: must be"),
        ({"lifecycle": "gone"}, "models[0].lifecycle: must be one of active, deprecated, retired"),
        ({"lifecycle": "deprecated"}, "models[0].deprecated_at: is required when lifecycle is 'deprecated'"),
        ({"retires_at": "soon"}, "models[0].retires_at: must be an RFC 3339 date-time"),
        ({"max_tokens": 0}, "models[0].max_tokens: must be a positive integer"),
        ({"max_input_tokens": True}, "models[0].max_input_tokens: must be"),
        ({"max_tokens": "many"}, "models[0].max_tokens: must be"),
        ({"line": "opus"}, "models[0].line: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            route(**options)


def _provider(**fields: Any) -> dict[str, Any]:
    return {"providers": [{"name": "p", "base_url": "http://127.0.0.1:9", **fields}]}


async def test_forward_unknown_fields_is_the_anthropic_types_switch() -> None:
    from providers.anthropic import AnthropicProvider
    from providers.base import forwards_unknown_fields
    from providers.echo import EchoProvider

    default = parse(_provider(type="anthropic")).providers[0]
    off = parse(_provider(type="anthropic", forward_unknown_fields=False)).providers[0]
    assert (default.forward_unknown_fields, off.forward_unknown_fields) == (None, False)
    providers = [AnthropicProvider(default), AnthropicProvider(off)]
    try:
        assert [forwards_unknown_fields(p) for p in providers] == [True, False]  # on by default
    finally:
        for provider in providers:
            await provider.aclose()
    echo = parse(_provider(type="echo", forward_unknown_fields=False)).providers[0]
    assert not forwards_unknown_fields(EchoProvider(echo))


@pytest.mark.parametrize("ptype", ["echo", "openai"])
def test_forward_unknown_fields_is_refused_for_other_types(ptype: str) -> None:
    with pytest.raises(
        ConfigError, match=r"providers\[0\]\.forward_unknown_fields: only a provider of type 'anthropic'"
    ):
        parse(_provider(type=ptype, forward_unknown_fields=True))
    with pytest.raises(ConfigError, match=r"providers\[0\]\.forward_unknown_fields: must be true or false"):
        parse(_provider(type="anthropic", forward_unknown_fields="yes"))
