"""The config file: YAML with ``${ENV_VAR}`` interpolation, validated at start-up.

Every error names the file and the key path (``config.yaml: providers[1].type: ...``). With no
file, the embedded default routes every model to the offline ``echo`` provider.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, overload

import yaml

from specgate.core.access_config import LimitsConfig, VirtualKeySpec, parse_limits, parse_virtual_keys


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One entry of the config file's ``providers:`` list, already validated and interpolated."""

    name: str
    type: str  # "echo" | "anthropic" | "openai"
    base_url: str | None = None
    api_keys: tuple[str, ...] = ()
    timeout_s: float = 600.0  # total deadline of one upstream call, retries included
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0  # longest silence between two reads
    max_retries: int = 2
    retry_backoff_s: float = 0.5  # first backoff; doubles, capped at retry_backoff_max_s, with jitter
    retry_backoff_max_s: float = 8.0
    key_cooldown_s: float = 60.0  # a key that got 401/403/429 is set aside this long
    options: dict[str, Any] = field(default_factory=dict)  # type-specific extras
    # send top-level fields spec/ does not know upstream unvalidated; None: the type's default
    # (on for anthropic; the config refuses true for any other type)
    forward_unknown_fields: bool | None = None


DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is invalid; the message says where and why."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allow_unauthenticated: bool = False
    shutdown_grace_s: float = 10.0
    fast_path: bool = True  # serve the hot operations without connexion's per-request stack (fastpath.py)
    metrics_token: str | None = field(default=None, repr=False)  # /metrics requires Bearer <token>; None: open
    header_timeout_s: float = 10.0  # request line + headers must arrive within this (else 408, closed)
    max_connections: int = 1000  # open connections per process; more are refused with 529


@dataclass(frozen=True, slots=True)
class AuthConfig:
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # admin keys: no limits
    virtual_keys: tuple[VirtualKeySpec, ...] = ()
    secret: str | None = field(default=None, repr=False)  # HMAC key for key hashes; None: random per process
    key_id_secret: str | None = field(default=None, repr=False)  # HMAC key of admin key ids (specgate.access.keyid)
    max_failures: int = 20  # failed authentications per client address per window before 429; 0: off
    failure_window_s: float = 60.0

    @property
    def enabled(self) -> bool:
        return bool(self.api_keys or self.virtual_keys)


@dataclass(frozen=True, slots=True)
class ModelRoute:
    match: str  # exact name or glob (claude-*, *)
    provider: str
    upstream_model: str | None = None  # None: send the client's model name
    fallbacks: tuple[str, ...] = ()  # model names routed again, in order, when this route fails
    display_name: str | None = None  # GET /v1/models; defaults to the name
    created_at: str = "1970-01-01T00:00:00Z"  # GET /v1/models (RFC 3339); unknown by default
    lifecycle: str = "active"  # GET /v1/models: active | deprecated | retired
    deprecated_at: str | None = None  # RFC 3339; required when lifecycle is not active
    retires_at: str | None = None  # RFC 3339; the scheduled retirement, if any
    max_input_tokens: int | None = None  # GET /v1/models; None: not stated
    max_tokens: int | None = None  # GET /v1/models; None: not stated


@dataclass(frozen=True, slots=True)
class JobsConfig:
    store: str = "memory"  # memory | sqlite:///path | redis://host:port/db
    max_running: int = 64  # jobs executing at once (others wait in order)
    max_queued: int = 10000  # jobs waiting; beyond that a submit gets 529 overloaded_error
    default_ttl_s: int = 3600  # result kept this long after completion unless the request says
    max_ttl_s: int = 86400  # x-bf-async-job-result-ttl is capped at this
    shutdown_grace_s: float = 30.0  # on SIGTERM running jobs get this long; the rest are failed


@dataclass(frozen=True, slots=True)
class BatchesConfig:
    max_requests: int = 100_000  # requests in one batch (more: 400)
    max_body_bytes: int = 256 * 1024 * 1024  # the create-batch body limit (more: 413)
    max_concurrency: int = 8  # requests of one batch in flight at once
    max_total_concurrency: int = 32  # batch requests in flight at once, all batches together
    max_pending_requests: int = 1_000_000  # unfinished requests of all batches held in memory (more: 529)
    expires_after_s: int = 86400  # a batch not ended this long after creation expires what is left
    retention_s: int = 29 * 86400  # an ended batch and its results are kept this long


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    providers: tuple[ProviderConfig, ...] = ()
    models: tuple[ModelRoute, ...] = ()
    jobs: JobsConfig = field(default_factory=JobsConfig)
    batches: BatchesConfig = field(default_factory=BatchesConfig)
    log_level: str = "info"
    log_format: str = "auto"  # auto: text on a terminal, else JSON lines
    log_bodies: bool = False  # debug only: put request and response bodies in the request log
    source: str | None = None  # the file it came from; None for the embedded default

    @property
    def is_default(self) -> bool:
        return self.source is None


