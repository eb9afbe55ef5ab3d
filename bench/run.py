"""``python -m bench``: the same load straight to a fake upstream and through the gateway, in one
run, on loopback. Prints one markdown table and writes a JSON file (and the table next to it).

Processes: the fake upstream (``bench.upstream``), the floor (``bench.floor``), ``specgate serve``
with 1 worker (and, for the scaling row, a second gateway with ``--workers 2``; for the server rows,
the same app under granian), and this process as the load generator.
All of them share the machine's cores; see the README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvloop

from bench import load, procs, procstat
from bench.report import Measurement, Row, median, table
from bench.scenarios import Scenario, direct_request, gateway_request, scenarios

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


@dataclass(frozen=True)
class Timing:
    warmup_s: float
    duration_s: float
    max_requests: int


async def measure(
    target: str, process: procs.Process, scenario: Scenario, timing: Timing, gateway: bool, ours: list[int]
) -> Measurement:
    """One load run against ``process``; ``ours`` are the benchmark's own process trees (the rest
    of the host's busy CPU during the window is reported as foreign)."""
    req = gateway_request(scenario) if gateway else direct_request(scenario)
    plan = load.Plan(
        url=process.url + req.path,
        body=req.body,
        headers=req.headers,
        concurrency=scenario.concurrency,
        duration_s=600.0 if scenario.one_round else timing.duration_s,
        max_requests=scenario.concurrency if scenario.one_round else timing.max_requests,
        warmup_s=0.0 if scenario.one_round else timing.warmup_s,
        stream=scenario.stream,
    )
    cpu: dict[str, float] = {}
    peak = 0
    sampling = True

    async def sample_rss() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, procstat.usage(process.pid).rss_bytes)
            await asyncio.sleep(0.1)

    sampler: asyncio.Task[None] | None = None

    async def on_window(opening: bool) -> None:
        nonlocal sampler
        key = "open" if opening else "close"
        cpu[key] = procstat.usage(process.pid).cpu_s
        cpu[key + "_host"] = procstat.host_busy_s() - sum(procstat.usage(pid).cpu_s for pid in ours)
        if opening:
            sampler = asyncio.create_task(sample_rss())

    result = await load.run(plan, on_window)
    sampling = False
    if sampler is not None:
        await sampler
    peak = max(peak, procstat.usage(process.pid).rss_bytes)
    foreign = cpu["close_host"] - cpu["open_host"]
    return Measurement.of(target, result, cpu["close"] - cpu["open"], peak, foreign)


QUIET_S = {False: 0.3, True: 0.05}  # by smoke mode
ALTERNATIONS = 3  # windows per side when two gateways are compared (off, on, on, off, off, on)


Side = tuple[str, procs.Process, Scenario]  # (target label, process, what it is sent)


