"""The request log: fields, bodies only on request, both formats, and the logging config keys."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from providers.registry import provider_types
from specgate.core.config import ConfigError, parse_config
from specgate.ops.logs import JsonFormatter, TextFormatter, logging_config
from tests.support.http import request

KEY = "sk-log-secret-91b2"
PROMPT = "my very private prompt"


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The request log lines (written just after a response's last byte: wait a moment for it)."""
    deadline = time.monotonic() + 5
    while not any(r.name == "specgate.access" for r in caplog.records) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [r for r in caplog.records if r.name == "specgate.access"]


def config(log_bodies: bool) -> dict[str, Any]:
    return {
        "auth": {"api_keys": [KEY]},
        "providers": [{"name": "echo", "type": "echo"}],
        "logging": {"level": "debug", "log_bodies": log_bodies},
    }


def send(url: str) -> Any:
    body = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": PROMPT}]}
    return request(url + "/v1/messages", body=body, headers={"x-api-key": KEY})


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_request_log_never_holds_bodies_or_keys_by_default(
    gateway_factory: Any, caplog: pytest.LogCaptureFixture, formatter: logging.Formatter
) -> None:
    gw = gateway_factory(config(log_bodies=False))
    with caplog.at_level(logging.DEBUG):
        reply = send(gw.url)
        records = access_records(caplog)
    assert reply.status == 200
    assert len(records) == 1
    fields: dict[str, Any] = records[0].fields  # type: ignore[attr-defined]
    assert fields["request_id"] == reply.headers["request-id"] and fields["status"] == 200
    assert "request_body" not in fields and "response_body" not in fields
    everything = "\n".join(formatter.format(r) for r in caplog.records)
    assert PROMPT not in everything and KEY not in everything
    if isinstance(formatter, JsonFormatter):
        line = json.loads(formatter.format(records[0]))
        assert line["msg"] == "request" and line["level"] == "info" and line["logger"] == "specgate.access"
        assert line["key_id"].startswith("key_") and line["input_tokens"] == reply.json()["usage"]["input_tokens"]
    else:
        assert f"request_id={reply.headers['request-id']}" in everything and "status=200" in everything


def test_log_bodies_puts_request_and_response_in_the_log(
    gateway_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gw = gateway_factory(config(log_bodies=True))
    with caplog.at_level(logging.INFO):
        reply = send(gw.url)
        fields: dict[str, Any] = access_records(caplog)[0].fields  # type: ignore[attr-defined]
    assert fields["request_body"]["messages"][0]["content"] == PROMPT
    assert json.loads(fields["response_body"]) == reply.json()
    assert KEY not in JsonFormatter().format(access_records(caplog)[0])


def test_logging_config_keys() -> None:
    types = tuple(provider_types())
    base: dict[str, Any] = {"providers": [{"name": "e", "type": "echo"}]}
    parsed = parse_config(
        {**base, "logging": {"format": "json", "log_bodies": True}}, source="c.yaml", known_provider_types=types
    )
    assert parsed.log_format == "json" and parsed.log_bodies is True
    defaults = parse_config(base, source="c.yaml", known_provider_types=types)
    assert defaults.log_format == "auto" and defaults.log_bodies is False
    with pytest.raises(ConfigError, match=r"c.yaml: logging.format: must be one of auto, json, text"):
        parse_config({**base, "logging": {"format": "xml"}}, source="c.yaml", known_provider_types=types)
    with pytest.raises(ConfigError, match=r"logging.log_bodies: must be true or false"):
        parse_config({**base, "logging": {"log_bodies": "yes"}}, source="c.yaml", known_provider_types=types)
    with pytest.raises(ConfigError, match=r"logging.bodies: unknown key"):
        parse_config({**base, "logging": {"bodies": True}}, source="c.yaml", known_provider_types=types)


def test_logging_config_picks_the_formatter() -> None:
    assert logging_config("info", "json")["formatters"]["default"]["()"] == "specgate.ops.logs.JsonFormatter"
    text = logging_config("warning", "text")
    assert text["formatters"]["default"]["()"] == "specgate.ops.logs.TextFormatter"
    assert text["root"]["level"] == "WARNING"


def test_probes_log_at_debug_only(gateway: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert request(gateway.url + "/readyz", "GET").status == 200
        records = access_records(caplog)
    assert [(r.levelno, r.fields["route"]) for r in records] == [(logging.DEBUG, "/readyz")]  # type: ignore[attr-defined]


def test_a_refused_request_logs_why_with_the_query(gateway_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    gw = gateway_factory(config(log_bodies=False))
    long_text = PROMPT * 10  # a quoted value this long is client text: never logged
    cases = [
        # (path with query, body, status, error_type, the message's start)
        (
            "/v1/messages?beta=true",
            {"model": "m", "messages": []},
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
        (
            "/v1/messages?beta=true&api_key=" + KEY,
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": long_text}]}]},
            400,
            "invalid_request_error",
            "messages.0.content.0.type: Input tag '<220 characters>' found using 'type'",
        ),
        ("/v1/messages/nope", {"model": "m"}, 404, "not_found_error", ""),
        (
            "/api/v1/messages",
            {"model": "m", "messages": []},
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
    ]
    for path, payload, status, error_type, start in cases:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            reply = request(gw.url + path, body=payload, headers={"x-api-key": KEY})
            records = access_records(caplog)
        assert reply.status == status, reply.body
        assert len(records) == 1 and records[0].levelno == logging.INFO
        fields: dict[str, Any] = records[0].fields  # type: ignore[attr-defined]
        assert fields["status"] == status and fields["error_type"] == error_type
        assert fields["error_message"].startswith(start) and len(fields["error_message"]) <= 200
        assert fields.get("query") == (path.partition("?")[2].replace(KEY, "<redacted>") or None)
        line = JsonFormatter().format(records[0]) + TextFormatter().format(records[0])
        assert KEY not in line and PROMPT not in line
    caplog.clear()
    with caplog.at_level(logging.INFO):
        reply = request(gw.url + "/v1/messages", body={"model": "m", "max_tokens": 5, "messages": []})  # no key
        fields = access_records(caplog)[0].fields  # type: ignore[attr-defined]
    assert reply.status == 401 and fields["error_type"] == "authentication_error" and fields["error_message"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert send(gw.url).status == 200
        fields = access_records(caplog)[0].fields  # type: ignore[attr-defined]
    assert "error_type" not in fields and "error_message" not in fields and "query" not in fields


@pytest.mark.parametrize(
    ("message", "logged"),
    [
        ("max_tokens: Field required", "max_tokens: Field required"),
        ("'" + "x y " * 40 + "' is not valid", "'<160 characters>' is not valid"),
        ('a "short" value', 'a "short" value'),
        (
            "Incorrect API key provided: sk-proj-abcdef123456. Check it",
            "Incorrect API key provided: <redacted> Check it",
        ),
        ("line one\nline two", "line one line two"),
        ("word " * 60, ("word " * 60).strip()[:199] + "…"),
    ],
)
def test_error_messages_are_shortened_for_the_log(message: str, logged: str) -> None:
    from specgate.wire.observe import short_message

    assert short_message(message) == logged
