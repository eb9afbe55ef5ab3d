"""Schemathesis over the whole spec, in process: examples, coverage and fuzzing phases, every
check except ignored_auth (a false positive with OR-combined schemes).

The schema is the test-time copy of the bundled spec (specgate.fuzz.cases.schemathesis_spec), so the
``data`` of every Server-Sent Event is parsed and validated too, and the cross-field rules come
from specgate.fuzz.cases — the same module ``make fuzz`` loads into the schemathesis CLI.

Responses are validated twice: connexion's response validation is on in the app under test (a
response that breaks the spec becomes a 500, which ``not_a_server_error`` reports), and
schemathesis validates every JSON body and SSE event itself. connexion does not validate
streams, so SSE events are checked by schemathesis only. The broken-handler tests turn
connexion's validation off to see schemathesis's own, more precise, report.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

from providers.registry import provider_types
from specgate.app import create_app, served_document
from specgate.contract import spec
from specgate.core.config import parse_config
from specgate.fuzz.cases import keep_case, operations_config, schemathesis_spec
from tests.support import faulty

KEY = "sk-contract"
AUTH = {"x-api-key": KEY}
CONFIG = {
    "auth": {"api_keys": [KEY]},
    "providers": [{"name": "echo", "type": "echo"}, {"name": "faulty", "type": "faulty"}],
    "models": [{"match": "cut-*", "provider": "faulty"}, {"match": "*", "provider": "echo"}],
}


def contract_settings() -> Any:
    types = {**provider_types(), "faulty": faulty.create}
    return parse_config(CONFIG, source="contract.yaml", known_provider_types=tuple(types))


def make_app(spec_dir: Path | None = None, *, validate_responses: bool = True) -> Any:
    types = {**provider_types(), "faulty": faulty.create}
    return create_app(
        contract_settings(), spec_dir=spec_dir, provider_types=types, validate_responses=validate_responses
    )


def contract_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"ignored_auth": {"enabled": False}},
            "generation": {"mode": "all", "max-examples": 20},
            "operations": operations_config(),
        }
    )


def contract_schema(app: Any, spec_dir: Path | None = None) -> Any:
    document = served_document(contract_settings(), spec_dir)  # as the app under test serves it
    schema = schemathesis.openapi.from_dict(schemathesis_spec(document), config=contract_config())
    schema.app = app

    @schema.hook("filter_case")
    def cross_field_rules(context: Any, case: Any) -> bool:
        return keep_case(case)

    return schema


schema = contract_schema(make_app())


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_contract(case: Any) -> None:
    case.call_and_validate(headers=AUTH)


def request_body(model: str, text: str = "Hello, contract") -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize("path", ["/v1/messages", "/api/v1/messages"])
@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "cut-2"])
def test_every_sse_event_passes_the_content_schema(path: str, model: str) -> None:
    """A whole stream (the platform one ends with `data: [DONE]`, not JSON) and a stream cut by an
    error after it started (`event: error`, or the envelope error chunk) pass every check."""
    case = schema[path]["POST"].Case(body=request_body(model), headers={"content-type": "application/json"})
    response = case.call_and_validate(headers=AUTH)
    assert response.headers["content-type"][0].startswith("text/event-stream")
    text = response.text
    assert ("[DONE]" in text) == (path == "/api/v1/messages" and model != "cut-2")
    error_marker = '"success":false' if path == "/api/v1/messages" else "event: error"
    assert (error_marker in text) == (model == "cut-2")


def broken_spec(tmp_path: Path, operation_id: str, handler: str) -> Path:
    spec_dir = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), spec_dir)
    paths = spec_dir / "paths" / "messages.yaml"
    text = paths.read_text()
    assert f"operationId: {operation_id}\n" in text
    paths.write_text(text.replace(f"operationId: {operation_id}\n", f"operationId: tests.support.broken.{handler}\n"))
    return spec_dir


def failures_of(run: Any) -> str:
    with pytest.raises(BaseException) as info:  # schemathesis raises a FailureGroup (BaseExceptionGroup)
        run()
    found = getattr(info.value, "exceptions", (info.value,))
    return " | ".join(f"{type(f).__name__}: {f}" for f in found)


@pytest.mark.parametrize(
    ("validate_responses", "expected"), [(False, "Response violates schema"), (True, "Server error")]
)
def test_contract_fails_on_a_broken_handler(tmp_path: Path, validate_responses: bool, expected: str) -> None:
    """The same contract run must fail when a handler drifts from the spec: schemathesis sees the
    bad body itself, or (connexion's response validation on) the 500 it becomes."""
    spec_dir = broken_spec(tmp_path, "createMessage", "create_message")
    broken = contract_schema(make_app(spec_dir, validate_responses=validate_responses), spec_dir)
    operation = broken["/v1/messages"]["POST"]

    @given(case=operation.as_strategy())
    @settings(max_examples=10, suppress_health_check=list(HealthCheck), deadline=None, database=None)
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH)

    assert expected in failures_of(run)


@pytest.mark.parametrize(
    ("path", "operation_id", "handler"),
    [
        ("/v1/messages", "createMessage", "create_message_bad_event"),
        ("/api/v1/messages", "platformCreateMessage", "platform_create_message_bad_chunk"),
    ],
)
def test_contract_fails_on_a_bad_sse_payload(tmp_path: Path, path: str, operation_id: str, handler: str) -> None:
    """SSE payloads are checked: an event whose `data` breaks its content schema fails the run."""
    spec_dir = broken_spec(tmp_path, operation_id, handler)
    broken = contract_schema(make_app(spec_dir), spec_dir)
    case = broken[path]["POST"].Case(
        body=request_body("claude-sonnet-4-5"), headers={"content-type": "application/json"}
    )
    report = failures_of(lambda: case.call_and_validate(headers=AUTH))
    assert "SSE event" in report, report
    if path == "/v1/messages":
        assert "SSE event payload violates content schema" in report and 'Event #0: {"type":"message_start"}' in report
    else:  # the chunk is one branch of a oneOf with the [DONE] literal
        assert "is not valid under any of the schemas listed in the 'oneOf' keyword" in report
