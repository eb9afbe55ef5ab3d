"""Redis URLs: one server or a Redis Cluster (``redis+cluster://``), and what the config accepts."""

from __future__ import annotations

import pytest

from specgate.core.config import ConfigError, parse_config
from specgate.core.redis_url import cluster_nodes, is_cluster_url, is_redis_url

ECHO = {"providers": [{"name": "echo", "type": "echo"}]}


def test_cluster_urls_name_their_nodes() -> None:
    assert cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001") == (
        "redis://10.0.0.1:7000",
        [("10.0.0.1", 7000), ("10.0.0.2", 7001)],
    )
    first, nodes = cluster_nodes("rediss+cluster://user:pw@h1,h2:7000/0?socket_timeout=3")
    assert first == "rediss://user:pw@h1:6379?socket_timeout=3" and nodes == [("h1", 6379), ("h2", 7000)]
    assert is_cluster_url("redis+cluster://h:1") and is_redis_url("redis+cluster://h:1")
    assert is_redis_url("unix:///tmp/r.sock") and not is_cluster_url("redis://h:1/0")


@pytest.mark.parametrize(
    ("url", "message"),
    [("redis+cluster://h:7000/2", "has no databases"), ("redis+cluster://:7000", "needs a host")],
)
def test_bad_cluster_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cluster_nodes(url)
    for key in ("jobs", "limits"):
        with pytest.raises(ConfigError, match=f"{key}.store: .*{message}"):
            parse_config({key: {"store": url}, **ECHO}, source="gw.yaml", known_provider_types=("echo",), environ={})


def test_the_config_takes_cluster_urls_for_both_stores() -> None:
    config = parse_config(
        {"jobs": {"store": "redis+cluster://h1:7000,h2:7000"}, "limits": {"store": "rediss+cluster://h:7000"}, **ECHO},
        source="gw.yaml",
        known_provider_types=("echo",),
        environ={},
    )
    assert config.jobs.store == "redis+cluster://h1:7000,h2:7000" and config.limits.store == "rediss+cluster://h:7000"
