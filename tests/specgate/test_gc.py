"""Requests leave no cyclic garbage, which is what lets the gateway collect its young generation
rarely (``specgate.app.YOUNG_GC_THRESHOLD``): a gateway in its own process
(tests/support/gc_serve.py) serves a mix of requests, and a full collection after them finds
next to nothing (a stream: one object)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specgate.app import YOUNG_GC_THRESHOLD
from tests.support.http import request
from tests.support.ports import free_port
from tests.support.process import Served, launch


@pytest.fixture
def gc_gateway(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    served = launch(["-m", "tests.support.gc_serve", str(port)], port, tmp_path)
    try:
        yield served
    finally:
        served.stop()


def probe(served: Served) -> dict[str, Any]:
    """Have the gateway collect; what it found since the last probe."""
    seen = served.log.read_text().count("\nGC ") if served.log.exists() else 0
    os.kill(served.proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in served.log.read_text().splitlines() if line.startswith("GC ")]
        if len(lines) > seen:
            found: dict[str, Any] = json.loads(lines[-1][3:])
            return found
        time.sleep(0.02)
    raise AssertionError("the gateway did not answer the probe")


def test_requests_leave_no_cyclic_garbage(gc_gateway: Served) -> None:
    url = gc_gateway.url + "/v1/messages"
    small = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}
    kinds: list[tuple[dict[str, Any] | bytes, int]] = [
        (small, 200),
        ({**small, "stream": True}, 200),
        ({**small, "max_tokens": "many"}, 400),  # invalid against the spec
        (b'{"model": ', 400),  # not JSON
        ({**small, "messages": []}, 400),  # a cross-field rule (the handler's 400)
    ]
    for body, status in kinds:  # warm: what the first of each kind builds once is not garbage
        assert request(url, body=body).status == status
    first = probe(gc_gateway)
    assert first["threshold"][0] == YOUNG_GC_THRESHOLD
    rounds = 40
    for _ in range(rounds):
        for body, status in kinds:
            assert request(url, body=body).status == status
    found = probe(gc_gateway)
    # a stream leaves one object to the collector (40 in 40 rounds, measured); nothing else any
    assert found["unreachable"] <= rounds + 10, found
