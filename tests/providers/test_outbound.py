"""What goes out with an upstream call besides the body, for every HTTP provider type: fixed
``headers``, the client headers ``forward_headers`` allows (never an auth header unless named),
and the outbound ``proxy`` (explicit URL with credentials, ``env`` with NO_PROXY, CONNECT for
https), against the loopback fakes and a real forwarding proxy (tests/fakes/proxy.py)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers import anthropic, openai
from providers.base import Provider
from specgate.core.errors import UpstreamError
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.proxy import FakeProxy
from tests.fakes.server import FakeServer
from tests.providers.support import collect, config, ctx

REQUEST: dict[str, Any] = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
CLIENT = {
    "X-Portkey-Trace-Id": "trace-1",
    "x-portkey-metadata": "{}",
    "x-other": "not listed",
    "authorization": "Bearer client-secret",
    "x-api-key": "client-secret",
    "cookie": "session=client-secret",
    "x-bf-vk": "sk-bf-client-secret",
    "content-length": "999",
}


@pytest.fixture
async def proxy() -> AsyncIterator[FakeProxy]:
    server = FakeProxy()
    await server.start()
    yield server
    await server.stop()


def make(kind: str, server: FakeServer, **overrides: Any) -> Provider:
    if kind == "anthropic":
        return anthropic.create(config(server.url, "anthropic", **overrides))
    return openai.create(config(server.url + "/v1", "openai", **overrides))


def upstream(kind: str, ant: FakeAnthropic, oai: FakeOpenAI) -> FakeServer:
    return ant if kind == "anthropic" else oai


KINDS = ["anthropic", "openai"]


@pytest.mark.parametrize("kind", KINDS)
async def test_fixed_and_forwarded_headers(
    kind: str, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    up = upstream(kind, anthropic_upstream, openai_upstream)
    made = make(
        kind,
        up,
        headers={"x-portkey-provider": "anthropic", "http-referer": "https://example.org"},
        forward_headers=("x-portkey-*", "*"),
    )
    try:
        await made.create_message(REQUEST, "fake-text", ctx(client_headers=CLIENT))
        await collect(made.stream_message({**REQUEST, "stream": True}, "fake-text", ctx(client_headers=CLIENT)), [])
    finally:
        await made.aclose()
    assert len(up.requests) == 2
    for seen in up.requests:
        assert seen.headers["x-portkey-provider"] == "anthropic"
        assert seen.headers["http-referer"] == "https://example.org"
        assert seen.headers["x-portkey-trace-id"] == "trace-1"
        assert seen.headers["x-portkey-metadata"] == "{}"
        assert seen.headers["x-other"] == "not listed"  # "*" forwards any header that is not an auth header
        assert "client-secret" not in repr(seen.headers), "a glob never forwards an auth header"
        assert "cookie" not in seen.headers and "x-bf-vk" not in seen.headers
        assert seen.headers["content-length"] != "999"
        assert seen.headers["content-type"] == "application/json"


async def test_auth_header_forwarded_only_when_named(anthropic_upstream: FakeAnthropic) -> None:
    made = make("anthropic", anthropic_upstream, api_keys=(), forward_headers=("x-api-key",))
    try:
        await made.create_message(REQUEST, "m", ctx(client_headers=CLIENT))
    finally:
        await made.aclose()
    seen = anthropic_upstream.requests[0].headers
    assert seen["x-api-key"] == "client-secret"  # named exactly: the client's own key goes upstream
    assert "authorization" not in seen and "x-portkey-trace-id" not in seen


async def test_fixed_headers_override_protocol_headers_and_the_key_is_set_last(
    anthropic_upstream: FakeAnthropic,
) -> None:
    made = make(
        "anthropic",
        anthropic_upstream,
        headers={"anthropic-version": "2099-01-01", "x-api-key": "fixed"},
        forward_headers=("anthropic-version",),
    )
    try:
        await made.create_message(REQUEST, "m", ctx(client_headers={"anthropic-version": "2000-01-01"}))
    finally:
        await made.aclose()
    seen = anthropic_upstream.requests[0].headers
    assert seen["anthropic-version"] == "2099-01-01"
    assert seen["x-api-key"] == "key-1"  # api_keys win over a fixed header of the same name


@pytest.mark.parametrize("kind", KINDS)
async def test_explicit_proxy_with_credentials(
    kind: str, anthropic_upstream: FakeAnthropic, openai_upstream: FakeOpenAI
) -> None:
    up = upstream(kind, anthropic_upstream, openai_upstream)
    guarded = FakeProxy(require_auth="Basic " + base64.b64encode(b"user:p@ss").decode())
    await guarded.start()
    proxy_url = f"http://user:p%40ss@127.0.0.1:{guarded.port}"
    made = make(kind, up, proxy=proxy_url)
    try:
        message = await made.create_message(REQUEST, "fake-text", ctx())
        events = await collect(made.stream_message({**REQUEST, "stream": True}, "fake-text", ctx()), [])
    finally:
        await made.aclose()
        await guarded.stop()
    assert message["type"] == "message" and events[-1].event == "message_stop"
    path = "/v1/messages" if kind == "anthropic" else "/v1/chat/completions"
    assert [(p.method, p.target) for p in guarded.passed] == [("POST", up.url + path)] * 2
    assert len(up.requests) == 2
    assert all("proxy-authorization" not in r.headers for r in up.requests), "the proxy's credentials stop there"


async def test_env_proxy_and_no_proxy(
    anthropic_upstream: FakeAnthropic, proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url)
    through = make("anthropic", anthropic_upstream, proxy="env")
    direct = make("anthropic", anthropic_upstream)  # no proxy key: the environment is not read
    try:
        await through.create_message(REQUEST, "m", ctx())
        await direct.create_message(REQUEST, "m", ctx())
        assert len(proxy.passed) == 1 and len(anthropic_upstream.requests) == 2
        monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
        bypassing = make("anthropic", anthropic_upstream, proxy="env")
        try:
            await bypassing.create_message(REQUEST, "m", ctx())
        finally:
            await bypassing.aclose()
    finally:
        await through.aclose()
        await direct.aclose()
    assert len(proxy.passed) == 1, "NO_PROXY sent the call direct"
    assert len(anthropic_upstream.requests) == 3


async def test_https_upstream_is_tunnelled_with_connect(proxy: FakeProxy) -> None:
    """The proxy sees CONNECT host:port and the upstream sees the TLS handshake through the tunnel
    (it answers plain HTTP there, so the handshake then fails: a 502 naming TLS)."""
    hello = asyncio.get_running_loop().create_future()

    async def tls_port(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(1)
        if not hello.done():
            hello.set_result(data)
        writer.write(b"HTTP/1.1 400 Not TLS\r\ncontent-length: 0\r\n\r\n")  # not a TLS record
        await writer.drain()
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(tls_port, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    made = anthropic.create(config(f"https://127.0.0.1:{port}", "anthropic", proxy=proxy.url, max_retries=0))
    try:
        with pytest.raises(UpstreamError) as info:
            await made.create_message(REQUEST, "m", ctx())
    finally:
        await made.aclose()
        server.close()
    assert [(p.method, p.target) for p in proxy.passed] == [("CONNECT", f"127.0.0.1:{port}")]
    assert await asyncio.wait_for(hello, 2) == b"\x16"  # a TLS record: the ClientHello came through
    assert info.value.status_code == 502 and "TLS" in info.value.message
