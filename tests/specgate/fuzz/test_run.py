"""`python -m specgate.fuzz` (make fuzz) end to end, on a tiny budget: a real server, the real
schemathesis CLI with the shared hooks, the HAR count per operation, and its exit codes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.process import run_module

ROOT = Path(__file__).resolve().parents[3]


def fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("specgate.fuzz", *args, timeout=240)


def test_a_short_run_calls_every_operation_and_passes() -> None:
    result = fuzz("--phases", "fuzzing", "--max-examples", "2", "--seed", "1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fuzz: OK: zero failures" in result.stdout and "every operation called" in result.stdout
    for path in ("/v1/messages", "/api/v1/messages", "/healthz", "/v1/version"):
        assert path in result.stdout
    assert "sk-fuzz-" not in result.stdout + result.stderr  # the generated key is never printed


def test_an_operation_never_called_fails_the_run() -> None:
    # the examples phase has nothing to send to the GET operations (they have no request examples)
    result = fuzz("--phases", "examples")
    assert result.returncode != 0
    message = next(line for line in result.stderr.splitlines() if line.startswith("fuzz: FAILED: never called: "))
    assert "GET /healthz" in message and "GET /v1/version" in message
