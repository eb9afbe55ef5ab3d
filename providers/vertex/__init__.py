"""Claude on Google Cloud Vertex AI (``type: vertex``): ``rawPredict`` and ``streamRawPredict``
for a project and region, with OAuth bearer tokens from Application Default Credentials or a
service-account file via google-auth.

``translate`` holds the pure parts (URLs, body, error shapes), ``credentials`` google-auth and
its refresh, ``adapter`` the HTTP. google-auth is imported only when a Vertex provider is built.
"""

from __future__ import annotations

from providers.base import Provider
from specgate.core.config import ProviderConfig


def create(config: ProviderConfig) -> Provider:
    from providers.vertex.adapter import VertexProvider

    return VertexProvider(config)
