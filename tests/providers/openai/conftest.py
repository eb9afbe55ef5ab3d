"""Fixtures for the OpenAI adapter tests: the fake Azure OpenAI resource."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.azure_openai_upstream import FakeAzureOpenAI


@pytest.fixture
async def azure() -> AsyncIterator[FakeAzureOpenAI]:
    server = FakeAzureOpenAI()
    await server.start()
    yield server
    await server.stop()
