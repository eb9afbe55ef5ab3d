"""``make fuzz`` / ``python -m specgate.fuzz``: the schemathesis CLI against a live server.

1. writes a config (echo provider, a fresh random key) and the test-time copy of the bundled spec
   (specgate.fuzz.cases.schemathesis_spec: SSE payloads validated too) to a temporary directory;
2. starts ``specgate serve`` on a free loopback port and waits for /healthz;
3. runs ``schemathesis run`` over every operation (examples, coverage, fuzzing and stateful
   phases, every check but ignored_auth) with the cross-field rules of specgate/fuzz/hooks.py;
4. stops the server, reads the HAR report and prints how many requests each operation got.

The exit code is non-zero when schemathesis reports any failure, when an operation of the spec
was never called, or when the server cannot start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from specgate.app import served_document
from specgate.contract import spec
from specgate.core.config import parse_config
from specgate.fuzz.cases import operations_config, schemathesis_spec

ROOT = Path(__file__).resolve().parents[2]
HOOKS = "specgate.fuzz.hooks"
PHASES = "examples,coverage,fuzzing,stateful"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer {url}/healthz within {timeout:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def write_schemathesis_config(folder: Path) -> Path:
    """The per-operation settings of ``specgate.fuzz.cases.operations_config`` as schemathesis.toml."""
    lines: list[str] = []
    for entry in operations_config():
        lines.append("[[operations]]")
        for key, value in entry.items():
            if key == "phases":
                for phase, settings in value.items():
                    for name, setting in settings.items():
                        lines.append(f"phases.{phase}.{name} = {json.dumps(setting)}")
            else:
                lines.append(f"{key} = '{value}'")
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def schemathesis_command(spec_file: Path, url: str, key: str, har_file: Path, args: argparse.Namespace) -> list[str]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if exe is None:
        raise RuntimeError("the schemathesis CLI is not installed (pip install -e '.[dev]')")
    command = [
        exe,
        "--config-file",
        str(write_schemathesis_config(spec_file.parent)),
        "run",
        str(spec_file),
        "--url",
        url,
        "--checks",
        "all",
        "--exclude-checks",
        "ignored_auth",  # a false positive with OR-combined security schemes (connexion-notes §6)
        "--phases",
        args.phases,
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--request-timeout",
        "30",
        "--report",
        "har",
        "--report-har-path",
        str(har_file),
        "--no-color",
        "-H",
        f"x-api-key: {key}",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.max_time is not None:
        command += ["--max-time", str(args.max_time)]
    return command


def operation_of(method: str, path: str, operations: list[tuple[str, str]]) -> tuple[str, str]:
    """The spec operation a concrete request hit: an exact path wins over a templated one
    (``/v1/messages/batches`` over ``/v1/messages/{path}``), then the template with fewest parameters."""
    if (method, path) in operations:
        return method, path
    candidates = []
    for op_method, template in operations:
        if op_method != method or "{" not in template:
            continue
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append((template.count("{"), template))
    return (method, min(candidates)[1]) if candidates else (method, path)


def requests_per_operation(
    har_file: Path, operations: list[tuple[str, str]], base_path: str = ""
) -> Counter[tuple[str, str]]:
    """(METHOD, templated path) -> number of requests schemathesis sent, from its HAR report."""
    counts: Counter[tuple[str, str]] = Counter()
    if not har_file.exists():
        return counts
    har = json.loads(har_file.read_text(encoding="utf-8"))
    for entry in har.get("log", {}).get("entries", []):
        request = entry.get("request", {})
        path = urlsplit(str(request.get("url", ""))).path.removeprefix(base_path) or "/"
        counts[operation_of(str(request.get("method", "")).upper(), path, operations)] += 1
    return counts


def run(args: argparse.Namespace) -> int:
    key = "sk-fuzz-" + secrets.token_urlsafe(24)
    settings = {"auth": {"api_keys": [key]}, "providers": [{"name": "echo", "type": "echo"}]}
    # the spec as this server serves it (no metrics token configured: /metrics is open)
    document = served_document(parse_config(settings, source="fuzz.yaml", known_provider_types=("echo",)))
    operations = [(op.method, op.path) for op in spec.operations(document)]
    with tempfile.TemporaryDirectory(prefix="specgate-fuzz-") as tmp:
        work = Path(tmp)
        config = work / "fuzz.yaml"
        config.write_text(json.dumps(settings), encoding="utf-8")
        config.chmod(0o600)
        spec_file = work / "openapi.json"
        spec_file.write_text(json.dumps(schemathesis_spec(document)), encoding="utf-8")
        port = args.port or free_port()
        url = f"http://127.0.0.1:{port}"
        log_file = work / "server.log"
        with log_file.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "specgate", "serve", "--config", str(config), "--port", str(port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_healthy(url, server)
            env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS}
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
            command = schemathesis_command(spec_file, url, key, work / "requests.har", args)
            started = time.monotonic()
            code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
            elapsed = time.monotonic() - started
        except RuntimeError:
            print(log_file.read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            stop(server)
        server_log = log_file.read_text(encoding="utf-8", errors="replace")
        counts = requests_per_operation(work / "requests.har", operations)
    print(f"\nfuzz: schemathesis exited {code} after {elapsed:.1f} s; requests per operation:")
    missing = []
    for method, path in operations:
        n = counts.get((method, path), 0)
        print(f"  {method:6} {path:30} {n}")
        if n == 0:
            missing.append(f"{method} {path}")
    if missing:
        print(f"fuzz: FAILED: never called: {', '.join(missing)}", file=sys.stderr)
        return code or 1
    if code != 0:
        print(f"fuzz: server log (tail):\n{server_log[-4000:]}", file=sys.stderr)
        print("fuzz: FAILED (see the schemathesis report above)", file=sys.stderr)
        return code
    print(f"fuzz: OK: zero failures, {sum(counts.values())} requests, every operation called")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m specgate.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=15, help="test cases per operation and phase")
    parser.add_argument("--phases", default=PHASES, help=f"schemathesis phases (default: {PHASES})")
    parser.add_argument("--seed", type=int, default=None, help="reproduce a run")
    parser.add_argument("--max-time", type=int, default=None, help="time budget in seconds for the whole run")
    parser.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers")
    parser.add_argument("--port", type=int, default=None, help="server port (default: a free one)")
    try:
        return run(parser.parse_args(argv))
    except RuntimeError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
