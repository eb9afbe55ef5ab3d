"""Start and stop the benchmark's processes: the fake upstream and the gateway (loopback only)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_KEY = "sk-bench-gateway"
UPSTREAM_KEY = "sk-bench-upstream"
ANTHROPIC_MODEL = "claude-bench"
OPENAI_MODEL = "gpt-bench"
BEDROCK_MODEL = "bedrock-bench"
BEDROCK_MODEL_ID = "anthropic.claude-bench-v1:0"
TRACE_EXPORT_INTERVAL_S = 5.0  # the traced gateway's delay between span exports (the config's default)
# the gateway's AWS credential chain finds these (the bench upstream checks only that requests are signed)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDBENCHFAKE",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM this process (uvicorn's supervisor stops its own workers), then SIGKILL if needed."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)


def _spawn(
    name: str,
    args: list[str],
    url: str,
    logs: Path,
    extra_env: dict[str, str] | None = None,
    *,
    wrapper: Sequence[str] = (),  # a command that runs the interpreter (valgrind: bench.instructions)
) -> Process:
    log = logs / f"{name}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost", **AWS_ENV, **(extra_env or {})}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(logs / "no-aws-config")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [*wrapper, sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Process(name, popen, url, log)


async def wait_ready(process: Process, path: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited early:\n{process.log.read_text()[-2000:]}")
            try:
                async with session.get(process.url + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{process.name} not ready after {timeout_s:.0f}s:\n{process.log.read_text()[-2000:]}"
                )
            await asyncio.sleep(0.05)


async def start_upstream(logs: Path, *, chunks: int, chunk_delay_ms: float, delay_ms: float) -> Process:
    port = free_port()
    args = ["-m", "bench.upstream", "--port", str(port), "--chunks", str(chunks)]
    args += ["--chunk-delay-ms", str(chunk_delay_ms), "--delay-ms", str(delay_ms)]
    process = _spawn("upstream", args, f"http://127.0.0.1:{port}", logs)
    await wait_ready(process, "/health")
    return process


def gateway_config(upstream_url: str, *, tracing: bool = False) -> dict[str, object]:
    """An ``anthropic``, an ``openai`` and a ``bedrock`` provider, all pointing at the fake upstream.
    The upstream pool is sized for the 1,000-stream scenario (the default is 100 connections).
    ``tracing``: every request traced (ratio 1.0), exported to the fake upstream's OTLP sink."""
    common = {"api_keys": [UPSTREAM_KEY], "max_retries": 0, "options": {"max_connections": 2048}}
    traced = (
        {
            "tracing": {
                "endpoint": upstream_url + "/v1/traces",
                "sample_ratio": 1.0,
                "export_interval_s": TRACE_EXPORT_INTERVAL_S,
            }
        }
        if tracing
        else {}
    )
    return {
        **traced,
        "server": {"host": "127.0.0.1"},
        "auth": {"api_keys": [GATEWAY_KEY]},
        "providers": [
            {"name": "anthropic", "type": "anthropic", "base_url": upstream_url, **common},
            {"name": "openai", "type": "openai", "base_url": upstream_url + "/v1", **common},
            {
                "name": "bedrock",
                "type": "bedrock",
                "base_url": upstream_url,
                "region": "us-east-1",
                "model_ids": {BEDROCK_MODEL: BEDROCK_MODEL_ID},
                **{k: v for k, v in common.items() if k != "api_keys"},
            },
        ],
        "models": [
            {"match": "claude-*", "provider": "anthropic"},
            {"match": "gpt-*", "provider": "openai"},
            {"match": BEDROCK_MODEL, "provider": "bedrock"},
        ],
        "logging": {"level": "warning"},
    }


async def start_floor(
    logs: Path, upstream_url: str, *, wrapper: tuple[str, ...] = (), ready_s: float = 60.0
) -> Process:
    """The floor (``bench.floor``): the least a Python pass-through does, on the same server stack.
    ``wrapper``: a command to run it under (``bench.instructions``: valgrind)."""
    port = free_port()
    args = ["-m", "bench.floor", "--port", str(port), "--upstream", upstream_url]
    args += ["--key", GATEWAY_KEY, "--upstream-key", UPSTREAM_KEY]
    process = _spawn("floor", args, f"http://127.0.0.1:{port}", logs, wrapper=wrapper)
    await wait_ready(process, "/health", ready_s)
    return process


def granian_available() -> bool:
    try:
        import granian  # noqa: F401
    except ImportError:
        return False
    return True


async def start_gateway(
    logs: Path,
    upstream_url: str,
    *,
    workers: int = 1,
    server: str = "uvicorn",
    tracing: bool = False,
    wrapper: tuple[str, ...] = (),
    ready_s: float = 60.0,
) -> Process:
    """``specgate serve`` (uvicorn), or with ``server="granian"`` the same app factory under granian
    (measurement only: granian has none of specgate.wire.serving's guards); ``wrapper`` as for
    ``start_floor``."""
    port = free_port()
    name = (f"gateway-w{workers}" if server == "uvicorn" else f"gateway-{server}") + ("-traced" if tracing else "")
    config = logs / f"{name}.yaml"
    config.write_text(yaml.safe_dump(gateway_config(upstream_url, tracing=tracing), sort_keys=False))
    if server == "granian":
        args = ["-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--workers", str(workers), "--loop", "uvloop", "--no-ws", "--log-level", "warning"]
        args += ["specgate.cli:app_from_env"]
        env = {"SPECGATE_CONFIG": str(config), "SPECGATE_KEY_ID_SECRET": "bench" * 8}
        process = _spawn(name, args, f"http://127.0.0.1:{port}", logs, env)
    else:
        args = ["-m", "specgate", "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
        process = _spawn(name, args, f"http://127.0.0.1:{port}", logs, wrapper=wrapper)
    await wait_ready(process, "/healthz", ready_s)
    if workers > 1:  # every worker must be up, not only the first one to accept
        await asyncio.sleep(1.0)
    return process
