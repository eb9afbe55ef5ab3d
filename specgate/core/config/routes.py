"""The ``providers:`` and ``models:`` sections: provider entries (type, base URL, keys, timeouts,
retries) and model routes (match, provider, fallbacks, price, and the ``GET /v1/models`` fields), each
validated with the key path in its errors."""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any, overload

from specgate.core.config.cloud import CLOUD_KEYS, check_signed_headers, parse_cloud
from specgate.core.config.models import ModelRoute, Price, ProviderConfig
from specgate.core.config.reader import Reader
from specgate.core.config.upstream import parse_outbound

_PROVIDER_KEYS = (
    "name",
    "type",
    "base_url",
    "api_keys",
    "timeout_s",
    "connect_timeout_s",
    "read_timeout_s",
    "max_retries",
    "retry_backoff_s",
    "retry_backoff_max_s",
    "key_cooldown_s",
    "options",
    "forward_unknown_fields",
    "headers",
    "forward_headers",
    "proxy",
)
# provider types that may relay top-level request fields spec/ does not declare (passthroughs)
FORWARDING_TYPES = ("anthropic",)


_POSITIVE_KEYS = ("timeout_s", "connect_timeout_s", "read_timeout_s")
_NON_NEGATIVE_KEYS = ("max_retries", "retry_backoff_s", "retry_backoff_max_s", "key_cooldown_s")

_ROUTE_KEYS = (
    "match",
    "provider",
    "upstream_model",
    "fallbacks",
    "display_name",
    "price",
    "created_at",
    "lifecycle",
    "deprecated_at",
    "retires_at",
    "max_input_tokens",
    "max_tokens",
)
LIFECYCLES = ("active", "deprecated", "retired")


def parse_providers(r: Reader, raw_providers: Any, known_provider_types: tuple[str, ...]) -> list[ProviderConfig]:
    """The ``providers:`` list (required, non-empty, unique names, known types)."""
    if raw_providers is None:
        raise r.fail("providers", "is required (a list of {name, type, ...})")
    if not isinstance(raw_providers, list) or not raw_providers:
        raise r.fail("providers", "must be a non-empty list")
    providers: list[ProviderConfig] = []
    for i, item in enumerate(raw_providers):
        p = f"providers[{i}]"
        d = r.mapping(item, p, _PROVIDER_KEYS + tuple(CLOUD_KEYS))
        name = r.get(d, "name", p, str, None)
        ptype = r.get(d, "type", p, str, None)
        if not name:
            raise r.fail(f"{p}.name", "is required")
        if not ptype:
            raise r.fail(f"{p}.type", "is required")
        if ptype not in known_provider_types:
            raise r.fail(f"{p}.type", f"unknown provider type {ptype!r} (known: {', '.join(known_provider_types)})")
        if any(existing.name == name for existing in providers):
            raise r.fail(f"{p}.name", f"duplicate provider name {name!r}")
        for key in _POSITIVE_KEYS:
            value = r.get(d, key, p, float, None)
            if value is not None and value <= 0:
                raise r.fail(f"{p}.{key}", "must be greater than 0")
        for key in _NON_NEGATIVE_KEYS:
            value = r.get(d, key, p, (int, float), None)
            if value is not None and value < 0:
                raise r.fail(f"{p}.{key}", "must not be negative")
        forward = r.get(d, "forward_unknown_fields", p, bool, None)
        if forward and ptype not in FORWARDING_TYPES:
            raise r.fail(
                f"{p}.forward_unknown_fields",
                f"only a provider of type {' or '.join(map(repr, FORWARDING_TYPES))} can forward fields "
                f"spec/ does not know (type {ptype!r} must interpret every field it is sent)",
            )
        base_url = r.get(d, "base_url", p, str, None)
        if ptype in ("anthropic", "openai", "azure_openai") and not base_url:
            raise r.fail(f"{p}.base_url", f"is required for type {ptype!r}")
        outbound = parse_outbound(r, d, p)
        check_signed_headers(r, ptype, outbound["headers"], p)
        providers.append(
            ProviderConfig(
                name=name,
                type=ptype,
                base_url=base_url.rstrip("/") if base_url else None,
                api_keys=r.strings(d, "api_keys", p),
                timeout_s=r.get(d, "timeout_s", p, float, 600.0),
                connect_timeout_s=r.get(d, "connect_timeout_s", p, float, 10.0),
                read_timeout_s=r.get(d, "read_timeout_s", p, float, 300.0),
                max_retries=r.get(d, "max_retries", p, int, 2),
                retry_backoff_s=r.get(d, "retry_backoff_s", p, float, 0.5),
                retry_backoff_max_s=r.get(d, "retry_backoff_max_s", p, float, 8.0),
                key_cooldown_s=r.get(d, "key_cooldown_s", p, float, 60.0),
                options=r.get(d, "options", p, dict, {}),
                forward_unknown_fields=forward,
                cloud=parse_cloud(r, d, p, ptype),
                **outbound,
            )
        )
    return providers


