"""Lua scripts run with ``EVALSHA`` on a standalone Redis or a Redis Cluster.

redis-py's ``register_script`` answers ``NOSCRIPT`` by loading the script, once per call that
met it: a burst of first calls sends that many ``SCRIPT LOAD``s, which the asyncio cluster client
does not survive (its connections to every primary are opened concurrently and fail).  Here a
script is loaded once per client, under a lock, and loaded again only when a server lost it
(it restarted, or a node joined the cluster).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError


class Scripts:
    """The scripts run on one client (``redis.asyncio.Redis`` or ``RedisCluster``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = asyncio.Lock()
        self._loaded: set[str] = set()

    async def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = hashlib.sha1(script.encode()).hexdigest()
        if sha not in self._loaded:
            await self._load(sha, script)
        try:
            return await self._client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # the server restarted, or a node joined: load it again
            self._loaded.discard(sha)
            await self._load(sha, script)
            return await self._client.evalsha(sha, len(keys), *keys, *args)

    async def _load(self, sha: str, script: str) -> None:
        async with self._lock:
            if sha not in self._loaded:
                await self._client.script_load(script)  # on a cluster: every primary
                self._loaded.add(sha)