def default_config() -> Config:
    return Config(
        providers=(ProviderConfig(name="echo", type="echo"),),
        models=(ModelRoute(match="*", provider="echo"),),
    )


class _Reader:
    """Walks the parsed YAML, checking keys and types, building messages with the key path."""

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def interpolate(self, value: Any, path: str) -> Any:
        if isinstance(value, str):

            def sub(m: re.Match[str]) -> str:
                name, default = m.group(1), m.group(2)
                if name in self.environ:
                    return self.environ[name]
                if default is not None:
                    return default
                raise self.fail(path, f"environment variable {name} is not set")

            return _ENV_RE.sub(sub, value)
        if isinstance(value, list):
            return [self.interpolate(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.interpolate(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        return value

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{path}.{key}" if path else str(key), f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def get(self, obj: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in obj or obj[key] is None:
            return default
        value = obj[key]
        where = f"{path}.{key}" if path else key
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and (int in kinds or float in kinds) and str not in kinds:
            try:  # values that came from ${ENV} interpolation
                return int(value) if int in kinds else float(value)
            except ValueError:
                pass
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(where, f"must be {_kind_word(kinds)}")
        if not isinstance(value, kinds):
            raise self.fail(where, f"must be {_kind_word(kinds)}")
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"{path}.{key}" if path else key, "must be a list of non-empty strings")
        return tuple(value)


def _kind_word(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_config(
    data: Any,
    *,
    source: str,
    known_provider_types: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> Config:
    r = _Reader(source, os.environ if environ is None else environ)
    root = r.mapping(data, "", ("server", "auth", "limits", "providers", "models", "jobs", "batches", "logging"))
    root = r.interpolate(root, "")

    s = r.mapping(
        root.get("server"),
        "server",
        tuple(f.name for f in fields(ServerConfig)),
    )
    server = ServerConfig(
        host=r.get(s, "host", "server", str, "127.0.0.1"),
        port=r.get(s, "port", "server", int, 8080),
        max_body_bytes=r.get(s, "max_body_bytes", "server", int, DEFAULT_MAX_BODY_BYTES),
        allow_unauthenticated=r.get(s, "allow_unauthenticated", "server", bool, False),
        shutdown_grace_s=r.get(s, "shutdown_grace_s", "server", float, 10.0),
        fast_path=r.get(s, "fast_path", "server", bool, True),
        metrics_token=r.get(s, "metrics_token", "server", str, None),
        header_timeout_s=r.get(s, "header_timeout_s", "server", float, 10.0),
        max_connections=r.get(s, "max_connections", "server", int, 1000),
    )
    if not 0 < server.port < 65536:
        raise r.fail("server.port", "must be between 1 and 65535")
    if server.max_body_bytes < 1024:
        raise r.fail("server.max_body_bytes", "must be at least 1024")
    if server.header_timeout_s <= 0:
        raise r.fail("server.header_timeout_s", "must be positive")
    if server.max_connections < 1:
        raise r.fail("server.max_connections", "must be at least 1")
    if server.metrics_token is not None and len(server.metrics_token) < 16:
        raise r.fail("server.metrics_token", "must be at least 16 characters")

    auth = _auth(r, root.get("auth"))

    raw_providers = root.get("providers")
    if raw_providers is None:
        raise r.fail("providers", "is required (a list of {name, type, ...})")
    if not isinstance(raw_providers, list) or not raw_providers:
        raise r.fail("providers", "must be a non-empty list")
    providers: list[ProviderConfig] = []
    for i, item in enumerate(raw_providers):
        p = f"providers[{i}]"
        d = r.mapping(item, p, _PROVIDER_KEYS)
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
        if ptype in ("anthropic", "openai") and not base_url:
            raise r.fail(f"{p}.base_url", f"is required for type {ptype!r}")
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
            )
        )
    raw_models = root.get("models")
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
                **_model_info(r, d, p),
            )
        )
    patterns = [re.compile(fnmatch.translate(m.match)) for m in models]
    for i, route in enumerate(models):
        for j, name in enumerate(route.fallbacks):
            if not any(pattern.match(name) for pattern in patterns):
                raise r.fail(f"models[{i}].fallbacks[{j}]", f"no route matches model {name!r}")

    jobs = _jobs_config(r, root.get("jobs"))
    batches = _batches_config(r, root.get("batches"))

    lg = r.mapping(root.get("logging"), "logging", ("level", "format", "log_bodies"))
    level = str(r.get(lg, "level", "logging", str, "info")).lower()
    if level not in ("debug", "info", "warning", "error"):
        raise r.fail("logging.level", "must be one of debug, info, warning, error")
    log_format = str(r.get(lg, "format", "logging", str, "auto")).lower()
    if log_format not in ("auto", "json", "text"):
        raise r.fail("logging.format", "must be one of auto, json, text")
    return Config(
        server=server,
        auth=auth,
        limits=parse_limits(r, root.get("limits")),
        providers=tuple(providers),
        models=tuple(models),
        jobs=jobs,
        batches=batches,
        log_level=level,
        log_format=log_format,
        log_bodies=r.get(lg, "log_bodies", "logging", bool, False),
        source=source,
    )