def parse_models(r: Reader, raw_models: Any, providers: list[ProviderConfig]) -> list[ModelRoute]:
    """The ``models:`` routes (default: everything to the first provider); every route names a
    configured provider and every fallback is matched by some route."""
    if raw_models is None:
        raw_models = [{"match": "*", "provider": providers[0].name}]
    if not isinstance(raw_models, list) or not raw_models:
        raise r.fail("models", "must be a non-empty list")
    names = {pc.name for pc in providers}
    models: list[ModelRoute] = []
    for i, item in enumerate(raw_models):
        p = f"models[{i}]"
        d = r.mapping(item, p, _ROUTE_KEYS)
        match = r.get(d, "match", p, str, None)
        provider = r.get(d, "provider", p, str, None)
        if not match:
            raise r.fail(f"{p}.match", "is required")
        if not provider:
            raise r.fail(f"{p}.provider", "is required")
        if provider not in names:
            raise r.fail(f"{p}.provider", f"no provider named {provider!r} (configured: {', '.join(sorted(names))})")
        models.append(
            ModelRoute(
                match=match,
                provider=provider,
                upstream_model=r.get(d, "upstream_model", p, str, None),
                fallbacks=r.strings(d, "fallbacks", p),
                display_name=r.get(d, "display_name", p, str, None),
                price=_price(r, d.get("price"), f"{p}.price"),
                **_model_info(r, d, p),
            )
        )
    patterns = [re.compile(fnmatch.translate(m.match)) for m in models]
    for i, route in enumerate(models):
        for j, name in enumerate(route.fallbacks):
            if not any(pattern.match(name) for pattern in patterns):
                raise r.fail(f"models[{i}].fallbacks[{j}]", f"no route matches model {name!r}")
    return models


def _price(r: Reader, raw: Any, path: str) -> Price | None:
    """``price: {input, output, cache_read, cache_write}`` in USD per million tokens (each >= 0)."""
    if raw is None:
        return None
    d = r.mapping(raw, path, tuple(f.name for f in fields(Price)))
    values: dict[str, float] = {}
    for name in (f.name for f in fields(Price)):
        value = float(r.get(d, name, path, float, 0.0))
        if not math.isfinite(value) or value < 0:
            raise r.fail(f"{path}.{name}", "must be a number >= 0 (USD per million tokens)")
        values[name] = value
    return Price(**values)


def _model_info(r: Reader, d: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``GET /v1/models`` fields of a route (``ModelInfo``), validated."""
    lifecycle = r.get(d, "lifecycle", path, str, "active")
    if lifecycle not in LIFECYCLES:
        raise r.fail(f"{path}.lifecycle", f"must be one of {', '.join(LIFECYCLES)}")
    deprecated_at = _rfc3339(r, d, path, "deprecated_at", None)
    if lifecycle != "active" and deprecated_at is None:
        raise r.fail(f"{path}.deprecated_at", f"is required when lifecycle is {lifecycle!r}")
    limits: dict[str, int | None] = {}
    for key in ("max_input_tokens", "max_tokens"):
        value = r.get(d, key, path, int, None)
        if value is not None and (isinstance(value, bool) or value < 1):
            raise r.fail(f"{path}.{key}", "must be a positive integer")
        limits[key] = value
    return {
        "created_at": _rfc3339(r, d, path, "created_at", "1970-01-01T00:00:00Z"),
        "lifecycle": lifecycle,
        "deprecated_at": deprecated_at,
        "retires_at": _rfc3339(r, d, path, "retires_at", None),
        **limits,
    }


@overload
def _rfc3339(r: Reader, d: dict[str, Any], path: str, key: str, default: str) -> str: ...
@overload
def _rfc3339(r: Reader, d: dict[str, Any], path: str, key: str, default: None) -> str | None: ...
def _rfc3339(r: Reader, d: dict[str, Any], path: str, key: str, default: str | None) -> str | None:
    value = r.get(d, key, path, (str, datetime, date), default)
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):  # YAML: an unquoted 2025-05-14
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, datetime):  # YAML parses unquoted timestamps
        value = value.isoformat()
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise r.fail(f"{path}.{key}", "must be an RFC 3339 date-time (e.g. 2025-05-14T00:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
