"""Upstream faults are blamed on the gateway and told without internals (``providers.faults``):
every upstream status for both provider types, as raw HTTP (JSON and before a stream's first
event), a connection refused, a reset and a broken chunked encoding mid-stream; the client's
message names the provider and the kind of failure, the warning log carries the detail."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, anthropic_error
from tests.fakes.openai_upstream import FakeOpenAI, openai_error
from tests.fakes.server import Cut, FakeServer, Garble, Reply
from tests.handlers.upstreams import CLIENT_KEY, config
from tests.support.ports import free_port
from tests.support.sse import parse_frames

MODEL = {"ant": "ant-model", "oai": "oai-text"}
HI: dict[str, Any] = {"max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
NO_RETRIES = {"max_retries": 0}
HTML = b"<html><body><h1>500 Internal Server Error</h1><hr>nginx/1.25 at 10.9.8.7:8443</body></html>"
TYPE_BY_STATUS = {
    400: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Row:
    status: int
    body: str  # "documented": the provider's error format; "html", "text" or "json": foreign
    client_status: int
    client_type: str
    message: str  # exact; {name} is the provider; "UPSTREAM" is the upstream's own message


ROWS = [
    Row(400, "documented", 400, "invalid_request_error", "UPSTREAM"),
    Row(400, "json", 502, "api_error", "upstream {name} answered HTTP 400 in a format it does not document"),
    Row(401, "documented", 502, "api_error", "upstream {name} refused the gateway's credentials (HTTP 401)"),
    Row(403, "html", 502, "api_error", "upstream {name} refused the gateway's credentials (HTTP 403)"),
    Row(404, "text", 502, "api_error", "upstream {name} does not serve its API at the configured base_url (HTTP 404)"),
    Row(
        404, "documented", 502, "api_error", "upstream {name} does not know the configured model or resource (HTTP 404)"
    ),
    Row(408, "text", 504, "timeout_error", "upstream {name} timed out reading the request (HTTP 408)"),
    Row(409, "documented", 502, "api_error", "upstream {name} rejected the gateway's request (HTTP 409)"),
    Row(413, "documented", 413, "request_too_large", "UPSTREAM"),
    Row(413, "html", 502, "api_error", "upstream {name} answered HTTP 413 in a format it does not document"),
    Row(422, "documented", 400, "invalid_request_error", "UPSTREAM"),
    Row(429, "documented", 429, "rate_limit_error", "UPSTREAM"),
    Row(500, "html", 500, "api_error", "upstream {name} failed (HTTP 500)"),
    Row(502, "html", 502, "api_error", "upstream {name} failed (HTTP 502)"),
    Row(503, "documented", 503, "api_error", "UPSTREAM"),
    Row(529, "documented", 529, "overloaded_error", "UPSTREAM"),
]


def upstream_reply(provider: str, row: Row) -> Reply:
    rid = {"request-id": "req_up_fault", "x-request-id": "req_up_fault"}
    if row.body == "documented":
        message = f"upstream says {row.status} about messages.0"
        if provider == "ant":
            return anthropic_error(row.status, TYPE_BY_STATUS.get(row.status, "api_error"), message, **rid)
        return openai_error(row.status, message, "invalid_request_error", **rid)
    if row.body == "html":
        return Reply(row.status, HTML, {"content-type": "text/html", **rid})
    if row.body == "text":
        return Reply(row.status, b"404: Not Found from 10.9.8.7:8443", {"content-type": "text/plain", **rid})
    return Reply(row.status, b'{"detail": "Traceback ... at 10.9.8.7:8443"}', rid)


def assert_no_internals(message: str, *ports: int) -> None:
    for leak in ("127.0.0.1", "10.9.8.7", "<", "nginx", "Traceback", "ssl:", "Connect call", "message='"):
        assert leak not in message, (leak, message)
    for port in ports:
        assert str(port) not in message, (port, message)
    assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", message), message  # no exception class name


async def post(gateway_url: str, model: str, *, stream: bool) -> tuple[int, dict[str, str], bytes]:
    body = {"model": model, "stream": stream, **HI}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.post(gateway_url + "/v1/messages", json=body, headers={"x-api-key": CLIENT_KEY}) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


def fault_records(caplog: pytest.LogCaptureFixture, request_id: str) -> list[dict[str, Any]]:
    return [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "providers.faults" and r.levelno == logging.WARNING and r.fields["request_id"] == request_id  # type: ignore[attr-defined]
    ]


def fake(provider: str, ant: FakeAnthropic, oai: FakeOpenAI) -> FakeServer:
    return ant if provider == "ant" else oai


@pytest.mark.parametrize("provider", ["ant", "oai"])
@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.status}-{r.body}")
async def test_upstream_status_as_the_client_sees_it(
    gateway_factory: Any,
    anthropic_upstream: FakeAnthropic,
    openai_upstream: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    provider: str,
    row: Row,
) -> None:
    caplog.set_level(logging.WARNING, logger="providers.faults")
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=NO_RETRIES, oai=NO_RETRIES))
    up = fake(provider, anthropic_upstream, openai_upstream)
    for stream in (False, True):  # a stream fails before its first event: an ordinary HTTP error
        up.script(upstream_reply(provider, row))
        status, headers, raw = await post(gw.url, MODEL[provider], stream=stream)
        body = json.loads(raw)
        assert (status, body["type"], body["error"]["type"]) == (row.client_status, "error", row.client_type)
        expected = row.message.format(name=repr(provider))
        if expected == "UPSTREAM":
            expected = f"upstream says {row.status} about messages.0"
        assert body["error"]["message"] == expected
        assert_no_internals(body["error"]["message"], up.port)
        assert body["request_id"] == headers["request-id"]
        assert headers["x-specgate-upstream-request-id"] == "req_up_fault"
        [logged] = fault_records(caplog, body["request_id"])
        assert (logged["provider"], logged["upstream_status"]) == (provider, row.status)
        assert logged["upstream_request_id"] == "req_up_fault"
        if row.body != "documented":  # the foreign body is in the log, not in the answer
            assert "10.9.8.7" in logged["detail"]
    assert len(up.requests) == 2  # max_retries 0: one attempt each


def closed_port() -> int:
    return free_port()  # below the ephemeral range: no outgoing connection takes it meanwhile


@pytest.mark.parametrize("provider", ["ant", "oai"])
async def test_connection_refused_names_the_provider_only(
    gateway_factory: Any, caplog: pytest.LogCaptureFixture, provider: str
) -> None:
    caplog.set_level(logging.WARNING, logger="providers.faults")
    port = closed_port()
    dead = f"http://127.0.0.1:{port}"
    gw = gateway_factory(config(dead, dead, ant=NO_RETRIES, oai=NO_RETRIES))
    for stream in (False, True):
        status, _headers, raw = await post(gw.url, MODEL[provider], stream=stream)
        body = json.loads(raw)
        assert (status, body["error"]["type"]) == (502, "api_error")
        assert body["error"]["message"] == f"could not reach upstream {provider!r} (connection refused)"
        assert_no_internals(body["error"]["message"], port)
        [logged] = fault_records(caplog, body["request_id"])
        assert str(port) in logged["detail"] and "ClientConnectorError" in logged["detail"]


@pytest.mark.parametrize("provider", ["ant", "oai"])
@pytest.mark.parametrize("step", [Cut(after=3), Garble(after=3)], ids=["reset", "bad-chunked-encoding"])
async def test_stream_broken_mid_way_names_the_provider_only(
    gateway_factory: Any,
    anthropic_upstream: FakeAnthropic,
    openai_upstream: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    provider: str,
    step: Cut | Garble,
) -> None:
    caplog.set_level(logging.WARNING, logger="providers.faults")
    fast = {"read_timeout_s": 0.5}
    gw = gateway_factory(config(anthropic_upstream.url, openai_upstream.url, ant=fast, oai=fast))
    up = fake(provider, anthropic_upstream, openai_upstream)
    up.script(step)
    status, headers, raw = await post(gw.url, MODEL[provider], stream=True)
    assert status == 200
    frames = [(name, json.loads(data)) for name, data in parse_frames(raw)]
    assert frames[0][0] == "message_start" and frames[-1][0] == "error"
    error = frames[-1][1]["error"]
    cut = (
        f"upstream {provider!r} stream ended prematurely: the response body was cut off or badly encoded",
        "api_error",
    )
    # aiohttp's parser may stop at a chunk size that is not hex and wait: the read timeout ends it
    stalled = (f"upstream {provider!r} stream stalled or passed the deadline", "timeout_error")
    assert (error["message"], error["type"]) in ([cut] if isinstance(step, Cut) else [cut, stalled])
    assert_no_internals(error["message"], up.port)
    [logged] = fault_records(caplog, headers["request-id"])
    assert logged["upstream_status"] == 200
    assert ("TransferEncodingError" if error["type"] == "api_error" else "TimeoutError") in logged["detail"]
