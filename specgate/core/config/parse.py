"""Building a ``Config``: ``load_config`` reads the YAML file (or gives the embedded default),
``parse_config`` validates the parsed data section by section (``server``, ``auth``, ``limits``,
``providers``, ``models``, ``jobs``, ``batches``, ``logging``, ``tracing``) after ``${ENV}`` interpolation.
Every error names the file and the key path (``config.yaml: providers[1].type: ...``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from specgate.core.config.access import check_redis_url, parse_limits, parse_virtual_keys
from specgate.core.config.models import (
    DEFAULT_MAX_BODY_BYTES,
    AuthConfig,
    BatchesConfig,
    Config,
    JobsConfig,
    ServerConfig,
    TracingConfig,
    default_config,
)
from specgate.core.config.reader import ConfigError, Reader
from specgate.core.config.routes import parse_models, parse_providers
from specgate.core.config.upstream import parse_retry_budget
from specgate.core.redis_url import is_redis_url


def parse_config(
    data: Any,
    *,
    source: str,
    known_provider_types: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> Config:
    r = Reader(source, os.environ if environ is None else environ)
    root = r.mapping(
        data, "", ("server", "auth", "limits", "providers", "models", "jobs", "batches", "logging", "tracing")
    )
    root = r.interpolate(root, "")

    server = _server(r, root.get("server"))
    auth = _auth(r, root.get("auth"))
    providers = parse_providers(r, root.get("providers"), known_provider_types)
    models = parse_models(r, root.get("models"), providers)
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
        tracing=_tracing(r, root.get("tracing")),
        source=source,
    )


def _tracing(r: Reader, raw: Any) -> TracingConfig | None:
    """``tracing: {endpoint, sample_ratio, service_name, export_interval_s}``; absent: off."""
    if raw is None:
        return None
    t = r.mapping(raw, "tracing", tuple(f.name for f in fields(TracingConfig)))
    endpoint = r.get(t, "endpoint", "tracing", str, None)
    if not endpoint or not endpoint.startswith(("http://", "https://")):
        raise r.fail("tracing.endpoint", "is required: the OTLP/HTTP traces URL (http://host:4318/v1/traces)")
    ratio = r.get(t, "sample_ratio", "tracing", float, 1.0)
    if not 0.0 <= ratio <= 1.0:
        raise r.fail("tracing.sample_ratio", "must be between 0 and 1")
    interval = r.get(t, "export_interval_s", "tracing", float, 5.0)
    if not 0.0 < interval <= 3600.0:
        raise r.fail("tracing.export_interval_s", "must be between 0 and 3600 seconds")
    name = r.get(t, "service_name", "tracing", str, "specgate")
    if not name:
        raise r.fail("tracing.service_name", "must not be empty")
    return TracingConfig(endpoint=endpoint, sample_ratio=ratio, service_name=name, export_interval_s=interval)


def _server(r: Reader, raw: Any) -> ServerConfig:
    s = r.mapping(
        raw,
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
        retry_budget=parse_retry_budget(r, s.get("retry_budget"), "server.retry_budget"),
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
    return server


def _jobs_config(r: Reader, raw: Any) -> JobsConfig:
    keys = (
        "store",
        "max_running",
        "max_queued",
        "default_ttl_s",
        "max_ttl_s",
        "shutdown_grace_s",
        "max_attempts",
        "lease_ttl_s",
    )
    j = r.mapping(raw, "jobs", keys)
    default = JobsConfig()
    store = r.get(j, "store", "jobs", str, default.store)
    if not (store in ("memory", "memory://") or store.startswith("sqlite:///") or is_redis_url(store)):
        raise r.fail(
            "jobs.store",
            f"unknown store {store!r} (expected memory, sqlite:///path, redis://host:port/db or redis+cluster://host:port)",
        )
    check_redis_url(r, "jobs.store", store)
    config = JobsConfig(
        store=store,
        max_running=r.get(j, "max_running", "jobs", int, default.max_running),
        max_queued=r.get(j, "max_queued", "jobs", int, default.max_queued),
        default_ttl_s=r.get(j, "default_ttl_s", "jobs", int, default.default_ttl_s),
        max_ttl_s=r.get(j, "max_ttl_s", "jobs", int, default.max_ttl_s),
        shutdown_grace_s=r.get(j, "shutdown_grace_s", "jobs", float, default.shutdown_grace_s),
        max_attempts=r.get(j, "max_attempts", "jobs", int, default.max_attempts),
        lease_ttl_s=r.get(j, "lease_ttl_s", "jobs", float, default.lease_ttl_s),
    )
    if config.lease_ttl_s < 0.5:
        raise r.fail("jobs.lease_ttl_s", "must be at least 0.5 (seconds)")
    for key in ("max_running", "default_ttl_s", "max_ttl_s", "max_attempts"):
        if getattr(config, key) < 1:
            raise r.fail(f"jobs.{key}", "must be at least 1")
    if config.max_queued < 0:
        raise r.fail("jobs.max_queued", "must not be negative")
    return config


def _auth(r: Reader, value: Any) -> AuthConfig:
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


def _batches_config(r: Reader, raw: Any) -> BatchesConfig:
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
