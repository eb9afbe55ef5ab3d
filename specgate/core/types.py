"""The JSON shapes every floor shares: a JSON object, and one Anthropic stream event."""

from __future__ import annotations

from typing import Any

from specgate.core.records import record

Json = dict[str, Any]


@record
class SSEEvent:
    """One Anthropic stream event: ``event: <event>`` / ``data: <json of data>``.

    ``raw`` may carry the already-encoded frame (``event: ...\\ndata: ...\\n\\n``) so a relay
    does not re-encode what it did not change. Events that came in one upstream read are written
    in one piece (``providers.relay.one_write``): the last carries all their frames, and the
    others an empty ``raw``, so whatever writes frames must not stop between them.

    A ``@record``: read-only to the type checker, not ``frozen`` at run time (a relayed stream
    builds one an event; ``specgate.core.records``).
    """

    event: str
    data: Json
    raw: bytes | None = None
