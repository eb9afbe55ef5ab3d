"""A hostile corpus against ONE live ``specgate serve`` subprocess (issue 15's acceptance).

The gateway runs with auth on (an admin key and a virtual key), ``server.metrics_token``, an
``anthropic`` provider pointing at a loopback fake Anthropic upstream (with its own secret key)
for ``claude-*`` and echo for every other model. Every case is sent as raw bytes over a fresh
loopback socket (``connection: close``, a socket timeout: a hang fails the case) and must get:
no 5xx at all (502/504 cannot occur, the fake upstream is healthy), an error body in
Anthropic's shape with a ``request_id`` for every 4xx, and no secret in the response. The last
tests check that the process is still up, and that no secret is in its log or in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.support.process import Served, serving

ADMIN_KEY = "sk-admin-" + secrets.token_hex(16)
VIRTUAL_KEY = "sk-virtual-" + secrets.token_hex(16)
METRICS_TOKEN = "metrics-" + secrets.token_hex(16)
UPSTREAM_KEY = "sk-ant-upstream-" + secrets.token_hex(16)
AUTH_SECRET = "auth-secret-" + secrets.token_hex(16)
SECRETS = (ADMIN_KEY, VIRTUAL_KEY, METRICS_TOKEN, UPSTREAM_KEY, AUTH_SECRET)
MAX_BODY = 1024 * 1024  # server.max_body_bytes: oversize bodies stay cheap to send
HEADER_TIMEOUT_S = 2.0
TIMEOUT_S = 10.0  # per exchange: longer means a hang
IDLE = 500


def fragments(secret: str) -> list[str]:
    """The secret and its random part (a leak of a cut or reformatted key is a leak too)."""
    random_part = secret.rsplit("-", 1)[1]
    return [secret, random_part, random_part[:12], random_part[-12:]]


def leaks(data: bytes | str) -> list[str]:
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return [piece for secret in SECRETS for piece in fragments(secret) if piece in text]


class Upstream:
    """The fake Anthropic upstream on its own event loop in a thread (the test itself is sync)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = asyncio.run_coroutine_threadsafe(self._create(), self.loop).result(10)

    async def _create(self) -> FakeAnthropic:
        fake = FakeAnthropic()
        await fake.start()
        return fake

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Gateway:
    served: Served
    upstream: FakeAnthropic
    replies: list[bytes]  # every raw response, checked for secrets at the end

    @property
    def port(self) -> int:
        return int(self.served.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    upstream = Upstream()
    config: dict[str, Any] = {
        "server": {
            "metrics_token": METRICS_TOKEN,
            "max_body_bytes": MAX_BODY,
            "header_timeout_s": HEADER_TIMEOUT_S,
        },
        "auth": {
            "api_keys": [ADMIN_KEY],
            "secret": AUTH_SECRET,
            "max_failures": 0,  # the brute-force guard would turn later cases into 429s
            "virtual_keys": [{"id": "team-hostile", "key": VIRTUAL_KEY}],
        },
        "providers": [
            {"name": "up", "type": "anthropic", "base_url": upstream.fake.url, "api_keys": [UPSTREAM_KEY]},
            {"name": "local", "type": "echo"},
        ],
        "models": [{"match": "claude-*", "provider": "up"}, {"match": "*", "provider": "local"}],
        "logging": {"level": "info", "log_bodies": True},
    }
    try:
        with serving(config, tmp_path_factory.mktemp("security")) as served:
            yield Gateway(served, upstream.fake, [])
    finally:
        upstream.close()


# --- raw HTTP -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    head: bytes  # the status line and header lines, raw
    headers: dict[str, str]
    body: bytes


def parse(raw: bytes, method: str) -> Answer:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete response head: {raw[:300]!r}"
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Answer(status, head, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2 :]
        return Answer(status, head, headers, body)
    length = int(headers.get("content-length", len(rest)))
    assert len(rest) >= length, f"body cut short: {len(rest)} of {length}"
    return Answer(status, head, headers, rest[:length])


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(gw: Gateway, data: bytes, method: str = "GET", *, pieces: tuple[bytes, ...] = ()) -> Answer:
    """Send ``data`` (then ``pieces``), read until the server closes; a timeout is a hang."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=TIMEOUT_S) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a 413 may close early
            sock.sendall(data)
            for piece in pieces:
                sock.sendall(piece)
        started = time.monotonic()
        raw = read_until_closed(sock)
        assert time.monotonic() - started < TIMEOUT_S
    gw.replies.append(raw)
    return parse(raw, method)


def build(
    method: str,
    target: str | bytes,
    body: bytes | None = None,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    *,
    key: str = ADMIN_KEY,
    length: int | None = None,
) -> bytes:
    """One request; a header in ``headers`` replaces the default of that name."""
    target_bytes = target.encode() if isinstance(target, str) else target
    replaced = {name.lower() for name, _ in headers}
    lines = [method.encode() + b" " + target_bytes + b" HTTP/1.1", b"host: 127.0.0.1", b"connection: close"]
    if key and b"x-api-key" not in replaced:
        lines.append(b"x-api-key: " + key.encode())
    if b"anthropic-version" not in replaced:
        lines.append(b"anthropic-version: 2023-06-01")
    if body is not None:
        if b"content-type" not in replaced:
            lines.append(b"content-type: application/json")
        lines.append(b"content-length: " + str(len(body) if length is None else length).encode())
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def message(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], **fields}


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    """A message body whose whole depth is ``depth`` (the deep part in a tool's input_schema)."""
    arrays = depth - 4  # body > tools > tool > input_schema > the arrays
    schema = "[" * arrays + "1" + "]" * arrays
    tool = '{"name":"t","input_schema":{"type":"object","x":' + schema + "}}"
    return ('{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"tools":[' + tool + "]}").encode()


def assert_sound(gw: Gateway, answer: Answer, method: str = "GET") -> dict[str, Any] | None:
    """No 5xx, an Anthropic-shaped error with a request id for a 4xx, no secret, no injected header."""
    assert answer.status < 500, (answer.status, answer.body[:500])
    assert not leaks(answer.head + answer.body), answer.head + answer.body[:500]
    assert "x-injected" not in answer.headers and "set-cookie" not in answer.headers, answer.head
    for line in answer.head.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line and b"\x00" not in line, answer.head
    if answer.status < 400 or method == "HEAD":
        return None
    body: dict[str, Any] = json.loads(answer.body)
    assert body["type"] == "error", body
    assert isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str), body
    assert isinstance(body["request_id"], str) and body["request_id"].startswith("req_"), body
    assert answer.headers.get("request-id") == body["request_id"], answer.head
    return body


# --- the corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    method: str = "POST"
    expect: tuple[int, ...] = ()  # the acceptable statuses; empty: anything but 5xx


VALID = encoded(message())
MSG = "/v1/messages"


def post(body: bytes, path: str = MSG, *extra: tuple[bytes, bytes], **kw: Any) -> bytes:
    return build("POST", path, body, extra, **kw)


BAD_JSON = {
    "truncated": VALID[:-7],
    "trailing-garbage": VALID + b"}}garbage",
    "two-documents": VALID + b" " + VALID,
    "nan": b'{"model":"m","max_tokens":NaN,"messages":[{"role":"user","content":"hi"}]}',
    "infinity": b'{"model":"m","max_tokens":8,"temperature":Infinity,"messages":[{"role":"user","content":"hi"}]}',
    "minus-infinity": b'{"model":"m","max_tokens":-Infinity,"messages":[]}',
    "single-quotes": b"{'model':'m'}",
    "comment": b'{"model":"m", /* x */ "max_tokens":8}',
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "null": b"null",
    "array": b"[]",
    "string": b'"hi"',
    "number": b"1",
    "unclosed-5000": b"[" * 5000,
    "bare-brackets-100000": b"[" * 100_000 + b"]" * 100_000,
    "objects-100000": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "raw-nul-in-string": VALID.replace(b'"hi"', b'"h\x00i"'),
    "raw-newline-in-string": VALID.replace(b'"hi"', b'"h\ni"'),
    "invalid-utf8": VALID.replace(b'"hi"', b'"\xff\xfe"'),
    "overlong-utf8": VALID.replace(b'"hi"', b'"\xc0\xaf"'),
    "utf8-surrogate-bytes": VALID.replace(b'"hi"', b'"\xed\xa0\x80"'),
    "truncated-utf8": VALID.replace(b'"hi"', b'"\xe2\x82"'),
    "bad-escape": VALID.replace(b'"hi"', b'"\\x41"'),
    "utf16": VALID.decode().encode("utf-16"),
    "deep-1025": nested(1025),
    "deep-5000": nested(5000),
}
MAYBE_JSON = {  # valid enough that a 200 is a fair answer; never a 5xx
    "duplicate-keys": VALID.replace(b'{"model":"m"', b'{"model":"claude-dup","model":"m"'),
    "bom": b"\xef\xbb\xbf" + VALID,
    "escaped-nul": VALID.replace(b'"hi"', b'"h\\u0000i"'),
    "lone-surrogate-escape": VALID.replace(b'"hi"', b'"\\ud800"'),
    "lone-surrogate-upstream": VALID.replace(b'"hi"', b'"\\udfff x"').replace(b'"m"', b'"claude-x"'),
    "escaped-nul-upstream": VALID.replace(b'"hi"', b'"a\\u0000b"').replace(b'"m"', b'"claude-x"'),
    "nul-in-model": encoded(message(model="m\x00x")),
    "deep-1024": nested(1024),
    "huge-float-temperature": VALID.replace(b'"max_tokens":8', b'"max_tokens":8,"temperature":1e400'),
    "tiny-float-temperature": VALID.replace(b'"max_tokens":8', b'"max_tokens":8,"temperature":1e-400'),
    "huge-max-tokens-float": VALID.replace(b'"max_tokens":8', b'"max_tokens":1e400'),
    "30-digit-max-tokens": VALID.replace(b'"max_tokens":8', b'"max_tokens":123456789012345678901234567890'),
    "negative-30-digit": VALID.replace(b'"max_tokens":8', b'"max_tokens":-123456789012345678901234567890'),
    "30-digit-top-k": VALID.replace(b'"max_tokens":8', b'"max_tokens":8,"top_k":123456789012345678901234567890'),
    "huge-exponent-int": VALID.replace(b'"max_tokens":8', b'"max_tokens":8e999999999'),
    "30-digit-upstream": encoded(message(model="claude-x")).replace(
        b'"max_tokens": 8', b'"max_tokens": 123456789012345678901234567890'
    ),
    "4300-digit-int": VALID.replace(b'"max_tokens":8', b'"max_tokens":' + b"9" * 4300),
    "huge-int-in-metadata": VALID.replace(
        b'"max_tokens":8', b'"max_tokens":8,"metadata":{"user_id":' + b"9" * 5000 + b"}"
    ),
}
INJECTED_MODELS = (
    "claude-x\r\nx-injected: yes",
    "claude-x\nx-injected: yes",
    "claude-x\rx-injected: yes",
    "m\r\nSet-Cookie: a=b",
    "m\r\n\r\n<html>",
    "claude-\x00nul",
    "claude-\u2028sep",
    "m" * 70_000,
)
BAD_HEADERS = {
    "invalid-utf8-version": (b"anthropic-version", b"\xff\xfe"),
    "invalid-utf8-beta": (b"anthropic-beta", b"\xc3\x28"),
    "invalid-utf8-user-agent": (b"user-agent", b"\xff" * 20),
    "invalid-utf8-x-api-key": (b"x-api-key", b"\xff\xfe"),
    "nul-in-header": (b"x-custom", b"a\x00b"),
    "nul-in-version": (b"anthropic-version", b"2023-06-01\x00"),
    "cr-in-header": (b"x-custom", b"a\rx-injected: yes"),
    "lf-in-header": (b"x-custom", b"a\nx-injected: yes"),
    "beta-percent-crlf": (b"anthropic-beta", b"a%0d%0ax-injected:%20yes"),
    "request-id-echo": (b"request-id", b"req_x\x7f"),
    "x-request-id-long": (b"x-request-id", b"r" * 8000),
    "space-in-name": (b"x bad", b"1"),
    "colon-name": (b":authority", b"x"),
    "bad-authorization": (b"authorization", b"Basic \xff\xff=="),
    "bad-bearer": (b"authorization", b"Bearer " + b"\x01" * 10),
    "content-type-nul": (b"content-type", b"application/json\x00"),
}
PATH_VALUES = (
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5c..%5cwindows",
    "%252e%252e%252f",
    "%00",
    "a%00b",
    "%ff%fe",
    "%c0%af",
    "%e2%80%ae",
    "%0d%0ax-injected:%20yes",
    "%20",
    "a;b=c",
    "x" * 10_000,
    "%41" * 3_000,
)
PATH_TEMPLATES = (
    ("GET", "/v1/messages/batches/{}"),
    ("DELETE", "/v1/messages/batches/{}"),
    ("POST", "/v1/messages/batches/{}/cancel"),
    ("GET", "/v1/messages/batches/{}/results"),
    ("GET", "/v1/models/{}"),
    ("POST", "/v1/messages/{}"),
    ("GET", "/anthropic/v1/models/{}"),
    ("GET", "/api/anthropic/v1/messages/batches/{}/results"),
)
RAW_TARGETS = (  # request targets the client did not normalise
    "/v1/messages/batches/../../../etc/passwd",
    "/v1/models/../../etc/passwd",
    "/v1/messages/../messages",
    "//v1/messages",
    "/v1/messages/./count_tokens",
    "/v1/models/%2e%2e",
    "http://evil.example/v1/models",
    "*",
    "/v1/models?limit=1e400",
    "/v1/models?limit=123456789012345678901234567890",
    "/v1/models?after_id=%00&before_id=%ff",
    "/v1/messages/batches?limit=-1&after_id=..%2f..",
    "/v1/messages/batches?beta=%0d%0a",
    "/v1/models?" + "a=1&" * 2000,
)
WRONG_METHODS = (
    ("GET", MSG),
    ("PUT", MSG),
    ("DELETE", MSG),
    ("PATCH", "/v1/messages/batches/msgbatch_x"),
    ("PUT", "/v1/models/m"),
    ("DELETE", "/v1/models"),
    ("POST", "/v1/models"),
    ("POST", "/healthz"),
    ("TRACE", MSG),
    ("OPTIONS", MSG),
    ("HEAD", MSG),
    ("FOO", MSG),
    ("POST", "/metrics"),
)


def corpus() -> list[Case]:
    cases: list[Case] = []
    for name, body in BAD_JSON.items():
        for path in (MSG, "/v1/messages/count_tokens"):
            cases.append(Case(f"bad-json-{name}{path}", post(body, path), expect=(400,)))
    cases.append(Case("bad-json-batch-create", post(b'{"requests":[' * 3000, "/v1/messages/batches"), expect=(400,)))
    for name, body in MAYBE_JSON.items():
        cases.append(Case(f"json-{name}", post(body)))
        counted = re.sub(rb'"max_tokens": ?[^,]+, ?', b"", body)  # count_tokens takes no max_tokens
        cases.append(Case(f"json-{name}-count-tokens", post(counted, "/v1/messages/count_tokens")))
        cases.append(Case(f"json-{name}-virtual-key", post(body, key=VIRTUAL_KEY)))
    for i, model in enumerate(INJECTED_MODELS):
        for stream in (False, True):
            cases.append(
                Case(f"model-injection-{i}-stream-{stream}", post(encoded(message(model=model, stream=stream))))
            )
    upstream_body = encoded(message(model="claude-x"))
    for name, header in BAD_HEADERS.items():
        cases.append(Case(f"header-{name}", post(VALID, MSG, header)))
        cases.append(Case(f"header-{name}-upstream", post(upstream_body, MSG, header)))
    for raw_key in (b"\xff\xfe", b"\xc3\x28" * 10, ADMIN_KEY.encode() + b"\xff", b"Bearer x"):
        for scheme in (b"x-api-key", b"authorization", b"x-bf-vk"):
            label = f"only-key-{scheme.decode()}-{raw_key[:6]!r}"
            cases.append(Case(label, post(VALID, MSG, (scheme, raw_key), key="")))
    for method, template in PATH_TEMPLATES:
        for value in PATH_VALUES:
            payload = VALID if method == "POST" else None
            label = value if len(value) < 40 else f"long-{len(value)}"
            cases.append(
                Case(f"path-{method}-{template}-{label}", build(method, template.format(value), payload), method)
            )
    for target in RAW_TARGETS:
        label = target if len(target) < 60 else f"{target[:30]}-long-{len(target)}"
        cases.append(Case(f"target-{label}", build("GET", target), "GET"))
    cases.append(Case("target-raw-nul", build("GET", b"/v1/models/a\x00b"), "GET", expect=(400,)))
    cases.append(Case("target-raw-high-bytes", build("GET", b"/v1/models/\xff\xfe"), "GET"))
    cases.append(Case("target-raw-space", build("GET", b"/v1/models/a b"), "GET", expect=(400,)))
    for method, path in WRONG_METHODS:
        payload = VALID if method in ("PUT", "PATCH", "POST") else None
        cases.append(Case(f"method-{method}-{path}", build(method, path, payload), method, expect=(400, 404, 405)))
    large = encoded(message(messages=[{"role": "user", "content": "a" * 300_000}]))  # head and body in one read
    cases.append(Case("large-valid-body", post(large), expect=(200,)))
    large_counted = large.replace(b'"max_tokens": 8, ', b"")
    cases.append(Case("large-valid-body-count-tokens", post(large_counted, "/v1/messages/count_tokens"), expect=(200,)))
    cases.append(Case("large-valid-body-upstream", post(large.replace(b'"m"', b'"claude-big"')), expect=(200,)))
    oversize = b'{"model":"m","x":"' + b"a" * (MAX_BODY + 10) + b'"}'
    cases += [
        Case("oversize-declared", post(b"", length=MAX_BODY * 40), expect=(413,)),
        Case("oversize-sent", post(oversize), expect=(413,)),
        Case("oversize-count-tokens", post(oversize, "/v1/messages/count_tokens"), expect=(413,)),
        Case("oversize-batch-declared", post(b"", "/v1/messages/batches", length=2**40), expect=(413,)),
        Case("content-length-negative", post(VALID, length=-1), expect=(400,)),
        Case("content-length-huge-number", post(VALID, length=10**30), expect=(400, 413)),
        Case("unauthenticated", post(VALID, key=""), expect=(401,)),
        Case("wrong-key", post(VALID, key=ADMIN_KEY[:-1] + "x"), expect=(401,)),
        Case("metrics-without-token", build("GET", "/metrics"), "GET", expect=(401,)),
        Case(
            "metrics-admin-key-is-not-the-token",
            build("GET", "/metrics", headers=((b"authorization", b"Bearer " + ADMIN_KEY.encode()),)),
            "GET",
            expect=(401,),
        ),
    ]
    return cases


CORPUS = corpus()


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_hostile_request(gateway: Gateway, case: Case) -> None:
    answer = exchange(gateway, case.data, case.method)
    if os.environ.get("SECURITY_CORPUS_TRACE"):  # what each case got: -s SECURITY_CORPUS_TRACE=1
        print(f"\n{case.name[:80]}: {answer.status} {answer.body[:160]!r}")
    assert_sound(gateway, answer, case.method)
    if case.expect:
        assert answer.status in case.expect, (answer.status, answer.body[:300])


@pytest.mark.parametrize("model", INJECTED_MODELS[:3])
def test_a_model_name_with_crlf_is_not_written_into_a_header(gateway: Gateway, model: str) -> None:
    answer = exchange(gateway, post(encoded(message(model=model))))
    assert_sound(gateway, answer)
    assert answer.status == 200, answer.body
    assert answer.headers["x-specgate-upstream-model"].startswith("claude-x%0")  # percent-encoded, one header
    assert json.loads(answer.body)["model"] == model  # the body keeps the client's name as sent


def test_the_anthropic_route_is_served_with_the_upstream_key(gateway: Gateway) -> None:
    answer = exchange(gateway, post(encoded(message(model="claude-x"))))
    assert answer.status == 200, answer.body
    assert_sound(gateway, answer)
    assert answer.headers["x-specgate-provider"] == "up"
    seen = [r.headers.get("x-api-key") for r in gateway.upstream.requests]
    assert seen and set(seen) == {UPSTREAM_KEY}  # the gateway's key upstream, never the client's


def test_a_body_that_stops_short_of_its_length(gateway: Gateway) -> None:
    """The client half-closes with the body incomplete: an answer or a close, within the timeout."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(post(VALID, length=len(VALID) + 100))
        sock.shutdown(socket.SHUT_WR)
        raw = read_until_closed(sock)
    gateway.replies.append(raw)
    if raw:
        assert_sound(gateway, parse(raw, "POST"))


def test_pipelined_hostile_requests_on_one_connection(gateway: Gateway) -> None:
    keep = (
        build("POST", MSG, VALID).replace(b"connection: close", b"connection: keep-alive")
        + build("POST", MSG, b"{bad").replace(b"connection: close", b"connection: keep-alive")
        + build("GET", "/v1/models/..%2f..%2fetc%2fpasswd")
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(keep)
        raw = read_until_closed(sock)
    gateway.replies.append(raw)
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
    assert statuses[:2] == [200, 400] and len(statuses) == 3 and statuses[2] < 500, raw[:500]


def test_a_slowloris_handful_is_cut_while_others_are_served(gateway: Gateway) -> None:
    slow = [socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT_S) for _ in range(8)]
    try:
        for sock in slow:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT_S + 0.5:
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x-dribble: 1\r\n")
            served_at = time.monotonic()
            answer = exchange(gateway, post(VALID))
            assert answer.status == 200 and time.monotonic() - served_at < 1.0
            time.sleep(0.3)
        for sock in slow:
            raw = read_until_closed(sock)
            gateway.replies.append(raw)
            answer = parse(raw, "POST")
            assert answer.status == 408, raw[:300]
            assert_sound(gateway, answer)
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 5
    finally:
        for sock in slow:
            sock.close()


def test_500_idle_keep_alive_connections(gateway: Gateway) -> None:
    started = time.monotonic()
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE):
            sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT_S)
            idle.append(sock)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        for sock in idle:  # each got its answer and stays open (keep-alive), now idle
            raw = b""
            while b"\r\n\r\n" not in raw or not raw.endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, "an idle keep-alive connection was closed before its answer"
                raw += chunk
            assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
        time.sleep(1.0)
        served_at = time.monotonic()
        answer = exchange(gateway, post(VALID))
        assert answer.status == 200 and time.monotonic() - served_at < 1.0
    finally:
        for sock in idle:
            sock.close()
    assert time.monotonic() - started < 30
    time.sleep(0.3)
    assert exchange(gateway, build("GET", "/healthz"), "GET").status == 200


def test_a_hostile_batch_runs_and_its_results_are_sound(gateway: Gateway) -> None:
    """Hostile content through the batch store and runner: NUL, CR/LF, deep values, both providers."""
    params = [
        message(model="m\r\nx-injected: yes", messages=[{"role": "user", "content": "a\x00b\r\n"}]),
        message(model="claude-x", messages=[{"role": "user", "content": "\u2028\x00"}]),
    ]
    requests = [{"custom_id": f"id-{i}", "params": p} for i, p in enumerate(params)]
    deep = b',{"custom_id":"id-2","params":' + nested(1021) + b"}]}"  # 1024 levels in all
    created = exchange(gateway, post(encoded({"requests": requests})[:-2] + deep, "/v1/messages/batches"))
    assert created.status == 200, created.body
    batch = json.loads(created.body)["id"]
    deadline = time.monotonic() + 20
    while json.loads(exchange(gateway, build("GET", f"/v1/messages/batches/{batch}")).body)["processing_status"] != (
        "ended"
    ):
        assert time.monotonic() < deadline, "the batch did not end"
        time.sleep(0.2)
    results = exchange(gateway, build("GET", f"/v1/messages/batches/{batch}/results"))
    assert_sound(gateway, results)
    lines = [json.loads(line) for line in results.body.splitlines() if line.strip()]
    assert sorted(r["custom_id"] for r in lines) == ["id-0", "id-1", "id-2"]
    assert all(r["result"]["type"] == "succeeded" for r in lines), lines
    for path in (f"/v1/messages/batches/{batch}/cancel", f"/v1/messages/batches/{batch}"):
        assert_sound(gateway, exchange(gateway, build("POST" if path.endswith("cancel") else "DELETE", path, b"")))


def test_the_process_is_up_and_nothing_leaked(gateway: Gateway) -> None:
    """Runs last: /healthz answers, and no secret in any answer, in the log or in /metrics."""
    assert gateway.served.proc.poll() is None
    assert exchange(gateway, build("GET", "/healthz", key=""), "GET").status == 200
    metrics = exchange(
        gateway, build("GET", "/metrics", headers=((b"authorization", b"Bearer " + METRICS_TOKEN.encode()),)), "GET"
    )
    assert metrics.status == 200 and b"specgate_requests_total" in metrics.body
    assert not leaks(metrics.body)
    assert b'status="5' not in metrics.body, [ln for ln in metrics.body.split(b"\n") if b'status="5' in ln]
    assert len(gateway.replies) > len(CORPUS)
    for raw in gateway.replies:
        assert not leaks(raw), raw[:500]
    time.sleep(0.3)  # the last access lines are written
    log = gateway.served.log.read_text(errors="replace")
    assert not leaks(log), [line for line in log.splitlines() if leaks(line)][:5]
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 3000]
