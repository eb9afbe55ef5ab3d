from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients.install import NodeClients, locate
from tests.support.gateway import gateways


@pytest.fixture(scope="session")
def node_clients() -> NodeClients:
    """The pinned Claude Code and TypeScript SDK; a failure (not a skip) when not installed."""
    clients = locate()
    if isinstance(clients, str):
        pytest.fail(clients, pytrace=False)
    return clients


@pytest.fixture(scope="module")
def module_gateway_factory() -> Iterator[Any]:
    """Like ``gateway_factory``, but the gateways live for the whole module (client start-up is
    the slow part; one gateway serves every run of a module)."""
    yield from gateways()
