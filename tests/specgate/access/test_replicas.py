"""Two real `specgate serve` processes sharing one real redis-server enforce one combined limit;
their stderr (debug logging) never shows key material."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.specgate.test_cli import ROOT, wait_ready
from tests.support.http import request
from tests.support.ports import free_port

RPM_KEY = "sk-vk-replica-rpm-0123456789"
BUDGET_KEY = "sk-vk-replica-budget-0123456789"
HELLO = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(params=["redis_url", "redis_cluster_url"])
def replicas(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Two processes sharing one Redis, or one Redis Cluster (``redis+cluster://``)."""
    redis_url = request.getfixturevalue(request.param)
    config = {
        "auth": {
            "secret": "${REPLICA_SECRET}",
            "virtual_keys": [
                {"id": "shared-rpm", "key": "${REPLICA_RPM_KEY}", "rpm": 6},
                {"id": "shared-budget", "key": BUDGET_KEY, "budget_tokens": 30, "budget_period": "none"},
            ],
        },
        "limits": {"store": redis_url},
        "providers": [{"name": "echo", "type": "echo"}],
        "logging": {"level": "debug"},
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"PATH": "/usr/bin:/bin", "REPLICA_SECRET": "a-shared-hmac-secret-0123", "REPLICA_RPM_KEY": RPM_KEY}
    procs: list[subprocess.Popen[str]] = []
    urls = []
    try:
        for _ in range(2):
            port = free_port()
            with (tmp_path / f"replica-{port}.log").open("w") as log:  # a file: debug logs must not fill a pipe
                proc = subprocess.Popen(
                    [sys.executable, "-m", "specgate", "serve", "--config", str(path), "--port", str(port)],
                    cwd=ROOT,
                    env={**env, "PYTHONPATH": str(ROOT)},
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    text=True,
                )
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
            wait_ready(urls[-1], proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        text = "\n".join(log.read_text() for log in tmp_path.glob("replica-*.log"))
        assert "info" in text.lower()  # the processes did log
        for key in (RPM_KEY, BUDGET_KEY, "a-shared-hmac-secret-0123"):
            assert key not in text


def _away_from_minute_boundary() -> None:
    """The rpm window is the wall-clock minute: start a burst at least 5 s before it ends."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.1)


def test_two_replicas_share_one_rpm_limit(replicas: list[str]) -> None:
    _away_from_minute_boundary()
    replies: list[Any] = []
    for i in range(10):
        replies.append(request(replicas[i % 2] + "/v1/messages", body=HELLO, headers={"x-api-key": RPM_KEY}))
    statuses = [r.status for r in replies]
    assert statuses == [200] * 6 + [429] * 4, statuses
    assert [r.headers["anthropic-ratelimit-requests-remaining"] for r in replies[:6]] == ["5", "4", "3", "2", "1", "0"]
    assert {r.headers["anthropic-ratelimit-requests-reset"] for r in replies} == {
        replies[0].headers["anthropic-ratelimit-requests-reset"]
    }


def test_two_replicas_share_one_lifetime_budget(replicas: list[str]) -> None:
    used = 0
    admitted = 0
    for i in range(12):
        r = request(replicas[i % 2] + "/v1/messages", body=HELLO, headers={"authorization": f"Bearer {BUDGET_KEY}"})
        if r.status == 429:
            assert (
                "Token budget used up" in r.json()["error"]["message"]
                and "does not reset" in r.json()["error"]["message"]
            )
            break
        assert r.status == 200
        admitted += 1
        used += r.json()["usage"]["input_tokens"] + r.json()["usage"]["output_tokens"]
    else:
        raise AssertionError("the budget was never enforced")
    # admitted while the combined usage was under 30: the last admitted one took it to 30 or more
    assert used >= 30 and used - 5 < 30 and admitted >= 2
    for url in replicas:  # exhausted on both replicas
        assert request(url + "/v1/messages", body=HELLO, headers={"x-bf-vk": BUDGET_KEY}).status == 429
