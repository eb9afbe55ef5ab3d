"""An async job reserves its estimate against its key's tpm and budget at submit; when the job
leaves the process without running to the end -- queued and handed back at SIGTERM, or cut by
the drain -- the reservation is given back (the next process admits it again when it runs it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis

from tests.support.http import request

KEY = "sk-vk-reserve-0123456789"
HI = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}


def test_a_drained_gateway_gives_back_the_reservations_of_its_unfinished_jobs(
    gateway_factory: Any, tmp_path: Path, redis_url: str
) -> None:
    config = {
        "auth": {"virtual_keys": [{"id": "team-r", "key": KEY, "tpm": 100000, "budget_tokens": 100000}]},
        "limits": {"store": redis_url},
        "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": 5000}}],
        "jobs": {"store": f"sqlite:///{tmp_path / 'jobs.db'}", "max_running": 1, "shutdown_grace_s": 0.2},
    }
    gw = gateway_factory(config)
    client = redis.Redis.from_url(redis_url)

    def tokens() -> dict[str, int]:
        names = [n.decode() for n in client.scan_iter(match="specgate:limits:{team-r}:*") if b":rpm:" not in n]
        return {name: int(client.get(name) or 0) for name in names}

    for _ in range(3):  # one runs (5 s), two wait in the queue
        reply = request(gw.url + "/v1/messages", body=HI, headers={"x-api-key": KEY, "x-bf-async": "true"})
        assert reply.status == 200, reply.body
    reserved = tokens()
    assert len(reserved) == 2 and all(v >= 300 for v in reserved.values()), reserved  # tpm, budget: 3 estimates
    time.sleep(0.3)  # the first job is with the upstream
    gw.stop()  # the lifespan drains: 0.2 s grace, then the running job is cut and all three handed back
    assert tokens() == dict.fromkeys(reserved, 0)
    client.close()
