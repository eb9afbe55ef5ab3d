"""GET /readyz: the registered checks, a failing check (503 naming it) and recovery."""

from __future__ import annotations

import asyncio
from typing import Any

from specgate.ops.health import Readiness
from tests.support.http import request


def test_readyz_reports_the_builtin_checks(gateway: Any) -> None:
    reply = request(gateway.url + "/readyz", "GET")
    assert reply.status == 200
    assert reply.json() == {
        "status": "ready",
        "checks": [
            {"name": "config", "ok": True},
            {"name": "providers", "ok": True},
            {"name": "jobs_store", "ok": True},
        ],
    }


def test_readyz_fails_while_a_registered_check_fails_and_recovers(gateway_factory: Any) -> None:
    gw = gateway_factory({"auth": {"api_keys": ["sk-ready"]}, "providers": [{"name": "echo", "type": "echo"}]})
    store = {"up": False}

    async def store_check() -> None:
        if not store["up"]:
            raise ConnectionError("redis at 127.0.0.1:6390: connection refused")

    gw.gateway.readiness.register("jobs_store", store_check)
    down = request(gw.url + "/readyz", "GET")  # no key needed, as for /healthz
    assert down.status == 503
    body = down.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert body["error"]["message"] == "not ready: jobs_store: redis at 127.0.0.1:6390: connection refused"
    assert body["request_id"] == down.headers["request-id"]
    assert request(gw.url + "/healthz", "GET").status == 200  # alive, just not ready

    store["up"] = True
    up = request(gw.url + "/readyz", "GET")
    assert up.status == 200
    assert {"name": "jobs_store", "ok": True} in up.json()["checks"]


def test_readyz_fails_without_a_usable_provider_route(gateway_factory: Any) -> None:
    gw = gateway_factory({"providers": [{"name": "echo", "type": "echo"}]})
    gw.gateway.providers.clear()  # as if the only provider had not been built
    reply = request(gw.url + "/readyz", "GET")
    assert reply.status == 503
    assert "providers: no model route leads to a running provider" in reply.json()["error"]["message"]


async def test_a_hung_check_times_out_and_others_still_run() -> None:
    readiness = Readiness(timeout_s=0.1)
    ran: list[str] = []

    async def hung() -> None:
        await asyncio.sleep(30)

    async def fine() -> None:
        ran.append("fine")

    readiness.register("hung", hung)
    readiness.register("fine", fine)
    results = await asyncio.wait_for(readiness.run(), timeout=2)
    assert [(r.name, r.ok) for r in results] == [("hung", False), ("fine", True)]
    assert results[0].error == "no answer within 0.1s" and ran == ["fine"]
    readiness.unregister("hung")
    assert readiness.names == ("fine",)
