"""A Redis Cluster client whose callers beyond its connections wait instead of failing.

redis-py's asyncio ``RedisCluster`` keeps a pool per node that raises ``MaxConnectionsError``
when a burst asks for more connections than it may open.  Here every command and every pipeline
first takes a slot of one semaphore of ``max_connections``: each holds at most one connection per
node while it runs, so no node's pool is ever asked for more, and a burst queues.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster


class _GatedPipeline(ClusterPipeline):
    gate: asyncio.Semaphore

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self.gate:
            return await super().execute(*args, **kwargs)


class BoundedRedisCluster(RedisCluster):
    gate: asyncio.Semaphore

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.gate:
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            raise ValueError("shard_hint is not supported on a Redis Cluster")
        pipe = _GatedPipeline(self, transaction)  # type: ignore[abstract]  # as RedisCluster.pipeline does
        pipe.gate = self.gate
        return pipe


def bounded_cluster(url: str, nodes: list[tuple[str, int]], *, max_connections: int, **kwargs: Any) -> RedisCluster:
    """A lazily connecting client of the cluster that ``nodes`` belong to (``url``: the first, with
    its options)."""
    startup = [ClusterNode(host, port) for host, port in nodes]
    client = BoundedRedisCluster.from_url(url, startup_nodes=startup, max_connections=max_connections, **kwargs)
    assert isinstance(client, BoundedRedisCluster)
    client.gate = asyncio.Semaphore(max_connections)
    return client
