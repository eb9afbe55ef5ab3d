"""Gateway instructions per request under callgrind: a CPU figure that a busy machine does not move.

``python -m bench.instructions [--only anthropic bedrock stream bedrock-stream] [--n 200]`` starts
the bench upstream and one ``specgate serve --workers 1`` (the bench config) under
``valgrind --tool=callgrind --instr-atstart=no``, then for each path sends ``--warm`` requests,
zeroes the counters (``callgrind_control -z``), sends ``--n`` requests one at a time and dumps
(``-d``): the dump's total is the gateway's instructions over exactly those requests (its event
loop, the server, the providers; not the client's nor the upstream's). Paths: ``anthropic`` and
``bedrock`` are the ``json-c1`` and ``bedrock-json-c1`` requests, ``stream`` and
``bedrock-stream`` the streaming ones (20 deltas, no delay between them). Needs valgrind; takes
about a minute per path. Used for the Bedrock figures of the README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import yaml

from bench.procs import _spawn, free_port, gateway_config, start_upstream, wait_ready
from bench.scenarios import Request, Scenario, gateway_request

PATHS = {
    "anthropic": Scenario("json-c1", "", 1),
    "bedrock": Scenario("bedrock-json-c1", "", 1, api="bedrock"),
    "stream": Scenario("stream-c1", "", 1, stream=True),
    "bedrock-stream": Scenario("bedrock-stream-c1", "", 1, stream=True, api="bedrock"),
}


def _control(pid: int, *args: str) -> None:
    quiet = subprocess.DEVNULL
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=quiet, stderr=quiet)


def _total(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise ValueError(f"{dump}: no totals line")


async def _send(session: aiohttp.ClientSession, url: str, request: Request, n: int) -> None:
    for _ in range(n):
        async with session.post(url + request.path, data=request.body, headers=request.headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{request.path}: HTTP {resp.status}")


async def measure(paths: list[str], n: int, warm: int, logs: Path) -> dict[str, float]:
    """Instructions per request of each path, in one gateway process."""
    upstream = await start_upstream(logs, chunks=20, chunk_delay_ms=0, delay_ms=0)
    config = logs / "gateway.yaml"
    config.write_text(yaml.safe_dump(gateway_config(upstream.url), sort_keys=False))
    port = free_port()
    out = logs / "callgrind"
    out.mkdir()
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p"]
    args = ["-m", "specgate", "serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    gateway = _spawn("gateway", args, f"http://127.0.0.1:{port}", logs, wrapper=wrapper)
    per_request: dict[str, float] = {}
    try:
        await wait_ready(gateway, "/healthz", timeout_s=600)
        _control(gateway.pid, "-i", "on")
        async with aiohttp.ClientSession() as session:
            for name in paths:
                request = gateway_request(PATHS[name])
                await _send(session, gateway.url, request, warm)
                _control(gateway.pid, "-z")
                await _send(session, gateway.url, request, n)
                _control(gateway.pid, "-d", name)
                dump = max(out.glob("cg.*"), key=lambda p: p.stat().st_mtime)
                per_request[name] = _total(dump) / n
    finally:
        gateway.stop(60)
        upstream.stop()
    return per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(PATHS), default=list(PATHS))
    parser.add_argument("--n", type=int, default=200, help="requests counted per path")
    parser.add_argument("--warm", type=int, default=100, help="requests sent first, not counted")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench.instructions: needs valgrind (callgrind and callgrind_control)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="specgate-callgrind-") as tmp:
        result = asyncio.run(measure(args.only, args.n, args.warm, Path(tmp)))
    first = result[args.only[0]]
    for name, instructions in result.items():
        ratio = f"{instructions / first:.2f}x {args.only[0]}"
        print(f"{name:15s} {instructions / 1e6:7.3f} M instructions/request  ({ratio})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