async def alternated(
    a: Side, b: Side, timing: Timing, ours: list[int], quiet: float
) -> tuple[Measurement, Measurement]:
    """Two sides (two gateways, or two request paths of one) measured in alternating windows
    (ABBAAB), each side's median window by CPU per request: on this box two adjacent windows of
    one gateway have differed by up to 1.6x, so a single window per side, one after the other,
    measured the drift as much as the difference."""
    windows: tuple[list[Measurement], list[Measurement]] = ([], [])
    for index in range(ALTERNATIONS * 2):
        side = 0 if index % 4 in (0, 3) else 1
        target, process, scenario = (a, b)[side]
        windows[side].append(await measure(target, process, scenario, timing, gateway=True, ours=ours))
        await _quiet(quiet)

    def median(side: list[Measurement]) -> Measurement:
        return sorted(side, key=lambda m: m.cpu_ms_per_request)[len(side) // 2]

    return median(windows[0]), median(windows[1])


async def rotated(
    sides: list[Side], rounds: int, timing: Timing, ours: list[int], quiet: float
) -> dict[str, Measurement]:
    """Each side (direct, the floor, the gateway) measured ``rounds`` times, the order rotated
    every round (D F G, F G D, G D F: each side once in each place), each figure its median over
    the rounds (``report.median``). One window each, one after the other, measured this box's
    drift as much as the sides: the same tree gave stream-c16 1.40x and 1.79x the floor within an
    hour that way."""
    windows: dict[str, list[Measurement]] = {target: [] for target, _, _ in sides}
    for round_ in range(rounds):
        for place in range(len(sides)):
            target, process, scenario = sides[(place + round_) % len(sides)]
            direct = target == "direct"
            windows[target].append(await measure(target, process, scenario, timing, gateway=not direct, ours=ours))
            await _quiet(quiet)
    return {target: median(measured) for target, measured in windows.items()}


async def _quiet(seconds: float) -> None:
    await asyncio.sleep(seconds)  # let the previous run's connections close before the next one


def pin(pids: list[int], cpus: set[int]) -> None:
    """Keep these processes (their threads included) on ``cpus``; no-op where affinity is unsupported."""
    for pid in pids:
        for process in procstat.tree(pid):
            for task in Path(f"/proc/{process}/task").glob("*"):
                with contextlib.suppress(OSError, AttributeError, ValueError):
                    os.sched_setaffinity(int(task.name), cpus)


def pinning() -> tuple[set[int], set[int]] | None:
    """(load generator's CPUs, gateway's CPUs): the load generator and the fake upstream get the
    last CPU; the gateway the others, or every CPU on a 2-CPU box (one CPU is no room for 2 workers)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    if len(cpus) < 2:
        return None
    return {cpus[-1]}, set(cpus[:-1]) if len(cpus) > 2 else set(cpus)


async def run(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    timing = Timing(args.warmup, args.duration, args.max_requests)
    chosen = [s for s in scenarios(smoke=args.smoke) if not args.only or s.name in args.only]
    if not procs.granian_available():
        chosen = [s for s in chosen if s.server != "granian"]
    upstream = await procs.start_upstream(logs, chunks=20, chunk_delay_ms=5.0, delay_ms=0.0)
    started: list[procs.Process] = [upstream]
    rows: list[Row] = []
    memory: dict[str, float] = {}
    try:
        gateway = await procs.start_gateway(logs, upstream.url)
        started.append(gateway)
        floor = await procs.start_floor(logs, upstream.url)
        started.append(floor)
        await _quiet(0.2 if args.smoke else 1.0)
        ours = [os.getpid(), upstream.pid, gateway.pid, floor.pid]
        memory["idle_rss_mb_at_start"] = round(procstat.usage(gateway.pid).rss_bytes / 2**20, 1)
        quiet = QUIET_S[args.smoke]
        for scenario in chosen:
            print(f"[bench] {scenario.name}: {scenario.what}, concurrency {scenario.concurrency}", flush=True)
            lowest: Measurement | None = None
            if scenario.traced:  # the same load through a gateway that traces every request, vs this one
                traced = await procs.start_gateway(logs, upstream.url, tracing=True)
                started.append(traced)
                try:
                    await _quiet(1.0)
                    pair = ("gateway", gateway, scenario), ("gateway-traced", traced, scenario)
                    baseline, through = await alternated(*pair, timing, [*ours, traced.pid], quiet)
                finally:
                    traced.stop()
            elif scenario.against_anthropic:  # one gateway: the anthropic path, then this one, alternated
                plain = replace(scenario, api="anthropic", against_anthropic=False)
                pair = ("gateway", gateway, plain), (f"gateway-{scenario.api}", gateway, scenario)
                baseline, through = await alternated(*pair, timing, ours, quiet)
            elif scenario.server != "uvicorn" or scenario.workers > 1:
                # the same gateway two ways, one after the other: uvicorn with 1 worker, then the other
                placement = pinning() if scenario.pinned else None
                if placement is not None:
                    pin([os.getpid(), upstream.pid], placement[0])
                    pin([gateway.pid], placement[1])
                many = await procs.start_gateway(logs, upstream.url, workers=scenario.workers, server=scenario.server)
                started.append(many)
                try:
                    if placement is not None:
                        pin([many.pid], placement[1])
                    await _quiet(1.0)
                    baseline = await measure("gateway", gateway, scenario, timing, gateway=True, ours=ours)
                    await _quiet(quiet)
                    label = f"gateway-w{scenario.workers}" if scenario.server == "uvicorn" else f"gw-{scenario.server}"
                    through = await measure(label, many, scenario, timing, gateway=True, ours=[*ours, many.pid])
                finally:
                    many.stop()
                    if placement is not None:
                        everything = set(os.sched_getaffinity(0)) | placement[1]
                        pin([os.getpid(), upstream.pid, gateway.pid], everything)
            else:
                sides: list[Side] = [("direct", upstream, scenario)]
                if scenario.api == "anthropic":  # the floor is an Anthropic pass-through
                    sides.append(("floor", floor, scenario))
                sides.append(("gateway", gateway, scenario))
                measured = await rotated(sides, args.rounds, timing, ours, quiet)
                baseline, through, lowest = measured["direct"], measured["gateway"], measured.get("floor")
            rows.append(Row(scenario.name, scenario.what, scenario.concurrency, baseline, through, lowest))
            await _quiet(quiet)
        await _quiet(0.2 if args.smoke else 2.0)
        memory["idle_rss_mb_after_load"] = round(procstat.usage(gateway.pid).rss_bytes / 2**20, 1)
    finally:
        for process in reversed(started):
            process.stop()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "load generator, fake upstream and gateway share these CPUs",
        },
        "settings": {
            "smoke": args.smoke,
            "warmup_s": timing.warmup_s,
            "duration_s": timing.duration_s,
            "max_requests": timing.max_requests,
            "rounds": args.rounds,
            "upstream": {"chunks": 20, "chunk_delay_ms": 5.0, "delay_ms": 0.0},
        },
        "gateway_memory": memory,
        "rows": [row.as_json() for row in rows],
        "table": table(rows),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="specgate overhead benchmark (loopback)")
    parser.add_argument("--smoke", action="store_true", help="a few seconds: tiny windows, 50 streams")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds per run (default 1)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="request cap per measured run")
    parser.add_argument("--only", nargs="+", default=None, help="run only these scenarios")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rotated rounds of direct, floor and gateway, medians (default 3)"
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.smoke else 3
    if args.duration is None:
        args.duration = 0.2 if args.smoke else 5.0
    if args.warmup is None:
        args.warmup = 0.05 if args.smoke else 1.0
    if args.out is None:
        args.out = DEFAULT_OUT.with_name("smoke.json") if args.smoke else DEFAULT_OUT
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load.raise_fd_limit(65536)  # inherited by the gateway and the upstream
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        document = uvloop.run(run(args, Path(tmp)))
    document["settings"]["wall_s"] = round(time.monotonic() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(document["table"] + "\n")
    print(document["table"])
    for row in document["rows"]:
        if row["gateway"]["target"] == "gateway-traced":
            print(f"{row['scenario']}: CPU per request, tracing on / off = {row['added']['cpu_ratio']}x")
        elif row["gateway"]["target"] == "gateway-bedrock":
            print(f"{row['scenario']}: CPU per request, bedrock / anthropic = {row['added']['cpu_ratio']}x")
    print(f"gateway RSS: {document['gateway_memory']}  wall: {document['settings']['wall_s']}s  json: {args.out}")
    return 0
