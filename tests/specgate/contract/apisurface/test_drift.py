"""spec/ against the installed official SDK: every request it can build is accepted, every
unknown key refused, every header-borne param declared, and the generated schema file current.

When a new SDK adds a field, a block type or a tool type, these tests fail and name it (the
same list as ``make api-diff``); ``make api-sync`` then regenerates the schemas.
"""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest

from specgate.contract import spec
from specgate.contract.apisurface.__main__ import GENERATED, generated_text
from specgate.contract.apisurface.diff import Gap, gaps, header_gaps
from specgate.contract.apisurface.sdk import Surface, header_fields, operations


@pytest.fixture(scope="module")
def headers() -> dict[str, str]:
    return header_fields()


@pytest.fixture(scope="module")
def found(headers: dict[str, str]) -> list[Gap]:
    return gaps(spec.bundle(), headers)


def _report(items: list[Gap]) -> str:
    return "\n".join(g.line() for g in items[:50]) + (f"\n… and {len(items) - 50} more" if len(items) > 50 else "")


def test_the_pinned_sdk_is_installed() -> None:
    # The anchor: the newest SDK of the 2.x line the project pins (pyproject's dev extra).
    assert metadata.version("anthropic").startswith("2.")


def test_spec_accepts_every_request_the_sdk_can_build(found: list[Gap]) -> None:
    refused = [g for g in found if g.kind == "refused"]
    assert not refused, "spec/ refuses requests the SDK builds (run `make api-diff`):\n" + _report(refused)


def test_spec_refuses_unknown_keys_in_every_strict_object(found: list[Gap]) -> None:
    lenient = [g for g in found if g.kind == "lenient"]
    assert not lenient, "spec/ takes unknown keys the API refuses:\n" + _report(lenient)


def test_the_sdk_surface_is_covered_in_full(headers: dict[str, str]) -> None:
    """The cases reach what the issue names: new top-level fields, system messages, new blocks
    and tool types (so a silent gap in the case builder cannot make the tests above vacuous)."""
    surface = Surface()
    ops = {op.name: op for op in operations(surface)}
    top = set(ops["create"].beta) | set(ops["create"].ga)
    for name in ("context_management", "mcp_servers", "output_config", "compaction", "diagnostics", "container"):
        assert name in top
    assert {"workspace_id", "user_profile_id", "betas"} <= set(headers)
    names = set(surface.objects)
    for expected in ("SystemMessageParam", "ContainerUploadBlockParam", "BrowserToolset20260801Param"):
        assert expected in names


def test_header_params_are_declared(headers: dict[str, str]) -> None:
    assert header_gaps(spec.bundle(), headers) == []


def test_the_generated_schemas_are_current() -> None:
    current = (spec.default_spec_dir() / GENERATED).read_text(encoding="utf-8")
    assert current == generated_text(spec.default_spec_dir()), (
        f"spec/{GENERATED} is not what `make api-sync` writes from the installed SDK and the overlay"
    )


def test_a_missing_field_is_named(tmp_path: Path, headers: dict[str, str]) -> None:
    """The check can fail: drop `context_management` and one block type from a copy of spec/."""
    copy = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), copy)
    target = copy / GENERATED
    text = target.read_text(encoding="utf-8")
    text = text.replace("    context_management:\n", "    context_management_gone:\n", 1)
    text = re.sub(
        r"\n +(container_upload: ContainerUploadBlockParam|- \$ref: '#/ContainerUploadBlockParam')(?=\n)", "", text
    )
    target.write_text(text, encoding="utf-8")
    refused = [g for g in gaps(spec.bundle(copy), headers, strict=False) if g.kind == "refused"]
    paths = {g.path for g in refused}
    assert any(p.startswith("context_management") for p in paths)
    assert any("context_management: Extra inputs are not permitted" in g.message for g in refused)
    assert any(".container_upload" in p for p in paths), sorted(paths)[:20]


def test_an_unknown_key_let_through_is_named(tmp_path: Path, headers: dict[str, str]) -> None:
    copy = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), copy)
    target = copy / GENERATED
    text = target.read_text(encoding="utf-8")
    start = text.index("\nTextBlockParam:\n")
    text = text[:start] + text[start:].replace("  additionalProperties: false\n", "", 1)
    target.write_text(text, encoding="utf-8")
    lenient = [g for g in gaps(spec.bundle(copy), headers) if g.kind == "lenient"]
    assert any(g.path.endswith(".text.zz_not_a_field") for g in lenient)


def test_make_api_diff_and_sync_check_pass(capsys: pytest.CaptureFixture[str]) -> None:
    """The contributor commands (`make api-diff`, `python -m specgate.contract.apisurface sync --check`)."""
    from specgate.contract.apisurface.__main__ import main

    assert main(["diff"]) == 0
    assert "api-diff: 0 gaps between spec/ and the installed SDK" in capsys.readouterr().out
    assert main(["sync", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
