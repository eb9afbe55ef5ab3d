"""specgate.wire.serving.HeadHeld: what a response writes in its first event-loop pass (head and
body) goes out in one writelines call at the end of that pass, never later; then the response
writes to the transport itself; order is kept, and closing flushes first. Driven with a
recording transport (the serving behaviour itself is covered end to end by test_serving.py and
tests/security/)."""

from __future__ import annotations

import asyncio
from typing import Any

from specgate.wire.serving import HeadHeld


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, data: Any) -> None:
        self.calls.append(("writelines", list(data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


class Cycle:
    """uvicorn's request-response cycle, as far as HeadHeld touches it: its ``transport``."""

    transport: Any = None


def view() -> tuple[Recorder, HeadHeld, Cycle]:
    recorder, cycle = Recorder(), Cycle()
    held = HeadHeld(recorder, asyncio.get_running_loop(), cycle)  # type: ignore[arg-type]
    cycle.transport = held
    return recorder, held, cycle


async def test_the_first_pass_leaves_in_one_call_at_its_end_then_writes_go_straight_out() -> None:
    recorder, transport, cycle = view()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"event: message_start\n\n")
    assert recorder.calls == []  # held until the end of this pass
    await asyncio.sleep(0)
    assert recorder.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"event: message_start\n\n"])]
    assert cycle.transport is recorder  # the rest of the response writes to the transport itself
    cycle.transport.write(b"event: ping\n\n")
    assert recorder.calls[-1] == ("write", b"event: ping\n\n") and len(recorder.calls) == 2


async def test_close_flushes_first_and_other_attributes_pass_through() -> None:
    recorder, transport, _ = view()
    transport.write(b"HEAD")
    transport.close()
    assert recorder.calls == [("write", b"HEAD"), ("close", None)]
    assert transport.is_closing() and transport.get_extra_info("peername") == ("127.0.0.1", 1)
    await asyncio.sleep(0)
    assert len(recorder.calls) == 2  # nothing written twice, nothing after close


async def test_a_complete_response_is_sent_before_the_app_goes_on() -> None:
    """The protocol flushes the view when the last body message is sent: what the app does after
    its response (the middleware's observation and access record) runs with the bytes already out,
    not in front of them."""
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from specgate.wire.serving import GuardedHttpToolsProtocol

    seen_after_send: list[list[tuple[str, Any]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        seen_after_send.append(list(recorder.calls))  # no await since the send: still this pass

    config = Config(app=app, lifespan="off", log_level="critical", http="httptools")
    config.load()
    recorder = Recorder()
    protocol = GuardedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    protocol.connection_made(recorder)  # type: ignore[arg-type]
    protocol.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(seen_after_send) == 1
    [(kind, parts)] = seen_after_send[0]
    assert kind == "writelines" and parts[-1] == b"ok" and parts[0].startswith(b"HTTP/1.1 200")
    assert recorder.calls == seen_after_send[0]  # written once, nothing held for later
    protocol.connection_lost(None)
