"""Turn measurements into the one markdown table and the JSON document."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bench.load import Result, percentile


@dataclass(frozen=True)
class Measurement:
    target: str  # "direct", "gateway", "gateway-w2"...
    requests: int
    errors: dict[str, int]
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    cpu_ms_per_request: float  # CPU of the measured process tree / completed requests
    cpu_cores: float
    rss_peak_mb: float
    header_overhead_p50_ms: float | None  # the gateway's own x-specgate-overhead-ms
    foreign_cores: float  # busy CPU of processes outside the benchmark during the window

    @staticmethod
    def of(target: str, result: Result, cpu_s: float, rss_peak: int, foreign_cpu_s: float) -> Measurement:
        n = result.count
        elapsed = max(result.elapsed_s, 1e-9)
        return Measurement(
            target=target,
            requests=n,
            errors=dict(result.errors),
            elapsed_s=round(result.elapsed_s, 3),
            rps=round(n / elapsed, 1),
            p50_ms=round(percentile(result.latencies_ms, 50), 3),
            p99_ms=round(percentile(result.latencies_ms, 99), 3),
            ttfb_p50_ms=round(percentile(result.ttfb_ms, 50), 3) if result.ttfb_ms else None,
            ttfb_p99_ms=round(percentile(result.ttfb_ms, 99), 3) if result.ttfb_ms else None,
            cpu_ms_per_request=round(cpu_s * 1000.0 / n, 3) if n else math.nan,
            cpu_cores=round(cpu_s / elapsed, 2),
            rss_peak_mb=round(rss_peak / 2**20, 1),
            header_overhead_p50_ms=round(percentile(result.overhead_ms, 50), 3) if result.overhead_ms else None,
            foreign_cores=round(max(0.0, foreign_cpu_s) / elapsed, 2),
        )


@dataclass(frozen=True)
class Row:
    scenario: str
    what: str
    concurrency: int
    baseline: Measurement  # direct to the upstream (or --workers 1 for the scaling row)
    gateway: Measurement

    def added(self) -> dict[str, float | None]:
        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 3)

        b, g = self.baseline, self.gateway
        return {
            "p50_ms": diff(b.p50_ms, g.p50_ms),
            "p99_ms": diff(b.p99_ms, g.p99_ms),
            "ttfb_p50_ms": diff(b.ttfb_p50_ms, g.ttfb_p50_ms),
            "ttfb_p99_ms": diff(b.ttfb_p99_ms, g.ttfb_p99_ms),
            "rps_ratio": round(g.rps / b.rps, 3) if b.rps else None,
            "cpu_ratio": round(g.cpu_ms_per_request / b.cpu_ms_per_request, 3) if b.cpu_ms_per_request else None,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "what": self.what,
            "concurrency": self.concurrency,
            "baseline": asdict(self.baseline),
            "gateway": asdict(self.gateway),
            "added": self.added(),
        }


def _n(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


HEADER = (
    "| scenario | c | base | req/s base → gw (x) | p50 ms base / gw (Δ) | p99 ms base / gw (Δ) "
    "| TTFB p50 ms base / gw (Δ) | gw CPU ms/req | gw cores | gw peak RSS MB | gw hdr ms p50 | errors base / gw "
    "| foreign cores base / gw |"
)


def table(rows: list[Row]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        b, g, added = row.baseline, row.gateway, row.added()
        ttfb = "-"
        if b.ttfb_p50_ms is not None:
            ttfb = f"{_n(b.ttfb_p50_ms)} / {_n(g.ttfb_p50_ms)} ({_signed(added['ttfb_p50_ms'])})"
        lines.append(
            f"| {row.scenario} | {row.concurrency} | {b.target} "
            f"| {_n(b.rps, 0)} → {_n(g.rps, 0)} ({_n(added['rps_ratio'])}x) "
            f"| {_n(b.p50_ms)} / {_n(g.p50_ms)} ({_signed(added['p50_ms'])}) "
            f"| {_n(b.p99_ms)} / {_n(g.p99_ms)} ({_signed(added['p99_ms'])}) "
            f"| {ttfb} | {_n(g.cpu_ms_per_request)} | {_n(g.cpu_cores)} | {_n(g.rss_peak_mb, 0)} "
            f"| {_n(g.header_overhead_p50_ms, 3)} | {sum(b.errors.values())} / {sum(g.errors.values())} "
            f"| {_n(b.foreign_cores)} / {_n(g.foreign_cores)} |"
        )
    return "\n".join(lines)
