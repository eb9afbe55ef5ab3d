from __future__ import annotations

from tests.fakes.redis_server import redis_server_factory, redis_url

__all__ = ["redis_server_factory", "redis_url"]
