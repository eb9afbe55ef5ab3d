"""Streaming behaviour that needs a live socket: flushing and client disconnect."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit


def open_stream(url: str, body: dict[str, Any]) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    data = json.dumps(body).encode()
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def test_events_are_flushed_and_disconnect_stops_generation(gateway_factory: Any) -> None:
    gw = gateway_factory({"providers": [{"name": "echo", "type": "echo", "options": {"token_delay_ms": 50}}]})
    echo = gw.gateway.providers["echo"]
    words = " ".join(f"w{i}" for i in range(400))  # 400 deltas x 50 ms = 20 s if never stopped
    sock = open_stream(
        gw.url,
        {"model": "m", "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": words}]},
    )
    received = b""
    started = time.monotonic()
    while received.count(b"event: content_block_delta") < 3:
        chunk = sock.recv(65536)
        assert chunk, "stream ended early"
        received += chunk
    assert time.monotonic() - started < 5, "first deltas must arrive as produced, not at the end"
    assert echo.open_streams == 1
    sock.close()
    deadline = time.monotonic() + 5
    while echo.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert echo.open_streams == 0, "generation kept running after the client left"
