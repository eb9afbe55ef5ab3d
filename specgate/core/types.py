"""The JSON shapes every floor shares: a JSON object, and one Anthropic stream event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(slots=True)
class SSEEvent:
    """One Anthropic stream event: ``event: <event>`` / ``data: <json of data>``.

    ``raw`` may carry the already-encoded frame (``event: ...\\ndata: ...\\n\\n``) so a relay
    does not re-encode what it did not change.

    Treated as immutable (a changed event is a new one), but not ``frozen``: a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, which made building
    one cost ~5,000 instructions (callgrind), ~1,300 without it: a relayed stream builds one an event.
    """

    event: str
    data: Json
    raw: bytes | None = None
