"""The keys of the cloud provider types: ``bedrock`` (region, AWS profile), ``vertex`` (project,
region, service-account file), ``azure_openai`` (api-version, Entra ID), and the ``model_ids``
all three take. A key of another type is refused naming its path."""

from __future__ import annotations

from typing import Any

from specgate.core.config.models import CloudConfig, EntraConfig
from specgate.core.config.reader import Reader

# key -> the provider types that accept it
CLOUD_KEYS: dict[str, tuple[str, ...]] = {
    "region": ("bedrock", "vertex"),
    "project": ("vertex",),
    "aws_profile": ("bedrock",),
    "credentials_file": ("vertex",),
    "api_version": ("azure_openai",),
    "entra": ("azure_openai",),
    "model_ids": ("bedrock", "vertex", "azure_openai"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {"bedrock": ("region",), "vertex": ("project", "region")}
# headers Bedrock's SigV4 signature sets itself: a fixed ``headers`` value would replace the signed one
SIGNER_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")
_ENTRA_KEYS = ("tenant_id", "client_id", "client_secret", "authority_url")
DEFAULT_AZURE_API_VERSION = "2024-10-21"


def parse_cloud(r: Reader, d: dict[str, Any], path: str, ptype: str) -> CloudConfig:
    """The cloud keys of one provider entry ``d`` (already checked against the allowed names)."""
    for key, types in CLOUD_KEYS.items():
        if key in d and ptype not in types:
            raise r.fail(f"{path}.{key}", f"only for type {' or '.join(map(repr, types))}, not {ptype!r}")
    strings = {key: r.get(d, key, path, str, None) for key in ("region", "project", "aws_profile", "credentials_file")}
    for key in _REQUIRED.get(ptype, ()):
        if not strings[key]:
            raise r.fail(f"{path}.{key}", f"is required for type {ptype!r}")
    model_ids = r.get(d, "model_ids", path, dict, {})
    for name, upstream in model_ids.items():
        if not isinstance(upstream, str) or not upstream:
            raise r.fail(f"{path}.model_ids.{name}", "must be a non-empty string")
    api_version = r.get(d, "api_version", path, str, None)
    if ptype == "azure_openai" and not api_version:
        api_version = DEFAULT_AZURE_API_VERSION
    return CloudConfig(
        **strings,
        api_version=api_version,
        entra=_entra(r, d.get("entra"), f"{path}.entra"),
        model_ids={str(k): v for k, v in model_ids.items()},
    )


def _entra(r: Reader, raw: Any, path: str) -> EntraConfig | None:
    if raw is None:
        return None
    e = r.mapping(raw, path, _ENTRA_KEYS)
    values = {key: r.get(e, key, path, str, None) for key in _ENTRA_KEYS}
    for key in ("tenant_id", "client_id", "client_secret"):
        if not values[key]:
            raise r.fail(f"{path}.{key}", "is required")
    authority = values.pop("authority_url") or "https://login.microsoftonline.com"
    return EntraConfig(**{k: str(v) for k, v in values.items()}, authority_url=authority.rstrip("/"))


def check_signed_headers(r: Reader, ptype: str, headers: dict[str, str], path: str) -> None:
    """Bedrock signs the fixed and forwarded headers with the request, but the ones the signature
    itself sets (``SIGNER_HEADERS``) cannot be fixed in the config."""
    if ptype != "bedrock":
        return
    for name in headers:
        if name in SIGNER_HEADERS:
            raise r.fail(f"{path}.headers.{name}", "is set by the request's AWS signature (type 'bedrock')")
