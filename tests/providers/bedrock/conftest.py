"""Fixtures for the Bedrock tests: a fake Bedrock on loopback and an AWS environment of the
test's own (no real ~/.aws, no instance metadata), with static keys in the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.bedrock_upstream import FakeBedrock

ACCESS_KEY = "AKIDFAKEBEDROCK01"
SECRET_KEY = "fake-secret-key/for+signing"
SESSION_TOKEN = "fake-session-token"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The standard chain finds ``ACCESS_KEY`` in the environment; config files live in tmp_path."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    return tmp_path


@pytest.fixture
async def bedrock() -> AsyncIterator[FakeBedrock]:
    server = FakeBedrock()
    server.allow(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
    await server.start()
    yield server
    await server.stop()
