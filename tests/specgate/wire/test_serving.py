"""specgate.wire.serving against a live ``specgate serve``: slow heads, too many connections, oversize heads."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import request as http_request
from tests.support.process import Served, serving

KEY = "sk-serving-key-51ab"
BODY = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
SLOW = 100  # slowloris sockets
TIMEOUT_S = 2.0


def config(**server: Any) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY]},
        "server": server,
        "providers": [{"name": "echo", "type": "echo"}],
        "logging": {"level": "warning"},
    }


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """``specgate serve`` with the ``server`` settings the test is parametrized with."""
    with serving(config(**request.param), tmp_path) as running:
        yield running


def connect(served: Served) -> socket.socket:
    port = int(served.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_all(sock: socket.socket, timeout: float = 5) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def error_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def assert_anthropic_error(raw: bytes, status: int, error_type: str) -> dict[str, Any]:
    code, headers, body = error_of(raw)
    assert code == status, raw[:300]
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == headers["request-id"] and body["request_id"].startswith("req_")
    return body


def normal_requests(served: Served, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        reply = http_request(served.url + "/v1/messages", body=BODY, headers={"x-api-key": KEY}, timeout=5)
        latencies.append(time.monotonic() - started)
        assert reply.status == 200, reply.body
        time.sleep(0.05)


@pytest.mark.parametrize("served", [{"header_timeout_s": TIMEOUT_S}], indirect=True)
def test_slowloris_heads_are_cut_at_the_deadline_while_others_are_served(served: Served) -> None:
    slow = [connect(served) for _ in range(SLOW)]
    opened = time.monotonic()
    for sock in slow:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        sock.setblocking(False)
    stop, latencies = threading.Event(), list[float]()
    worker = threading.Thread(target=normal_requests, args=(served, stop, latencies))
    worker.start()
    received: dict[socket.socket, bytes] = {sock: b"" for sock in slow}
    closed_at: dict[socket.socket, float] = {}
    selector = selectors.DefaultSelector()
    for sock in slow:
        selector.register(sock, selectors.EVENT_READ)
    try:
        next_line = opened + 0.4
        while len(closed_at) < SLOW and time.monotonic() < opened + TIMEOUT_S + 5:
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[sock] += chunk
                else:
                    closed_at[sock] = time.monotonic() - opened
                    selector.unregister(sock)
            if time.monotonic() >= next_line:  # one more header line per socket, every 0.4 s
                next_line += 0.4
                for sock in slow:
                    if sock not in closed_at:
                        with contextlib.suppress(OSError):
                            sock.send(b"x-dribble: 1\r\n")
    finally:
        stop.set()
        worker.join(timeout=10)
        for sock in slow:
            sock.close()
    assert len(closed_at) == SLOW, f"{SLOW - len(closed_at)} slow sockets still open"
    assert min(closed_at.values()) >= TIMEOUT_S - 0.1  # none before the deadline
    assert max(closed_at.values()) <= TIMEOUT_S + 3
    for raw in received.values():
        body = assert_anthropic_error(raw, 408, "timeout_error")
        assert "2 s" in body["error"]["message"]
    assert latencies and max(latencies) < 1.0, sorted(latencies)[-5:]
    assert served.proc.poll() is None


@pytest.mark.parametrize("served", [{"max_connections": 20, "header_timeout_s": 30}], indirect=True)
def test_connections_past_the_bound_are_refused_with_529(served: Served) -> None:
    time.sleep(0.3)  # the readiness probe's connection is gone
    held = [connect(served) for _ in range(20)]
    try:
        time.sleep(0.3)
        extra = connect(served)
        assert_anthropic_error(read_all(extra), 529, "overloaded_error")
        extra.close()
        for sock in held[:5]:
            sock.close()
        time.sleep(0.3)
        reply = http_request(served.url + "/v1/messages", body=BODY, headers={"x-api-key": KEY}, timeout=5)
        assert reply.status == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_an_oversize_head_gets_431_and_a_normal_keep_alive_is_untouched(served: Served) -> None:
    sock = connect(served)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert_anthropic_error(read_all(sock), 431, "invalid_request_error")
    sock.close()
    with connect(served) as sock:  # two requests on one connection, the second after a pause
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(1)


def read_response(sock: socket.socket) -> bytes:
    """One response with a content-length from a keep-alive connection."""
    sock.settimeout(5)
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_the_bounds_are_validated() -> None:
    from providers.registry import provider_types
    from specgate.core.config import ConfigError, parse_config

    def parse(**server: Any) -> Any:
        return parse_config(config(**server), source="t.yaml", known_provider_types=tuple(provider_types())).server

    assert (parse().header_timeout_s, parse().max_connections) == (10.0, 1000)
    assert (parse(header_timeout_s="2.5").header_timeout_s, parse(max_connections=7).max_connections) == (2.5, 7)
    with pytest.raises(ConfigError, match=r"server\.header_timeout_s: must be positive"):
        parse(header_timeout_s=0)
    with pytest.raises(ConfigError, match=r"server\.max_connections: must be at least 1"):
        parse(max_connections=0)


MALFORMED = {
    "content-length not a number": b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
    "two content-lengths": b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
    "content-length and chunked": (
        b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n"
        b"\r\n2\r\n{}\r\n0\r\n\r\n"
    ),
    "control character in a header": b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: b\x01c\r\n\r\n",
    "NUL in a header": b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: b\x00c\r\n\r\n",
    "space in a header name": b"GET /healthz HTTP/1.1\r\nhost: x\r\nx a: b\r\n\r\n",
    "bad chunk size": b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    "TLS on the plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
    "garbage request line": b"HELLO\r\n\r\n",
}


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_what_the_parser_refuses_gets_an_anthropic_400(served: Served) -> None:
    for name, raw in MALFORMED.items():
        sock = connect(served)
        sock.sendall(raw)
        reply = read_all(sock)
        sock.close()
        assert reply, name
        body = assert_anthropic_error(reply, 400, "invalid_request_error")
        assert body["error"]["message"].startswith("Malformed HTTP request"), name
    assert http_request(served.url + "/healthz", "GET").status == 200
    log = served.log.read_text()
    assert "Traceback" not in log


@pytest.mark.parametrize("served", [{}], indirect=True)
def test_a_body_read_with_its_head_does_not_count_as_head(served: Served) -> None:
    """One read often holds the head and the body's start: only the head counts toward 64 KiB."""
    body = json.dumps({**BODY, "messages": [{"role": "user", "content": "a" * 300_000}]}).encode()
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    with connect(served) as sock:
        sock.sendall(head + body)
        raw = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
