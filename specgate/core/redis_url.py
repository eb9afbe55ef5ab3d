"""Redis URLs: one standalone server, or a Redis Cluster.

``redis://host:port/db``, ``rediss://…`` and ``unix://…`` name one server (redis-py's URL
options apply). ``redis+cluster://host:port`` (TLS: ``rediss+cluster://``) names a Redis Cluster
by one or more of its nodes (``redis+cluster://h1:7000,h2:7000``); the client discovers the rest
and follows the slots (redis-py's asyncio ``RedisCluster``). A cluster has no databases: a path
other than ``/`` or ``/0`` is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SINGLE_SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
SCHEMES = SINGLE_SCHEMES + CLUSTER_SCHEMES


def is_redis_url(url: str) -> bool:
    return url.startswith(SCHEMES)


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def cluster_nodes(url: str) -> tuple[str, list[tuple[str, int]]]:
    """The plain URL of the first node (for its options) and every ``(host, port)`` named.
    Raises ``ValueError`` for a malformed cluster URL."""
    scheme, rest = url.split("+cluster://", 1)
    head, sep, tail = rest.partition("/")
    if sep and tail not in ("", "0") and not tail.startswith("?") and not tail.startswith("0?"):
        raise ValueError(f"{url!r}: a Redis Cluster has no databases (drop the /{tail.split('?')[0]})")
    userinfo, _, hosts = head.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        parts = urlsplit(f"//{item}")
        if not parts.hostname:
            raise ValueError(f"{url!r}: a cluster node needs a host (host:port, comma-separated)")
        nodes.append((parts.hostname, parts.port or 6379))
    auth = f"{userinfo}@" if userinfo else ""
    query = tail[tail.index("?") :] if "?" in tail else ""
    host, port = nodes[0]
    return f"{scheme}://{auth}{host}:{port}{query}", nodes


def connect(url: str, *, max_connections: int, **kwargs: Any) -> Any:
    """A lazily connecting asyncio client for ``url``: ``redis.asyncio.Redis`` on a blocking pool
    (callers beyond ``max_connections`` wait up to ``kwargs['timeout']`` s for a free connection),
    or a ``redis.asyncio.RedisCluster`` for a cluster URL on which at most ``max_connections``
    commands and pipelines run at once (the others wait: the cluster client's own pools fail a
    burst with "Too many connections" instead), so at most that many connections per node."""
    import redis.asyncio as aioredis  # only a process configured with Redis imports redis

    if is_cluster_url(url):
        from specgate.core.redis_cluster import bounded_cluster

        first, nodes = cluster_nodes(url)
        kwargs.pop("timeout", None)
        return bounded_cluster(first, nodes, max_connections=max_connections, **kwargs)
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, **kwargs)
    return aioredis.Redis.from_pool(pool)
