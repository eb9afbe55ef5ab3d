"""The operator page's numbers, read from the ``/metrics`` exposition (the same text a scrape gets,
every worker merged), so the page and Prometheus can never disagree.

Traffic counts the API routes only: the probes, ``/metrics``, ``/v1/usage`` and the page itself
(which polls) are left out, so watching the page does not move its numbers. Latency quantiles
are estimated from the request-duration histogram as Prometheus' ``histogram_quantile`` does
(linear inside the bucket), over everything since the process started.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

NOT_TRAFFIC = frozenset(
    {"/healthz", "/readyz", "/metrics", "/v1/usage", "/ui", "/ui/data", "/ui/assets/{name}", "/docs"}
)


@dataclass
class Snapshot:
    requests: int = 0  # API requests answered
    errors: int = 0  # of which status >= 400
    server_errors: int = 0  # of which status >= 500
    p50_ms: float | None = None
    p99_ms: float | None = None
    by_provider: dict[str, int] = field(default_factory=dict)  # requests served, by provider
    upstream_ok: dict[str, int] = field(default_factory=dict)
    upstream_failed: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    fallbacks: dict[str, int] = field(default_factory=dict)
    jobs_active: dict[str, int] = field(default_factory=dict)
    batch_items: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        served = sum(self.by_provider.values())
        return {
            "requests": self.requests,
            "errors": self.errors,
            "server_errors": self.server_errors,
            "error_rate": self.errors / self.requests if self.requests else 0.0,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "providers": [
                {
                    "provider": name,
                    "requests": self.by_provider.get(name, 0),
                    "share": self.by_provider.get(name, 0) / served if served else 0.0,
                    "upstream_ok": self.upstream_ok.get(name, 0),
                    "upstream_failed": self.upstream_failed.get(name, 0),
                    "retries": self.retries.get(name, 0),
                    "fallbacks": self.fallbacks.get(name, 0),
                    "health": _health(self.upstream_ok.get(name, 0), self.upstream_failed.get(name, 0)),
                }
                for name in sorted({*self.by_provider, *self.upstream_ok, *self.upstream_failed})
            ],
            "jobs_active": self.jobs_active,
            "batch_items": self.batch_items,
        }


def _health(ok: int, failed: int) -> str:
    if failed == 0:
        return "ok"
    return "failing" if failed >= ok else "degraded"


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """``histogram_quantile``: ``buckets`` are (upper bound, cumulative count), +Inf last."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


def read(exposition: bytes) -> Snapshot:
    snap = Snapshot()
    buckets: dict[float, float] = defaultdict(float)
    counters: dict[str, dict[str, int]] = {
        "specgate_upstream_retries": snap.retries,
        "specgate_fallbacks": snap.fallbacks,
    }
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == "specgate_requests_total" and labels.get("route") not in NOT_TRAFFIC:
                count = int(value)
                snap.requests += count
                status = int(labels.get("status", "0"))
                snap.errors += count if status >= 400 else 0
                snap.server_errors += count if status >= 500 else 0
                if labels.get("provider", "none") != "none":
                    provider = labels["provider"]
                    snap.by_provider[provider] = snap.by_provider.get(provider, 0) + count
            elif sample.name == "specgate_request_duration_seconds_bucket" and labels.get("route") not in NOT_TRAFFIC:
                buckets[float(labels["le"])] += value
            elif sample.name == "specgate_upstream_duration_seconds_count":
                into = snap.upstream_ok if labels.get("outcome") == "ok" else snap.upstream_failed
                into[labels["provider"]] = into.get(labels["provider"], 0) + int(value)
            elif sample.name.removesuffix("_total") in counters:
                into = counters[sample.name.removesuffix("_total")]
                into[labels["provider"]] = into.get(labels["provider"], 0) + int(value)
            elif sample.name == "specgate_jobs_active":
                snap.jobs_active[labels.get("kind", "")] = snap.jobs_active.get(labels.get("kind", ""), 0) + int(value)
            elif sample.name == "specgate_batch_items_total":
                snap.batch_items[labels["outcome"]] = snap.batch_items.get(labels["outcome"], 0) + int(value)
    ordered = sorted(buckets.items())
    for q, name in ((0.5, "p50_ms"), (0.99, "p99_ms")):
        seconds = quantile(q, ordered)
        setattr(snap, name, round(seconds * 1000, 3) if seconds is not None else None)
    return snap
