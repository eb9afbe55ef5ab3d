"""spec/: bundling, validation, spec-check, and start-up failure on a missing handler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from specgate.app import create_app
from specgate.contract import spec
from specgate.contract.resolver import HandlerResolutionError, snake_case
from tests.support.process import run_module

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    target = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), target)
    return target


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("specgate", *args)


def test_bundle_is_valid_and_self_contained() -> None:
    document = spec.bundle()
    spec.validate(document)
    assert "$ref" not in str([v for v in _walk_refs(document) if not v.startswith("#/")])
    ids = {op.operation_id for op in spec.operations(document)}
    assert {
        "anthropicCreateMessage",
        "createMessage",
        "platformCreateMessage",
        "platformAnthropicCreateMessage",
    } <= ids


def _walk_refs(node: object) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return out + [r for v in node.values() for r in _walk_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _walk_refs(v)]
    return []


def test_spec_check_cli_passes() -> None:
    result = run_cli("spec-check")
    assert result.returncode == 0, result.stderr
    assert "spec-check: OK" in result.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "expect"),
    [
        (
            "schemas/messages_request.yaml",
            "      type: integer\n      minimum: 1\n",
            "      type: integr\n      minimum: 1\n",
            "integr",
        ),
        ("paths/messages.yaml", "    responses:\n", "    responses_typo:\n", "responses_typo"),
        ("components.yaml", "    in: header\n", "    in: headr\n", "headr"),
    ],
)
def test_typo_inside_a_referenced_file_fails(spec_copy: Path, file: str, old: str, new: str, expect: str) -> None:
    path = spec_copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(spec.SpecError) as info:
        spec.validate(spec.bundle(spec_copy))
    assert expect in str(info.value)
    result = run_cli("spec-check", "--spec-dir", str(spec_copy))
    assert result.returncode == 1
    assert expect in result.stderr


def test_broken_reference_names_the_file(spec_copy: Path) -> None:
    path = spec_copy / "paths" / "messages.yaml"
    path.write_text(path.read_text().replace("#/requestBodies/CreateMessage", "#/requestBodies/Nope", 1))
    with pytest.raises(spec.SpecError) as info:
        spec.bundle(spec_copy)
    assert "paths/messages.yaml" in str(info.value) and "Nope" in str(info.value)


def test_missing_handler_fails_start_up_naming_the_operation(spec_copy: Path) -> None:
    path = spec_copy / "paths" / "messages.yaml"
    path.write_text(path.read_text().replace("operationId: createMessage\n", "operationId: createMessageTypo\n"))
    with pytest.raises(HandlerResolutionError) as info:
        create_app(spec_dir=spec_copy)
    assert "createMessageTypo" in str(info.value) and "create_message_typo" in str(info.value)
    result = run_cli("spec-check", "--spec-dir", str(spec_copy))
    assert result.returncode == 1 and "createMessageTypo" in result.stderr


def test_routes_cli_lists_every_operation() -> None:
    result = run_cli("routes")
    assert result.returncode == 0, result.stderr
    for op in spec.operations(spec.bundle()):
        assert op.path in result.stdout and op.operation_id in result.stdout


@pytest.mark.parametrize(
    ("operation_id", "name"),
    [
        ("anthropicCreateMessage", "anthropic_create_message"),
        ("getHealthz", "get_healthz"),
        ("listV1Models", "list_v1_models"),
    ],
)
def test_snake_case(operation_id: str, name: str) -> None:
    assert snake_case(operation_id) == name


def _discriminated(node: object) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        own = [node] if "discriminator" in node else []
        return own + [d for v in node.values() for d in _discriminated(v)]
    if isinstance(node, list):
        return [d for v in node for d in _discriminated(v)]
    return []


def test_every_discriminator_maps_every_type_value() -> None:
    """Without an explicit mapping, a discriminator's known values are the schema names
    (`TextBlock`), and a response `{"type": "text"}` is an unknown value (schemathesis ST111)."""
    document = spec.bundle()
    schemas = document["components"]["schemas"]
    found = _discriminated(document)
    assert len(found) >= 10
    for node in found:
        mapping = node["discriminator"]["mapping"]
        tag = node["discriminator"]["propertyName"]  # `type` for blocks and tools, `role` for messages
        expected = {}
        for branch in node["oneOf"]:
            name = branch["$ref"].rsplit("/", 1)[-1]
            for value in schemas[name]["properties"][tag]["enum"]:
                expected[value] = name
        assert mapping == expected


def test_allow_header_prefers_the_most_specific_path() -> None:
    from specgate.contract.spec import Operation, allow_header

    def op(method: str, path: str) -> Operation:
        return Operation(method, path, "x", (), {})

    allow = allow_header(
        [op("POST", "/m/batches"), op("GET", "/m/batches"), op("POST", "/m/{path}"), op("DELETE", "/m/batches/{id}")]
    )
    assert allow("/m/batches") == "GET, HEAD, POST"
    assert allow("/m/other") == "POST"
    assert allow("/m/batches/b1") == "DELETE"
    assert allow("/elsewhere") is None
