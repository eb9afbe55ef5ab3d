"""The JSON shapes every floor shares: a JSON object, and one Anthropic stream event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One Anthropic stream event: ``event: <event>`` / ``data: <json of data>``.

    ``raw`` may carry the already-encoded frame (``event: ...\\ndata: ...\\n\\n``) so a relay
    does not re-encode what it did not change.
    """

    event: str
    data: Json
    raw: bytes | None = None
