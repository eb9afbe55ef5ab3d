"""A deliberately broken handler: answers 200 with a body that breaks the Message schema."""

from __future__ import annotations

from starlette.responses import Response


async def create_message() -> Response:
    return Response(
        b'{"id": "msg_1", "type": "message", "role": "robot", "content": "nope"}',
        media_type="application/json",
    )
