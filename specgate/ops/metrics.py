"""Prometheus metrics: one ``Metrics`` object per app, built in the lifespan, on its own registry.

Label values are always bounded: routes are spec paths (else ``other``), models are configured
exact names or the route pattern that matched (else ``other``), key ids are opaque principal ids
(``anonymous`` without auth), reasons are error types or HTTP statuses. No label ever carries a
key, a prompt or free user input.

With several worker processes the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` (emptied at start):
prometheus_client then keeps each process's values in files there, and a scrape of any worker
merges them all (counters and histograms are summed, the in-flight gauges summed over live
processes). The methods below are the API other components call (jobs, batches, rate limits).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
ANONYMOUS = "anonymous"
OTHER = "other"
NONE = "none"

# Seconds. Requests and upstream calls of an LLM gateway range from milliseconds to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Every metric of the gateway, registered on a registry of its own (never the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "specgate_requests",
            "HTTP requests answered, by route, model, provider and status",
            ("route", "model", "provider", "status"),
            registry=r,
        )
        self.request_duration = Histogram(
            "specgate_request_duration_seconds",
            "Time from request start to the last byte of the response (streams included)",
            ("route", "model", "provider"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "specgate_requests_in_flight",
            "Requests being served right now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.upstream_duration = Histogram(
            "specgate_upstream_duration_seconds",
            "Time a provider took to answer: the whole message, or a stream's first event",
            ("provider", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "specgate_time_to_first_token_seconds",
            "Streams: time from request start to the first content delta",
            ("model", "provider"),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "specgate_tokens",
            "Tokens by model, key id and type (input, output, cache_read, cache_creation)",
            ("model", "key_id", "type"),
            registry=r,
        )
        self.upstream_errors = Counter(
            "specgate_upstream_errors",
            "Failed provider calls (after retries), by provider and reason (error type)",
            ("provider", "reason"),
            registry=r,
        )
        self.upstream_retries = Counter(
            "specgate_upstream_retries",
            "Upstream HTTP attempts retried, by provider and reason (timeout, connection or HTTP status)",
            ("provider", "reason"),
            registry=r,
        )
        self.stream_as_json = Counter(
            "specgate_upstream_stream_as_json",
            "Stream requests the upstream answered with one JSON message, turned into an event stream, by provider",
            ("provider",),
            registry=r,
        )
        self.fallbacks = Counter(
            "specgate_fallbacks",
            "Requests moved to the next route after a provider failed, by failed provider and reason",
            ("provider", "reason"),
            registry=r,
        )
        self.rate_limited = Counter(
            "specgate_rate_limit_rejections",
            "Requests rejected by a rate limit, by key id",
            ("key_id",),
            registry=r,
        )
        self.jobs = Counter(
            "specgate_jobs",
            "Async jobs finished, by kind and outcome (succeeded, failed, cancelled, expired)",
            ("kind", "outcome"),
            registry=r,
        )
        self.jobs_active = Gauge(
            "specgate_jobs_active",
            "Async jobs queued or running, by kind",
            ("kind",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.job_duration = Histogram(
            "specgate_job_duration_seconds",
            "Async job run time, by kind",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_items = Counter(
            "specgate_batch_items",
            "Batch items processed, by outcome (succeeded, errored, cancelled, expired)",
            ("outcome",),
            registry=r,
        )
        self.lanes = Counter(
            "specgate_fast_path",
            "Requests to the fast path's operations, by the lane that served them: fast, or connexion "
            "(handed over: a query string, an async poll, another content type, or a request to refuse)",
            ("lane",),
            registry=r,
        )
        self.fast_lane = self.lanes.labels("fast")
        self.connexion_lane = self.lanes.labels("connexion")
        self.workers = Gauge(
            "specgate_worker_up",
            "1 per live serving process (the pid label appears with several workers)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.workers.set(1)

    # -- the API other components call

    def count_rate_limited(self, key_id: str | None) -> None:
        self.rate_limited.labels(key_id or ANONYMOUS).inc()

    def job_started(self, kind: str) -> None:
        self.jobs_active.labels(kind).inc()

    def job_finished(self, kind: str, outcome: str, seconds: float | None = None) -> None:
        self.jobs_active.labels(kind).dec()
        self.jobs.labels(kind, outcome).inc()
        if seconds is not None:
            self.job_duration.labels(kind).observe(seconds)

    def count_batch_items(self, outcome: str, count: int = 1) -> None:
        self.batch_items.labels(outcome).inc(count)

    def count_tokens(self, model: str, key_id: str | None, usage: dict[str, int]) -> None:
        """``usage`` maps a TOKEN_TYPES name to a count; zero counts are skipped."""
        for kind in TOKEN_TYPES:
            count = usage.get(kind, 0)
            if count > 0:
                self.tokens.labels(model, key_id or ANONYMOUS, kind).inc(count)

    # -- exposition

    def render(self) -> bytes:
        """The text exposition: this app's registry, or every worker's values in multiprocess mode."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """Drop this process's live gauges from the shared directory (the worker is going away)."""
        directory = multiprocess_dir()
        if directory is not None:
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
