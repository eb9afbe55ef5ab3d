"""`specgate routes`: one row per operation; non-zero when the spec and the handlers disagree."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from specgate.cli import main
from specgate.contract import spec


def routes(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[list[str]], str]:
    code = main(["routes", *args])
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()]
    return code, rows, err


def test_every_operation_with_method_path_handler_and_security(capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, err = routes(capsys)
    assert code == 0 and err == ""
    assert rows[0] == ["METHOD", "PATH", "OPERATION", "HANDLER", "SECURITY"]
    by_id = {row[2]: row for row in rows[1:]}
    assert set(by_id) == {op.operation_id for op in spec.operations(spec.bundle())}
    assert by_id["createMessage"][:4] == ["POST", "/v1/messages", "createMessage", "handlers.messages.create_message"]
    assert " ".join(by_id["createMessage"][4:]) == "ApiKeyAuth, BearerAuth, BasicAuth, VirtualKeyAuth"
    assert by_id["getHealthz"] == ["GET", "/healthz", "getHealthz", "handlers.system.get_healthz", "none"]
    assert by_id["getVersion"][:4] == ["GET", "/v1/version", "getVersion", "handlers.version.get_version"]


def test_an_operation_without_a_handler_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_dir = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), spec_dir)
    path = spec_dir / "paths" / "version.yaml"
    path.write_text(path.read_text().replace("operationId: getVersion\n", "operationId: getVersionInfo\n"))
    code, rows, err = routes(capsys, "--spec-dir", str(spec_dir))
    assert code == 1
    assert rows[-1][:4] == ["GET", "/v1/version", "getVersionInfo", "-"]
    assert "operationId 'getVersionInfo' has no handler: define `async def get_version_info(...)`" in err
    # and the handler left behind has no operation any more
    assert "handler handlers.version.get_version has no operation in the spec" in err


def test_a_handler_without_an_operation_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "orphan_handlers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "extra.py").write_text(
        textwrap.dedent(
            """
            async def get_orphan() -> None:
                return None


            async def _private_helper() -> None:  # private: not a handler
                return None


            def sync_helper() -> None:  # not a coroutine: not a handler
                return None
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, rows, err = routes(capsys, "--handlers", "handlers", "orphan_handlers")
    assert code == 1
    assert len(rows) == 1 + len(spec.operations(spec.bundle()))  # the table is still printed in full
    assert err.splitlines() == ["routes: handler orphan_handlers.extra.get_orphan has no operation in the spec"]


def test_a_spec_that_cannot_be_bundled_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_dir = tmp_path / "spec"
    shutil.copytree(spec.default_spec_dir(), spec_dir)
    (spec_dir / "paths" / "version.yaml").unlink()
    code, rows, err = routes(capsys, "--spec-dir", str(spec_dir))
    assert code == 1 and rows == []
    assert "version.yaml" in err
