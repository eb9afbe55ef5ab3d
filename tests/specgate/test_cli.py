"""The CLI as a user runs it: a real `specgate serve` subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http import request
from tests.support.ports import free_port
from tests.support.process import READY_S

ROOT = Path(__file__).resolve().parents[2]


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if request(url + "/healthz", "GET", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not become ready")


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "specgate", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_answers_the_readme_curl(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = served
    # exactly what `curl -s localhost:8080/v1/messages -d '{...}'` sends: curl's default form type
    body = '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}'
    reply = request(url + "/v1/messages", body=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert reply.status == 200
    message = json.loads(reply.body)
    assert message["type"] == "message" and message["content"] == [{"type": "text", "text": "Hello", "citations": None}]
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "no upstream is configured" in err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_refuses_non_loopback_without_keys(host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "specgate", "serve", "--host", host, "--port", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to serve" in result.stderr and "--allow-unauthenticated" in result.stderr


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("providers: [{name: a, type: wat}]\n", "providers[0].type: unknown provider type 'wat'"),
        (
            "providers: [{name: a, type: echo}]\nmodels: [{match: '*', provider: b}]\n",
            "models[0].provider: no provider named 'b' (configured: a)",
        ),
        (
            "providers: [{name: a, type: openai, base_url: 'http://x', api_keys: ['${SPECGATE_TEST_UNSET}']}]\n",
            "providers[0].api_keys[0]: environment variable SPECGATE_TEST_UNSET is not set",
        ),
    ],
    ids=["unknown-type", "missing-provider", "missing-variable"],
)
def test_config_error_is_reported(tmp_path: Path, yaml_text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text)
    result = subprocess.run(
        [sys.executable, "-m", "specgate", "serve", "--config", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{bad}: {message}" in result.stderr
