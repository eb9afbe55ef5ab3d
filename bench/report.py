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
    windows: int = 1  # measured windows this is the median of (``Measurement.median``)

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


def _middle(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None and not math.isnan(v))
    return known[len(known) // 2] if known else None


def median(windows: list[Measurement]) -> Measurement:
    """Several windows of one contender as one: each figure the median of its windows' (the
    middle of three), requests, errors and time summed, peak RSS and foreign cores the largest:
    no error and no noisy window is hidden, and no single slow or fast window decides a ratio."""
    if len(windows) == 1:
        return windows[0]
    errors: dict[str, int] = {}
    for window in windows:
        for kind, count in window.errors.items():
            errors[kind] = errors.get(kind, 0) + count

    def mid(name: str) -> Any:
        return _middle([getattr(window, name) for window in windows])

    return Measurement(
        target=windows[0].target,
        requests=sum(window.requests for window in windows),
        errors=errors,
        elapsed_s=round(sum(window.elapsed_s for window in windows), 3),
        rps=mid("rps"),
        p50_ms=mid("p50_ms"),
        p99_ms=mid("p99_ms"),
        ttfb_p50_ms=mid("ttfb_p50_ms"),
        ttfb_p99_ms=mid("ttfb_p99_ms"),
        cpu_ms_per_request=mid("cpu_ms_per_request"),
        cpu_cores=mid("cpu_cores"),
        rss_peak_mb=max(window.rss_peak_mb for window in windows),
        header_overhead_p50_ms=mid("header_overhead_p50_ms"),
        foreign_cores=max(window.foreign_cores for window in windows),
        windows=len(windows),
    )


@dataclass(frozen=True)
class Row:
    scenario: str
    what: str
    concurrency: int
    baseline: Measurement  # direct to the upstream (or the uvicorn --workers 1 gateway for the server rows)
    gateway: Measurement
    floor: Measurement | None = None  # the raw-ASGI pass-through (bench.floor), Anthropic rows only

    def added(self) -> dict[str, float | None]:
        """What the gateway (and the floor) add to the baseline, and the gateway's ratios to the floor."""

        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 3)

        def ratio(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None or not a or math.isnan(a) or math.isnan(b) else round(b / a, 2)

        b, g, f = self.baseline, self.gateway, self.floor
        added: dict[str, float | None] = {
            "p50_ms": diff(b.p50_ms, g.p50_ms),
            "p99_ms": diff(b.p99_ms, g.p99_ms),
            "ttfb_p50_ms": diff(b.ttfb_p50_ms, g.ttfb_p50_ms),
            "ttfb_p99_ms": diff(b.ttfb_p99_ms, g.ttfb_p99_ms),
            "rps_ratio": round(g.rps / b.rps, 3) if b.rps else None,
            "cpu_vs_base": ratio(b.cpu_ms_per_request, g.cpu_ms_per_request) if b.target != "direct" else None,
            "cpu_ratio": round(g.cpu_ms_per_request / b.cpu_ms_per_request, 3) if b.cpu_ms_per_request else None,
        }
        if f is not None:
            added |= {
                "floor_p50_ms": diff(b.p50_ms, f.p50_ms),
                "floor_ttfb_p50_ms": diff(b.ttfb_p50_ms, f.ttfb_p50_ms),
                "cpu_vs_floor": ratio(f.cpu_ms_per_request, g.cpu_ms_per_request),
                "p50_vs_floor_ms": diff(f.p50_ms, g.p50_ms),  # the gateway's added p50 minus the floor's
            }
        return added

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "what": self.what,
            "concurrency": self.concurrency,
            "baseline": asdict(self.baseline),
            "floor": asdict(self.floor) if self.floor is not None else None,
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
    "| scenario | c | CPU ms/req floor / gw (gw ÷ floor) | added p50 ms floor / gw | added TTFB p50 ms floor / gw "
    "| base | req/s base → gw (x) | p50 ms base / gw (Δ) | p99 ms base / gw (Δ) | TTFB p50 ms base / gw (Δ) "
    "| gw cores | gw peak RSS MB | gw hdr ms p50 | errors base / gw | foreign cores base / gw |"
)


def table(rows: list[Row]) -> str:
    """One line per scenario; the first columns compare the gateway with the floor (measured in the
    same run), the rest with the baseline."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        b, g, f, added = row.baseline, row.gateway, row.floor, row.added()
        ttfb = "-"
        if b.ttfb_p50_ms is not None:
            ttfb = f"{_n(b.ttfb_p50_ms)} / {_n(g.ttfb_p50_ms)} ({_signed(added['ttfb_p50_ms'])})"
        if f is not None:
            cpu = f"{_n(f.cpu_ms_per_request)} / {_n(g.cpu_ms_per_request)} (**{_n(added['cpu_vs_floor'])}×**)"  # noqa: RUF001
            p50 = f"{_signed(added['floor_p50_ms'])} / {_signed(added['p50_ms'])}"
            first = "-"
            if b.ttfb_p50_ms is not None:
                first = f"{_signed(added['floor_ttfb_p50_ms'])} / {_signed(added['ttfb_p50_ms'])}"
        elif b.target != "direct":  # the server and scaling rows: the uvicorn --workers 1 gateway is the base
            cpu, p50, first = (
                f"base {_n(b.cpu_ms_per_request)} / {_n(g.cpu_ms_per_request)} ({_n(added['cpu_vs_base'])}×)",  # noqa: RUF001
                "-",
                "-",
            )
        else:
            cpu, p50, first = f"- / {_n(g.cpu_ms_per_request)}", "-", "-"
        lines.append(
            f"| {row.scenario} | {row.concurrency} | {cpu} | {p50} | {first} | {b.target} "
            f"| {_n(b.rps, 0)} → {_n(g.rps, 0)} ({_n(added['rps_ratio'])}x) "
            f"| {_n(b.p50_ms)} / {_n(g.p50_ms)} ({_signed(added['p50_ms'])}) "
            f"| {_n(b.p99_ms)} / {_n(g.p99_ms)} ({_signed(added['p99_ms'])}) "
            f"| {ttfb} | {_n(g.cpu_cores)} | {_n(g.rss_peak_mb, 0)} "
            f"| {_n(g.header_overhead_p50_ms, 3)} | {sum(b.errors.values())} / {sum(g.errors.values())} "
            f"| {_n(b.foreign_cores)} / {_n(g.foreign_cores)} |"
        )
    return "\n".join(lines)
