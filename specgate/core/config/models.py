"""The validated config as frozen dataclasses: ``Config`` and its sections (server, auth,
providers, model routes, jobs, batches), and the embedded default (``default_config``: every
model to the offline ``echo`` provider). Building them from YAML is ``parse``'s job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specgate.core.config.access import LimitsConfig, VirtualKeySpec


@dataclass(frozen=True, slots=True)
class EntraConfig:
    """Microsoft Entra ID client credentials (``azure_openai``): a bearer token for the
    ``https://cognitiveservices.azure.com/.default`` scope from ``{authority_url}/{tenant_id}``."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority_url: str = "https://login.microsoftonline.com"


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """The keys of the cloud provider types (``bedrock``, ``vertex``, ``azure_openai``); each type
    accepts only its own (``specgate.core.config.cloud``)."""

    region: str | None = None  # bedrock: the AWS region; vertex: the location (us-east5, global)
    project: str | None = None  # vertex: the Google Cloud project id
    aws_profile: str | None = None  # bedrock: a profile of the shared AWS config; None: the default chain
    credentials_file: str | None = None  # vertex: a service-account JSON file; None: Application Default
    api_version: str | None = None  # azure_openai: the api-version query parameter
    entra: EntraConfig | None = None  # azure_openai: Entra ID bearer tokens instead of api-key
    # the upstream id of a model name (after the route's upstream_model): a Bedrock model id or
    # inference-profile ARN, a Vertex model version, an Azure deployment; unlisted names pass as is
    model_ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One entry of the config file's ``providers:`` list, already validated and interpolated."""

    name: str
    type: str  # "echo" | "anthropic" | "openai" | "bedrock" | "vertex" | "azure_openai"
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
    cloud: CloudConfig = field(default_factory=CloudConfig)  # bedrock, vertex, azure_openai
    # sent upstream on every call (values may hold secrets: never in a repr or a log)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    # client request headers passed upstream: lower-case names or globs (x-portkey-*); an auth
    # header (specgate.core.config.upstream.AUTH_HEADERS) only when named exactly
    forward_headers: tuple[str, ...] = ()
    proxy: str | None = field(default=None, repr=False)  # None: direct; "env": HTTPS_PROXY etc.; else a URL


@dataclass(frozen=True, slots=True)
class RetryBudgetConfig:
    """``server.retry_budget``: what one client request may spend on upstream attempts, counted
    across retries and fallbacks (``providers.budget.RetryBudget`` applies it)."""

    max_attempts: int | None = 10  # upstream attempts in all; None: unbounded
    max_seconds: float | None = 120.0  # no retry or fallback starts later than this after the request; None: unbounded


DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


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
    retry_budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)


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
class Price:
    """What a route's tokens cost, in USD per million tokens (``models[].price``): the usage
    accounting (``GET /v1/usage``) adds up the cost of what each route served."""

    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """``tracing:``: OpenTelemetry spans exported over OTLP/HTTP (absent: no tracing, nothing imported)."""

    endpoint: str  # the OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces
    sample_ratio: float = 1.0  # of the traces that start here; a client's sampled traceparent is followed
    service_name: str = "specgate"
    export_interval_s: float = 5.0  # the batch span processor's delay between exports


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
    price: Price | None = None  # None: usage is counted, its cost is not


@dataclass(frozen=True, slots=True)
class JobsConfig:
    store: str = "memory"  # memory | sqlite:///path | redis://host:port/db | redis+cluster://host:port
    max_running: int = 64  # jobs executing at once (others wait in order)
    max_queued: int = 10000  # jobs waiting; beyond that a submit gets 529 overloaded_error
    default_ttl_s: int = 3600  # result kept this long after completion unless the request says
    max_ttl_s: int = 86400  # x-bf-async-job-result-ttl is capped at this
    shutdown_grace_s: float = 30.0  # on SIGTERM running jobs get this long; the rest are left pending
    max_attempts: int = 2  # runs of a job whose process died mid-run (the upstream may see it twice)
    lease_ttl_s: float = 10.0  # a dead process's jobs are taken over this long after its last renewal


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
    tracing: TracingConfig | None = None  # None: no tracing
    source: str | None = None  # the file it came from; None for the embedded default

    @property
    def is_default(self) -> bool:
        return self.source is None


def default_config() -> Config:
    return Config(
        providers=(ProviderConfig(name="echo", type="echo"),),
        models=(ModelRoute(match="*", provider="echo"),),
    )
