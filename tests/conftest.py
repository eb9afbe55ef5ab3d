from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.fixtures import (  # noqa: F401 - pytest fixtures
    anthropic_upstream,
    anthropic_upstream_factory,
    openai_upstream,
    openai_upstream_factory,
)
from tests.fakes.redis_cluster import redis_cluster, redis_cluster_url  # noqa: F401 - pytest fixtures
from tests.fakes.redis_server import redis_server_factory, redis_url  # noqa: F401 - pytest fixtures
from tests.support.gateway import gateways


@pytest.fixture
def gateway_factory() -> Iterator[Any]:
    """Start real gateways (uvicorn on a free loopback port); all are stopped after the test."""
    yield from gateways()


@pytest.fixture
def gateway(gateway_factory: Any) -> Any:
    """A gateway with the embedded default config (every model -> echo, no auth)."""
    return gateway_factory()
