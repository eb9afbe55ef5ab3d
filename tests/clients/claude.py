"""The real Claude Code CLI run non-interactively (`claude -p`) against a base URL, and its output read.

The environment is built from nothing but ``PATH`` so that nothing of the caller's leaks in (an
``ANTHROPIC_*`` variable, an HTTP proxy that would catch the loopback calls). ``HOME`` and the
working directory are a temporary directory: Claude Code writes its settings and session there.

``python -m tests.clients.claude`` records what the pinned Claude Code sends (against the fake
Anthropic upstream, no gateway in between) into ``fixtures/``: run it after changing the pin.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.clients.install import HERE, NodeClients, locate

PROMPT = "say hello"
TIMEOUT_S = 120.0
FORMATS: dict[str, tuple[str, ...]] = {
    "json": ("--output-format", "json"),
    "stream-json": ("--output-format", "stream-json", "--verbose"),
}
FIXTURES = HERE / "fixtures"
REQUEST_FIXTURE = FIXTURES / "claude_code_request.json"
HEADERS_FIXTURE = FIXTURES / "claude_code_headers.json"
# transport details of one connection, not what Claude Code chose to send
UNRECORDED_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})


@dataclass(frozen=True)
class Run:
    output_format: str
    returncode: int
    stdout: str
    stderr: str

    def lines(self) -> list[dict[str, Any]]:
        """Every stdout line as JSON (stream-json prints one event per line)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def result(self) -> dict[str, Any]:
        """The final ``result`` object: all of stdout (json) or the last line (stream-json)."""
        if self.output_format == "json":
            value: dict[str, Any] = json.loads(self.stdout)
            return value
        return self.lines()[-1]

    def describe(self) -> str:
        """For an assertion message: Claude Code's own verdict first, then the raw output."""
        try:
            r = self.result()
            verdict = f"is_error={r.get('is_error')} num_turns={r.get('num_turns')} result={r.get('result')!r}"
        except (ValueError, IndexError, AttributeError):
            verdict = "no result object"
        return f"exit {self.returncode}: {verdict}\nstdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}"


def command(clients: NodeClients, output_format: str) -> list[str]:
    return [str(clients.claude), "-p", PROMPT, *FORMATS[output_format]]


def environment(
    base_url: str, home: Path, *, api_key: str | None = None, auth_token: str | None = None
) -> dict[str, str]:
    """``api_key`` is sent as ``x-api-key``, ``auth_token`` as ``Authorization: Bearer``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    if api_key is not None:
        env["ANTHROPIC_API_KEY"] = api_key
    if auth_token is not None:
        env["ANTHROPIC_AUTH_TOKEN"] = auth_token
    return env


def run(clients: NodeClients, output_format: str, env: dict[str, str]) -> Run:
    """Blocking: for a gateway in its own thread and no fake upstream in this thread's loop."""
    try:
        done = subprocess.run(
            command(clients, output_format),
            env=env,
            cwd=env["HOME"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"claude did not finish in {TIMEOUT_S} s: {exc.stdout!r} {exc.stderr!r}") from exc
    return Run(output_format, done.returncode, done.stdout, done.stderr)


async def run_async(clients: NodeClients, output_format: str, env: dict[str, str]) -> Run:
    """Non-blocking: the fake upstreams serve from the calling event loop meanwhile."""
    proc = await asyncio.create_subprocess_exec(
        *command(clients, output_format),
        env=env,
        cwd=env["HOME"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"claude did not finish in {TIMEOUT_S} s") from exc
    assert proc.returncode is not None
    return Run(output_format, proc.returncode, out.decode(), err.decode())


def request_shape(body: dict[str, Any]) -> dict[str, Any]:
    """What a version of Claude Code sends, without the parts that change per run (ids, paths)."""
    return {
        "keys": sorted(body),
        "roles": [m["role"] for m in body["messages"]],
        "tools": [t.get("name") for t in body.get("tools", [])],
        "stream": body.get("stream"),
        "context_management": body.get("context_management"),
        "thinking": (body.get("thinking") or {}).get("type"),  # its `display` follows the output format
    }


async def capture() -> None:
    from tests.fakes.anthropic_upstream import FakeAnthropic

    clients = locate()
    if isinstance(clients, str):
        raise SystemExit(clients)
    upstream = FakeAnthropic()
    await upstream.start()
    try:
        with tempfile.TemporaryDirectory() as home:
            done = await run_async(clients, "json", environment(upstream.url, Path(home), api_key="sk-capture"))
    finally:
        await upstream.stop()
    if done.returncode != 0:
        raise SystemExit(done.describe())
    first = next(r for r in upstream.requests if r.method == "POST" and r.path.startswith("/v1/messages"))
    FIXTURES.mkdir(exist_ok=True)
    REQUEST_FIXTURE.write_text(json.dumps(first.body, indent=1, ensure_ascii=False) + "\n")
    headers = {k: v for k, v in sorted(first.headers.items()) if k not in UNRECORDED_HEADERS}
    HEADERS_FIXTURE.write_text(json.dumps({"path": first.path, "headers": headers}, indent=1) + "\n")
    print(f"wrote {REQUEST_FIXTURE} ({REQUEST_FIXTURE.stat().st_size} bytes) and {HEADERS_FIXTURE}")


if __name__ == "__main__":
    asyncio.run(capture())
