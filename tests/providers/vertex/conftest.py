"""Fixtures for the Vertex AI tests: a fake Vertex (and its OAuth token endpoint) on loopback and
a service-account file made for it with a fresh RSA key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.vertex_upstream import FakeVertex


@pytest.fixture
async def vertex() -> AsyncIterator[FakeVertex]:
    server = FakeVertex()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def service_account(vertex: FakeVertex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file; also what Application Default Credentials find (GOOGLE_APPLICATION_CREDENTIALS)."""
    path = vertex.service_account(tmp_path / "service-account.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    return path
