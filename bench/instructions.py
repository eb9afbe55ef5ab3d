"""``python -m bench.instructions``: CPU instructions per request, the floor against the gateway,
counted by valgrind's callgrind -- repeatable on a busy machine, where CPU seconds are not.

The fake upstream runs natively; the floor and then the gateway (the bench config, the
``anthropic`` provider) each run under ``valgrind --tool=callgrind --instr-atstart=no`` (start-up
is not counted). Per contender and scenario: instrumentation on, ``--warmup`` requests, counters
zeroed, ``--requests`` requests from ``bench.load`` at ``--concurrency``, counters dumped. The
figure is the dump's instruction total ÷ requests: everything the process executed (the
interpreter, uvloop, httptools, aiohttp, the kernel excluded). The dumps are kept
(``--out``) for ``callgrind_annotate --inclusive=yes``.

``python -m bench.instructions --scenario json --scenario stream --requests 500``;
Bedrock against the anthropic provider: ``python -m bench.instructions --target gateway
--scenario json-c1 --scenario bedrock-json-c1 --requests 200 --chunk-delay-ms 0``; tracing on
against off: ``--target gateway --target gateway-traced --requests 512 --warmup 256`` (the traced
gateway's spans are exported before each zeroing and each dump, so the export counts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from bench import load, procs
from bench.scenarios import Scenario, gateway_request

SCENARIOS = {
    "json": Scenario("json", "non-streaming", 16),
    "stream": Scenario("stream", "streaming", 16, stream=True),
    "sdk-beta-json": Scenario("sdk-beta-json", "SDK beta call", 16, client="sdk-beta"),
    "cc-stream": Scenario("cc-stream", "Claude Code's stream", 16, stream=True, client="claude-code"),
    # one request at a time, the anthropic provider against Bedrock (the floor speaks no Bedrock)
    "json-c1": Scenario("json-c1", "non-streaming", 1),
    "stream-c1": Scenario("stream-c1", "streaming", 1, stream=True),
    "bedrock-json-c1": Scenario("bedrock-json-c1", "Bedrock non-streaming", 1, api="bedrock"),
    "bedrock-stream-c1": Scenario("bedrock-stream-c1", "Bedrock streaming", 1, stream=True, api="bedrock"),
}


def control(pid: int, *flags: str) -> None:
    subprocess.run(["callgrind_control", *flags, str(pid)], check=True, capture_output=True)


def totals(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


async def drive(process: procs.Process, scenario: Scenario, count: int) -> None:
    req = gateway_request(scenario)
    plan = load.Plan(
        url=process.url + req.path,
        body=req.body,
        headers=req.headers,
        concurrency=min(scenario.concurrency, count),
        duration_s=3600.0,
        max_requests=count,
        stream=scenario.stream,
    )
    result = await load.run(plan)
    if result.error_count or result.count != count:
        raise RuntimeError(f"{process.name} {scenario.name}: {result.count} answers, errors {result.errors}")


def dump(pid: int, out: Path, name: str, label: str) -> int:
    """Dump the counters since the last zeroing to ``out/<name>-<label>.out``; their total."""
    before = set(out.glob(f"{name}.*"))
    control(pid, "-d", label)
    (written,) = set(out.glob(f"{name}.*")) - before
    named = out / f"{name}-{label}.out"
    written.rename(named)
    return totals(named)


async def count(process: procs.Process, scenario: Scenario, args: argparse.Namespace, out: Path, label: str) -> float:
    """Instructions per request: ``--warmup`` requests, counters zeroed, ``--requests`` counted."""
    settle = procs.TRACE_EXPORT_INTERVAL_S + 1.0 if process.name == "gateway-traced" else 0.0
    await drive(process, scenario, args.warmup)
    await asyncio.sleep(settle)  # the warm-up's spans exported before the counting starts
    control(process.pid, "-z")
    await drive(process, scenario, args.requests)
    await asyncio.sleep(settle)  # and the counted requests' spans exported before the dump
    requests: int = args.requests
    return dump(process.pid, out, process.name, label) / requests


async def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    out = Path(args.out)
    logs = Path(tempfile.mkdtemp(prefix="specgate-instr-"))
    results: dict[str, dict[str, float]] = {name: {} for name in args.scenario}
    upstream = await procs.start_upstream(logs, chunks=args.chunks, chunk_delay_ms=args.chunk_delay_ms, delay_ms=0.0)
    try:
        for target in args.target:
            wrapper = (
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={args.out}/{target}.%p",
            )
            if target == "floor":
                process = await procs.start_floor(logs, upstream.url, wrapper=wrapper, ready_s=900.0)
            else:
                traced = target == "gateway-traced"
                process = await procs.start_gateway(logs, upstream.url, wrapper=wrapper, ready_s=900.0, tracing=traced)
            process.name = target
            try:
                control(process.pid, "-i", "on")
                for name in args.scenario:
                    if target == "floor" and SCENARIOS[name].api == "bedrock":
                        continue
                    per = await count(process, SCENARIOS[name], args, out, name)
                    results[name][target] = per
                    print(f"{target:8} {name:14} {per:12,.0f} instructions/request", flush=True)
            finally:
                process.stop(grace_s=60.0)
    finally:
        upstream.stop()
        shutil.rmtree(logs, ignore_errors=True)
    for name, row in results.items():
        if "floor" in row and "gateway" in row:
            print(f"{name}: gateway / floor = {row['gateway'] / row['floor']:.2f}x")
        if "gateway" in row and "gateway-traced" in row:
            print(f"{name}: tracing on / off = {row['gateway-traced'] / row['gateway']:.3f}x")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--target", action="append", choices=["floor", "gateway", "gateway-traced"])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--chunk-delay-ms", type=float, default=5.0, help="the upstream's pause between events")
    parser.add_argument("--chunks", type=int, default=20, help="text deltas per streamed answer (two runs: per event)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "specgate-callgrind"))
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench.instructions: needs valgrind (callgrind and callgrind_control)", file=sys.stderr)
        return 2
    args.scenario = args.scenario or ["json", "stream"]
    args.target = args.target or ["floor", "gateway"]
    args.out = str(Path(args.out).resolve())
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results = uvloop.run(run(args))
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
