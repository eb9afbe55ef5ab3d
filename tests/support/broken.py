"""A deliberately broken handler: answers 200 with a body that breaks the Message schema."""

from __future__ import annotations

from starlette.responses import Response


async def create_message() -> Response:
    return Response(
        b'{"id": "msg_1", "type": "message", "role": "robot", "content": "nope"}',
        media_type="application/json",
    )


async def create_message_bad_event() -> Response:
    """A stream whose message_start event has no `message`: the event is fine, its payload is not."""
    return Response(
        b'event: message_start\ndata: {"type": "message_start"}\n\n'
        b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
        media_type="text/event-stream",
    )


async def platform_create_message_bad_chunk() -> Response:
    """A chunk stream whose chunk has no `choices`, then the (valid) [DONE] line."""
    return Response(
        b'data: {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m"}\n\ndata: [DONE]\n\n',
        media_type="text/event-stream",
    )
