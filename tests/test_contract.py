"""Schemathesis over the whole spec, in process: examples, coverage and fuzzing phases, every
check except ignored_auth (a false positive with OR-combined schemes)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from providers.registry import provider_types
from specgate.app import create_app
from specgate.config import parse_config

KEY = "sk-contract"
AUTH = {"x-api-key": KEY}


def make_app() -> Any:
    config = parse_config(
        {"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]},
        source="contract.yaml",
        known_provider_types=tuple(provider_types()),
    )
    return create_app(config, validate_responses=False)


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
            "generation": {"mode": "all", "max-examples": 40},
        }
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(), config=contract_config())


@schema.hook("filter_case")
def semantic_rules(context: Any, case: Any) -> bool:
    """Valid-by-schema requests the real API still rejects (cross-field rules no schema can say)."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return True
    query = case.query or {}
    if query.get("before_id") is not None and query.get("after_id") is not None:
        return False
    if not isinstance(case.body, dict):
        return True
    body = case.body
    headers = case.headers or {}
    if headers.get("x-bf-async") is not None and body.get("stream") is True:
        return False  # async jobs do not stream (400 naming stream)
    requests = body.get("requests")
    if isinstance(requests, list):  # a batch: custom_ids must be unique (400 naming the duplicate)
        ids = [r.get("custom_id") for r in requests if isinstance(r, dict)]
        return len(ids) == len(set(ids))
    thinking = body.get("thinking")
    max_tokens = body.get("max_tokens")
    enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
    if enabled and isinstance(max_tokens, int) and thinking.get("budget_tokens", 0) >= max_tokens:
        return False
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if choice.get("name") not in names:
            return False
    version = (case.headers or {}).get("anthropic-version")
    return not (version == "2026-10-21" and any(k in body for k in ("temperature", "top_p", "top_k")))


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_contract(case: Any) -> None:
    case.call_and_validate(headers=AUTH)


def test_contract_fails_on_a_broken_handler(tmp_path: Any) -> None:
    """The same contract run must fail when a handler drifts from the spec."""
    import shutil

    from hypothesis import given

    from specgate.spec import default_spec_dir

    spec_dir = tmp_path / "spec"
    shutil.copytree(default_spec_dir(), spec_dir)
    paths = spec_dir / "paths" / "messages.yaml"
    text = paths.read_text().replace(
        "operationId: createMessage\n", "operationId: tests.support.broken.create_message\n"
    )
    paths.write_text(text)
    config = parse_config(
        {"auth": {"api_keys": [KEY]}, "providers": [{"name": "echo", "type": "echo"}]},
        source="contract.yaml",
        known_provider_types=tuple(provider_types()),
    )
    broken = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(config, spec_dir=spec_dir), config=contract_config()
    )
    operation = broken["/v1/messages"]["POST"]

    @given(case=operation.as_strategy())
    @settings(max_examples=10, suppress_health_check=list(HealthCheck), deadline=None, database=None)
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH)

    with pytest.raises(BaseException) as info:  # schemathesis raises a FailureGroup (BaseExceptionGroup)
        run()
    failures = getattr(info.value, "exceptions", (info.value,))
    assert any("Response violates schema" in f"{type(f).__name__} {f}" for f in failures), failures
