"""`specgate serve` as a real subprocess on a free loopback port (``tests.support.ports``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.support.http import request
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# How long a server may take to start answering: a deadline that catches a hung start-up, not a
# timing assert. Generous because `make test` runs 3 xdist workers on 2 cores (and the machine may
# be shared): a `specgate serve` that starts in ~3 s alone was seen to need 37 s at load 8.
READY_S = 120.0


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log  # stderr goes to a file: request logs would fill a pipe nobody reads

    def wait_ready(self, timeout: float = READY_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early: {self.log.read_text()}")
            try:
                if request(self.url + "/healthz", "GET", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not become ready")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=timeout)
        return self.proc.returncode, self.log.read_text()


def spawn(config: dict[str, Any] | None, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    cmd = ["-m", "specgate", "serve", "--port", str(port), *args]
    if config is not None:
        path = tmp / f"config-{port}.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd += ["--config", str(path)]
    return launch(cmd, port, tmp, env=env)


def launch(args: list[str], port: int, tmp: Path, *, env: dict[str, str] | None = None) -> Served:
    """``python <args>``, serving on ``port``, stderr to a file in ``tmp``; returns once ready."""
    log = tmp / f"server-{port}.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            env={**os.environ, **(env or {})},
        )
    served = Served(proc, f"http://127.0.0.1:{port}", log)
    try:
        served.wait_ready()
    except BaseException:
        served.stop(signal.SIGKILL)
        raise
    return served


@contextmanager
def serving(config: dict[str, Any] | None, tmp: Path, *args: str) -> Iterator[Served]:
    served = spawn(config, tmp, *args)
    try:
        yield served
    finally:
        if served.proc.poll() is None:
            served.stop(signal.SIGKILL)


def run_module(module: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m <module> <args>`` from the project root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
