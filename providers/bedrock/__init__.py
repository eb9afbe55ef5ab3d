"""Claude on Amazon Bedrock (``type: bedrock``): ``InvokeModel`` and
``InvokeModelWithResponseStream``, SigV4-signed with credentials from the standard AWS chain.

``translate`` holds the pure parts (body, URL, error shapes, event-stream messages), ``signing``
the botocore credential chain and SigV4, ``adapter`` the HTTP. botocore is imported only when a
Bedrock provider is built, so a gateway without one never loads it.
"""

from __future__ import annotations

from providers.base import Provider
from specgate.core.config import ProviderConfig


def create(config: ProviderConfig) -> Provider:
    from providers.bedrock.adapter import BedrockProvider

    return BedrockProvider(config)
