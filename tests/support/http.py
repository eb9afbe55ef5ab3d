"""Raw HTTP for tests that need control over bytes and headers (stdlib http.client)."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "POST",
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    repeated: list[tuple[str, str]] | None = None,  # sent after ``headers``, names may repeat
    chunked: bool = False,
    timeout: float = 30,
) -> Reply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    data: bytes | None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body
    hdrs = {"content-type": "application/json", **(headers or {})}
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if chunked or repeated:
        conn.putrequest(method, path)
        for k, v in [*hdrs.items(), *(repeated or [])]:
            conn.putheader(k, v)
    if chunked:
        conn.putheader("transfer-encoding", "chunked")
        conn.endheaders()
        payload = data or b""
        for i in range(0, len(payload), 7):
            piece = payload[i : i + 7]
            conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        conn.send(b"0\r\n\r\n")
    elif repeated:
        conn.putheader("content-length", str(len(data or b"")))
        conn.endheaders(data)
    else:
        conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    out = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    conn.close()
    return out


def open_stream(port: int, words: str, key: str) -> socket.socket:
    """A raw socket with a streaming ``POST /v1/messages`` sent (the echo provider answers each
    of ``words`` with a delta); the caller reads the chunked event stream off it."""
    data = json.dumps(
        {"model": "m", "max_tokens": 1000, "stream": True, "messages": [{"role": "user", "content": words}]}
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        + f"x-api-key: {key}\r\ncontent-length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock
