"""Admin key ids keyed with a server secret, and ``server.metrics_token`` on ``GET /metrics``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from specgate.access import keyid
from specgate.core.config import Config, ConfigError
from specgate.ops.logs import JsonFormatter
from tests.support import metrics as prom
from tests.support.gateway import make_config
from tests.support.http import Reply, request

KEY = "sk-keyid-admin-key-0c1d"
SECRET_A = "key-id-secret-aaaaaaaaaaaa"
SECRET_B = "key-id-secret-bbbbbbbbbbbb"
TOKEN = "metrics-token-7e2b5a90c4"
BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "count these"}]}


def cfg(auth: dict[str, Any] | None = None, server: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY], **(auth or {})},
        "server": server or {},
        "providers": [{"name": "echo", "type": "echo"}],
        **extra,
    }


def parsed(data: dict[str, Any]) -> Config:
    from providers.registry import provider_types

    return make_config(data, provider_types())


def test_the_id_is_an_hmac_not_the_old_public_hash() -> None:
    old = "key_" + hashlib.sha256(b"specgate-principal\x00" + KEY.encode()).hexdigest()[:16]
    a, b = keyid.key_id(SECRET_A.encode(), KEY), keyid.key_id(SECRET_B.encode(), KEY)
    assert re.fullmatch(r"key_[0-9a-f]{16}", a)
    assert a != old and b != old and a != b
    assert keyid.key_id(SECRET_A.encode(), KEY) == a
    assert keyid.key_id(SECRET_A.encode(), KEY + "x") != a


def test_the_secret_comes_from_key_id_secret_then_auth_secret() -> None:
    explicit = parsed(cfg({"key_id_secret": SECRET_A, "secret": SECRET_B}))
    assert keyid.configured_secret(explicit) == SECRET_A.encode()
    derived = keyid.configured_secret(parsed(cfg({"secret": SECRET_B})))
    assert derived is not None and derived != SECRET_B.encode() and len(derived) == 32
    assert keyid.configured_secret(parsed(cfg())) is None
    from providers.registry import provider_types
    from specgate.core.config import parse_config

    with_env = parse_config(
        {"auth": {"api_keys": [KEY], "key_id_secret": "${KID}"}, "providers": [{"name": "e", "type": "echo"}]},
        source="t.yaml",
        known_provider_types=tuple(provider_types()),
        environ={"KID": SECRET_B},
    )
    assert keyid.configured_secret(with_env) == SECRET_B.encode()
    with pytest.raises(ConfigError, match=r"auth\.key_id_secret: must be at least 16"):
        parsed(cfg({"key_id_secret": "short"}))
    with pytest.raises(ConfigError, match=r"server\.metrics_token: must be at least 16"):
        parsed(cfg(server={"metrics_token": "short"}))


async def test_a_sqlite_store_keeps_one_secret_for_every_process(tmp_path: Path) -> None:
    config = parsed(cfg(jobs={"store": f"sqlite:///{tmp_path / 'jobs.db'}"}))
    first = await keyid.resolve_secret(config, environ={})
    again = await asyncio.gather(*(keyid.resolve_secret(config, environ={}) for _ in range(5)))
    assert all(s == first for s in again) and len(first) == 64
    file = tmp_path / "jobs.db.key-id-secret"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert sorted(p.name for p in await asyncio.to_thread(tmp_path.iterdir)) == [file.name]  # no temporary left
    await asyncio.to_thread(file.write_text, "short")
    with pytest.raises(ValueError, match="shorter than 32"):
        await keyid.resolve_secret(config, environ={})


@pytest.mark.parametrize("server", ["redis_url", "redis_cluster_url"])
async def test_a_redis_store_keeps_one_secret_for_every_replica(request: pytest.FixtureRequest, server: str) -> None:
    config = parsed(cfg(jobs={"store": request.getfixturevalue(server)}))
    secrets = await asyncio.gather(*(keyid.resolve_secret(config, environ={}) for _ in range(4)))
    assert len(set(secrets)) == 1 and len(secrets[0]) == 64


async def test_the_memory_store_takes_the_serve_run_secret_else_a_random_one() -> None:
    config = parsed(cfg())
    assert await keyid.resolve_secret(config, environ={keyid.ENV: "from-the-parent"}) == b"from-the-parent"
    assert await keyid.resolve_secret(config, environ={}) != await keyid.resolve_secret(config, environ={})


def scrape(url: str, headers: dict[str, str] | None = None) -> Reply:
    return request(url + "/metrics", "GET", headers=headers or {})


def count(url: str) -> None:
    for _ in range(2):
        reply = request(url + "/v1/messages", "POST", BODY, {"x-api-key": KEY})
        assert reply.status == 200, reply.body


def key_ids(text: str) -> set[str]:
    return set(re.findall(r'key_id="([^"]+)"', text))


async def test_two_gateways_with_one_secret_agree_and_logs_join(
    gateway_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    expected_a = keyid.key_id(SECRET_A.encode(), KEY)
    texts = []
    with caplog.at_level(logging.INFO):
        for secret in (SECRET_A, SECRET_A, SECRET_B):
            gw = gateway_factory(cfg({"key_id_secret": secret}))
            await asyncio.to_thread(count, gw.url)
            texts.append(await asyncio.to_thread(prom.settled, lambda u=gw.url: scrape(u).body.decode()))
    assert key_ids(texts[0]) == key_ids(texts[1]) == {expected_a}
    assert key_ids(texts[2]) == {keyid.key_id(SECRET_B.encode(), KEY)}
    deadline = time.monotonic() + 5
    while len(access_lines(caplog)) < 6 and time.monotonic() < deadline:  # noqa: ASYNC110 - written after the last byte
        await asyncio.sleep(0.01)
    logged = [r.fields["key_id"] for r in access_lines(caplog)]  # type: ignore[attr-defined]
    assert logged.count(expected_a) == 4 and logged.count(keyid.key_id(SECRET_B.encode(), KEY)) == 2
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert all(KEY not in text for text in texts) and KEY not in everything


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "specgate.access" and r.fields["route"] != "/metrics"]  # type: ignore[attr-defined]


async def test_metrics_token_is_required_when_configured(gateway_factory: Any) -> None:
    for auth in ({"api_keys": [KEY]}, {}):  # with keys, and on an open loopback server
        data = cfg(server={"metrics_token": TOKEN})
        data["auth"] = auth
        gw = gateway_factory(data)
        for headers in (
            {},
            {"authorization": "Bearer wrong-token"},
            {"authorization": f"Bearer {TOKEN}x"},
            {"x-api-key": KEY},
        ):
            reply = await asyncio.to_thread(scrape, gw.url, headers)
            assert reply.status == 401, (auth, headers, reply.body)
            body = reply.json()
            assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
            assert body["request_id"].startswith("req_") and TOKEN not in reply.body.decode()
        ok = await asyncio.to_thread(scrape, gw.url, {"authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200 and b"specgate_requests_total" in ok.body
        assert TOKEN not in ok.body.decode()
        assert (await asyncio.to_thread(request, gw.url + "/healthz", "GET")).status == 200


async def test_metrics_stay_open_without_a_token(gateway_factory: Any) -> None:
    gw = gateway_factory(cfg())
    assert (await asyncio.to_thread(scrape, gw.url)).status == 200
