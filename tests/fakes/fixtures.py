"""Pytest fixtures for the fake upstreams. Import them into a conftest:

    from tests.fakes.fixtures import (  # noqa: F401
        anthropic_upstream, anthropic_upstream_factory, openai_upstream, openai_upstream_factory,
    )

The ``*_factory`` fixtures start any number of servers and stop them all after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import FakeServer

S = TypeVar("S", bound=FakeServer)


async def _servers(cls: type[S]) -> AsyncIterator[Callable[[], Awaitable[S]]]:
    started: list[S] = []

    async def start() -> S:
        server = cls()
        await server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            await server.stop()


@pytest.fixture
async def anthropic_upstream_factory() -> AsyncIterator[Callable[[], Awaitable[FakeAnthropic]]]:
    """Start fake Anthropic upstreams on free loopback ports: ``server = await factory()``."""
    async for start in _servers(FakeAnthropic):
        yield start


@pytest.fixture
async def openai_upstream_factory() -> AsyncIterator[Callable[[], Awaitable[FakeOpenAI]]]:
    """Start fake OpenAI-compatible upstreams on free loopback ports: ``server = await factory()``."""
    async for start in _servers(FakeOpenAI):
        yield start


@pytest.fixture
async def anthropic_upstream(
    anthropic_upstream_factory: Callable[[], Awaitable[FakeAnthropic]],
) -> FakeAnthropic:
    return await anthropic_upstream_factory()


@pytest.fixture
async def openai_upstream(openai_upstream_factory: Callable[[], Awaitable[FakeOpenAI]]) -> FakeOpenAI:
    return await openai_upstream_factory()
