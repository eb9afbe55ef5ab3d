"""The cloud provider keys (``specgate.core.config.cloud``): each type takes its own, required
ones are named, ``${ENV}`` works, and the providers build from them without network."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from providers.registry import build_providers, close_providers, provider_types
from specgate.core.config import CloudConfig, ConfigError, EntraConfig, parse_config

TYPES = tuple(provider_types())


def parse(providers: list[dict[str, Any]], **env: str) -> Any:
    return parse_config({"providers": providers}, source="gw.yaml", known_provider_types=TYPES, environ=env)


def test_cloud_keys_are_parsed() -> None:
    config = parse(
        [
            {
                "name": "b",
                "type": "bedrock",
                "region": "us-west-2",
                "aws_profile": "prod",
                "model_ids": {"claude-sonnet-4-5": "arn:aws:bedrock:us-west-2:1:inference-profile/x"},
            },
            {
                "name": "v",
                "type": "vertex",
                "project": "${PROJECT}",
                "region": "global",
                "credentials_file": "/sa.json",
            },
            {
                "name": "a",
                "type": "azure_openai",
                "base_url": "https://res.openai.azure.com/",
                "entra": {"tenant_id": "t", "client_id": "c", "client_secret": "${SECRET}"},
            },
        ],
        PROJECT="proj-1",
        SECRET="s3cret",
    )
    bedrock, vertex, azure = config.providers
    assert bedrock.cloud == CloudConfig(
        region="us-west-2",
        aws_profile="prod",
        model_ids={"claude-sonnet-4-5": "arn:aws:bedrock:us-west-2:1:inference-profile/x"},
    )
    assert vertex.cloud == CloudConfig(project="proj-1", region="global", credentials_file="/sa.json")
    assert azure.base_url == "https://res.openai.azure.com"
    assert azure.cloud.api_version == "2024-10-21"  # the default
    assert azure.cloud.entra == EntraConfig("t", "c", "s3cret", "https://login.microsoftonline.com")
    assert "s3cret" not in repr(azure)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "bedrock"}, "providers[0].region: is required for type 'bedrock'"),
        ({"type": "vertex", "region": "us-east5"}, "providers[0].project: is required for type 'vertex'"),
        ({"type": "azure_openai"}, "providers[0].base_url: is required for type 'azure_openai'"),
        (
            {"type": "openai", "base_url": "http://x", "region": "r"},
            "providers[0].region: only for type 'bedrock' or 'vertex'",
        ),
        (
            {"type": "bedrock", "region": "r", "project": "p"},
            "providers[0].project: only for type 'vertex', not 'bedrock'",
        ),
        (
            {"type": "bedrock", "region": "r", "model_ids": {"a": 1}},
            "providers[0].model_ids.a: must be a non-empty string",
        ),
        (
            {"type": "azure_openai", "base_url": "http://x", "entra": {"tenant_id": "t", "client_id": "c"}},
            "providers[0].entra.client_secret: is required",
        ),
        (
            {"type": "azure_openai", "base_url": "http://x", "entra": {"tenant": "t"}},
            "providers[0].entra.tenant: unknown key",
        ),
    ],
)
def test_cloud_key_errors_name_the_path(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse([{"name": "p", **entry}])
    assert message in str(info.value)


async def test_the_providers_build_without_network_or_credentials() -> None:
    config = parse(
        [
            {"name": "b", "type": "bedrock", "region": "us-east-1"},
            {"name": "v", "type": "vertex", "project": "p", "region": "us-east5"},
            {"name": "a", "type": "azure_openai", "base_url": "https://res.openai.azure.com", "api_keys": ["k"]},
        ]
    )
    built = build_providers(config.providers)
    try:
        assert {name: p.type for name, p in built.items()} == {"b": "bedrock", "v": "vertex", "a": "azure_openai"}
    finally:
        await close_providers(built)


def test_an_echo_gateway_does_not_import_the_cloud_sdks() -> None:
    import subprocess

    code = (
        "import sys; from specgate.app import create_app; from specgate.core.config import default_config; "
        "create_app(default_config()); "
        "print(sorted(m for m in ('botocore', 'google.auth') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("name", ["Authorization", "x-amz-date", "X-Amz-Security-Token"])
def test_bedrock_refuses_fixed_headers_its_signature_sets(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"providers\[0\]\.headers\.{name.lower()}: is set by the request's AWS"):
        parse([{"name": "b", "type": "bedrock", "region": "us-east-1", "headers": {name: "x"}}])
    other = parse([{"name": "a", "type": "anthropic", "base_url": "http://h", "headers": {"x-amz-date": "x"}}])
    assert other.providers[0].headers == {"x-amz-date": "x"}