def _jobs_config(r: _Reader, raw: Any) -> JobsConfig:
    keys = ("store", "max_running", "max_queued", "default_ttl_s", "max_ttl_s", "shutdown_grace_s")
    j = r.mapping(raw, "jobs", keys)
    default = JobsConfig()
    store = r.get(j, "store", "jobs", str, default.store)
    if not (store in ("memory", "memory://") or store.startswith(("sqlite:///", "redis://", "rediss://", "unix://"))):
        raise r.fail("jobs.store", f"unknown store {store!r} (expected memory, sqlite:///path or redis://host:port/db)")
    config = JobsConfig(
        store=store,
        max_running=r.get(j, "max_running", "jobs", int, default.max_running),
        max_queued=r.get(j, "max_queued", "jobs", int, default.max_queued),
        default_ttl_s=r.get(j, "default_ttl_s", "jobs", int, default.default_ttl_s),
        max_ttl_s=r.get(j, "max_ttl_s", "jobs", int, default.max_ttl_s),
        shutdown_grace_s=r.get(j, "shutdown_grace_s", "jobs", float, default.shutdown_grace_s),
    )
    for key in ("max_running", "default_ttl_s", "max_ttl_s"):
        if getattr(config, key) < 1:
            raise r.fail(f"jobs.{key}", "must be at least 1")
    if config.max_queued < 0:
        raise r.fail("jobs.max_queued", "must not be negative")
    return config


def _auth(r: _Reader, value: Any) -> AuthConfig:
    keys = ("api_keys", "virtual_keys", "secret", "key_id_secret", "max_failures", "failure_window_s")
    a = r.mapping(value, "auth", keys)
    api_keys = r.strings(a, "api_keys", "auth")
    secret = r.get(a, "secret", "auth", str, None)
    if secret is not None and len(secret) < 16:
        raise r.fail("auth.secret", "must be at least 16 characters")
    key_id_secret = r.get(a, "key_id_secret", "auth", str, None)
    if key_id_secret is not None and len(key_id_secret) < 16:
        raise r.fail("auth.key_id_secret", "must be at least 16 characters")
    auth = AuthConfig(
        api_keys=api_keys,
        virtual_keys=parse_virtual_keys(r, a.get("virtual_keys"), "auth.virtual_keys", api_keys),
        secret=secret,
        key_id_secret=key_id_secret,
        max_failures=r.get(a, "max_failures", "auth", int, 20),
        failure_window_s=r.get(a, "failure_window_s", "auth", float, 60.0),
    )
    if auth.max_failures < 0:
        raise r.fail("auth.max_failures", "must be 0 (off) or more")
    if auth.failure_window_s <= 0:
        raise r.fail("auth.failure_window_s", "must be positive")
    return auth


def _batches_config(r: _Reader, raw: Any) -> BatchesConfig:
    default = BatchesConfig()
    keys = tuple(f.name for f in fields(BatchesConfig))
    b = r.mapping(raw, "batches", keys)
    config = BatchesConfig(**{key: r.get(b, key, "batches", int, getattr(default, key)) for key in keys})
    for key in keys:
        if getattr(config, key) < 1:
            raise r.fail(f"batches.{key}", "must be at least 1")
    if config.max_body_bytes < 1024:
        raise r.fail("batches.max_body_bytes", "must be at least 1024")
    return config


_ROUTE_KEYS = (
    "match",
    "provider",
    "upstream_model",
    "fallbacks",
    "display_name",
    "created_at",
    "lifecycle",
    "deprecated_at",
    "retires_at",
    "max_input_tokens",
    "max_tokens",
)
LIFECYCLES = ("active", "deprecated", "retired")


def _model_info(r: _Reader, d: dict[str, Any], path: str) -> dict[str, Any]:
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
def _rfc3339(r: _Reader, d: dict[str, Any], path: str, key: str, default: str) -> str: ...
@overload
def _rfc3339(r: _Reader, d: dict[str, Any], path: str, key: str, default: None) -> str | None: ...
def _rfc3339(r: _Reader, d: dict[str, Any], path: str, key: str, default: str | None) -> str | None:
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
)
# provider types that may relay top-level request fields spec/ does not declare (passthroughs)
FORWARDING_TYPES = ("anthropic",)


_POSITIVE_KEYS = ("timeout_s", "connect_timeout_s", "read_timeout_s")
_NON_NEGATIVE_KEYS = ("max_retries", "retry_backoff_s", "retry_backoff_max_s", "key_cooldown_s")


def load_config(
    path: str | Path | None,
    *,
    known_provider_types: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate a config file; ``None`` gives the embedded default (echo for every model)."""
    if path is None:
        return default_config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {exc}") from exc
    return parse_config(data, source=str(p), known_provider_types=known_provider_types, environ=environ)
